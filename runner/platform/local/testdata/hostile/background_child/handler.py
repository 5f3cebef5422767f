# Leaves work running after it returns: a busy child process that writes to
# stdout, a detached grandchild in its own session, and a thread. They must
# die with the container.
import os
import subprocess
import sys
import threading

started = []


def spin():
    while True:
        pass


def handler(event, context):
    if not started:
        child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True:\n    print('background', flush=True)\n    time.sleep(0.01)"])
        grandchild = subprocess.Popen(["/bin/sh", "-c", "sleep 600 & echo $!"], stdout=subprocess.PIPE, start_new_session=True)
        threading.Thread(target=spin, daemon=True).start()
        started.append((child.pid, grandchild.stdout.readline().decode().strip()))
    return {"children": started[0], "pid": os.getpid()}
