"""The fake Lambda server's entry point: not part of any function.

faaslab's fake platform runs this module as the handler. At import it sets
the function's configured environment (LAMBDAFAKE_ENV, JSON) and imports
the function's own handler module from the task root under a name of its
own, because the fake platform's runtime has already imported a module
named faaslab_wrapper (its harness), which is also the name of the handler
module faaslab deploys to Lambda. An exception at import is the
function's init error, as on Lambda.
"""

import importlib.machinery
import importlib.util
import json
import os
import sys

os.environ.update(json.loads(os.environ.pop("LAMBDAFAKE_ENV", "{}")))
_spec_text = os.environ.pop("LAMBDAFAKE_HANDLER", "")
_module, _, _function = _spec_text.rpartition(".")
_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
if _root not in sys.path:
    sys.path.insert(0, _root)
# The import system's own finder, not os.path: the fake platform's shim
# maps paths under /tmp, where the code may live.
_found = importlib.machinery.PathFinder.find_spec(_module, [_root])
if _found is None or not _found.origin:
    raise ImportError("Unable to import module '%s': No module named '%s'" % (_module, _module))
_loaded = importlib.util.spec_from_file_location("lambdafake_function_" + _module.replace(".", "_"), _found.origin)
_mod = importlib.util.module_from_spec(_loaded)
sys.modules[_loaded.name] = _mod
_loaded.loader.exec_module(_mod)
_target = getattr(_mod, _function)


def handler(event, context):
    return _target(event, context)
