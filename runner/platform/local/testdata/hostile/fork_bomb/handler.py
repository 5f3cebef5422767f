# The classic fork bomb, ignoring every failure: the pids cgroup caps it,
# the timeout ends it.
import os


def handler(event, context):
    while True:
        try:
            os.fork()
        except OSError:
            pass
