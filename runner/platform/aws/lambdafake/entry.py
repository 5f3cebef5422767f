"""The fake Lambda server's entry point (a test fake): not part of any function.

faaslab's fake platform runs this module as the handler. At import it sets
the function's configured environment (LAMBDAFAKE_ENV, JSON) and Lambda's
own variables (LAMBDAFAKE_RUNTIME_ENV, JSON), and imports
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

# The function's configured variables, then those Lambda sets itself (the
# role's credentials, the region), which the function cannot override.
# The fake passes the latter here rather than in the process's own
# environment so that the fake platform's shim, which runs first, does
# not import botocore for every function.
_runtime_env = json.loads(os.environ.pop("LAMBDAFAKE_RUNTIME_ENV", "{}"))
os.environ.update(json.loads(os.environ.pop("LAMBDAFAKE_ENV", "{}")))
os.environ.update(_runtime_env)

# The fake gives functions its S3 endpoint in AWS_ENDPOINT_URL_S3. SDKs
# older than that variable (Debian 12's botocore 1.29) ignore it and
# would reach the real S3 with the fake's credentials, so the fake points
# such a botocore's S3 clients at the endpoint itself, when the function
# first imports botocore (importing it here would slow every cold start).
# Newer botocores honour the variable; for them this changes nothing.
_s3 = os.environ.get("AWS_ENDPOINT_URL_S3")


def _patch_botocore(session_module):
    create = session_module.Session.create_client

    def create_client(self, service_name, *args, **kwargs):
        # endpoint_url is create_client's fifth parameter after
        # service_name (region_name, api_version, use_ssl, verify).
        if service_name == "s3" and not kwargs.get("endpoint_url") and not (len(args) >= 5 and args[4]):
            kwargs["endpoint_url"] = _s3
        return create(self, service_name, *args, **kwargs)

    session_module.Session.create_client = create_client


class _BotocoreFinder:
    """Patches botocore.session as it is first imported."""

    def find_spec(self, name, path=None, target=None):
        if name != "botocore.session":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _patch_botocore(module)

        spec.loader.exec_module = exec_module
        return spec


if _s3:
    if "botocore.session" in sys.modules:
        _patch_botocore(sys.modules["botocore.session"])
    else:
        sys.meta_path.insert(0, _BotocoreFinder())

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
