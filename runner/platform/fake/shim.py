"""The fake platform's start-up shim: not a sandbox.

It runs on the host, before faaslab's bootstrap, in the same process as the
function. It gives every execution environment a /tmp of its own by
rewriting paths under /tmp, in the functions of os and in open, to the
environment's own directory (argv[2]); then it runs the bootstrap
(argv[1]/faaslab_bootstrap.py) as __main__. Code that reaches the file
system another way (os.open with dir_fd, a subprocess, ctypes) sees the
host's /tmp. That is why the fake runs only the tests' own trusted code.
"""

import builtins
import io
import os
import runpy
import sys

_runtime_dir, _tmp = sys.argv[1], sys.argv[2]
del sys.argv[1:]
_tmp_bytes = os.fsencode(_tmp)


def _map(path):
    if isinstance(path, int):
        return path
    try:
        text = os.fspath(path)
    except TypeError:
        return path
    if isinstance(text, bytes):
        if text == b"/tmp" or text.startswith(b"/tmp/"):
            return _tmp_bytes + text[4:]
        return path
    if text == "/tmp" or text.startswith("/tmp/"):
        return _tmp + text[4:]
    return path


def _one(f):
    def mapped(*args, **kwargs):
        if args:
            args = (_map(args[0]),) + args[1:]
        return f(*args, **kwargs)
    mapped.__name__ = f.__name__
    mapped.__doc__ = f.__doc__
    return mapped


def _two(f):
    def mapped(src, dst, *args, **kwargs):
        return f(_map(src), _map(dst), *args, **kwargs)
    mapped.__name__ = f.__name__
    mapped.__doc__ = f.__doc__
    return mapped


for _name in ("open", "stat", "lstat", "remove", "unlink", "mkdir", "rmdir", "listdir",
              "scandir", "access", "chmod", "utime", "truncate", "chdir", "readlink"):
    if hasattr(os, _name):
        setattr(os, _name, _one(getattr(os, _name)))
for _name in ("rename", "replace", "link", "symlink"):
    if hasattr(os, _name):
        setattr(os, _name, _two(getattr(os, _name)))
builtins.open = io.open = _one(io.open)

# A function given object storage finds it at AWS_ENDPOINT_URL_S3. SDKs
# older than that variable (Debian 12's botocore 1.29) ignore it; the local
# sandbox then answers at S3's own names, which a host process cannot, so
# the fake points such a botocore's S3 clients at the endpoint itself.
_s3 = os.environ.get("AWS_ENDPOINT_URL_S3")
if _s3:
    try:
        import botocore.session as _bs
    except ImportError:
        _bs = None
    if _bs is not None:
        _create = _bs.Session.create_client

        def _create_client(self, service_name, *args, **kwargs):
            # endpoint_url is create_client's fifth positional parameter,
            # after region_name, api_version, use_ssl and verify.
            if service_name == "s3" and not kwargs.get("endpoint_url") and not (len(args) >= 5 and args[4]):
                kwargs["endpoint_url"] = _s3
            return _create(self, service_name, *args, **kwargs)

        _bs.Session.create_client = _create_client

runpy.run_path(os.path.join(_runtime_dir, "faaslab_bootstrap.py"), run_name="__main__")
