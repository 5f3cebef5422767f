# Forks sleeping children until the kernel refuses, and reports how many it
# got: the pids cgroup must refuse near 1024. The children outlive the call.
import os
import time


def handler(event, context):
    children = 0
    while children < 5000:
        try:
            pid = os.fork()
        except OSError as e:
            return {"children": children, "error": str(e)}
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        children += 1
    return {"children": children, "error": ""}
