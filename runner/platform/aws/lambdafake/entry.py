"""The fake Lambda server's entry point (a test fake): not part of any function.

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

# The fake gives functions its S3 endpoint in AWS_ENDPOINT_URL_S3. SDKs
# older than that variable (Debian 12's botocore 1.29) ignore it and
# would reach the real S3 with the fake's credentials, so the fake points
# such a botocore's S3 clients at the endpoint itself (the fake platform's
# shim does the same for its own endpoint). Newer botocores honour the
# variable; for them this changes nothing.
_s3 = os.environ.get("AWS_ENDPOINT_URL_S3")
if _s3:
    try:
        import botocore.session as _bs
    except ImportError:
        _bs = None
    if _bs is not None:
        _create = _bs.Session.create_client

        def _create_client(self, service_name, *args, **kwargs):
            # endpoint_url is create_client's fifth parameter after
            # service_name (region_name, api_version, use_ssl, verify).
            if service_name == "s3" and not kwargs.get("endpoint_url") and not (len(args) >= 5 and args[4]):
                kwargs["endpoint_url"] = _s3
            return _create(self, service_name, *args, **kwargs)

        _bs.Session.create_client = _create_client
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
