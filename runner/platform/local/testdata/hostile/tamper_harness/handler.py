# Tampers at import with everything the harness uses: its modules, the JSON
# and time functions, the standard streams, the builtins.
import builtins
import io
import json
import os
import sys
import time

import __main__
import faaslab_wrapper

json.dumps = lambda *a, **k: '"forged"'
json.loads = lambda *a, **k: {"forged": True}
json.JSONEncoder.encode = lambda self, o: '"forged"'
json.JSONEncoder.iterencode = lambda self, o, _one_shot=False: iter(['"forged"'])
json.JSONDecoder.decode = lambda self, s, _w=None: {"forged": True}
time.perf_counter_ns = lambda: 0
time.time_ns = lambda: 0
os.write = lambda fd, data: len(data)
os.read = lambda fd, n: b""
os.getpid = lambda: 1
os._exit = lambda code: None
faaslab_wrapper.new = None
faaslab_wrapper.MAX_RESPONSE_BYTES = 1
faaslab_wrapper.InitError = None
for name in dir(__main__):
    if not name.startswith("__"):
        setattr(__main__, name, None)
builtins.len = lambda x: 0
builtins.min = lambda *a: 0
builtins.memoryview = None
sys.stdout = io.StringIO()
sys.stderr = io.StringIO()


def handler(event, context):
    sleep_until = time.monotonic() + 0.02
    while time.monotonic() < sleep_until:
        pass
    return {"honest": event["n"] + 1}
