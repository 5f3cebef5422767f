# Burns event["cpu_ms"] milliseconds of CPU time, or a fixed pure-Python
# loop when event["loop"] is set, single-threaded.
import time


def handler(event, context):
    if "loop" in event:
        total = 0
        for i in range(event["loop"]):
            total += i * i % 7
        return total
    end = time.process_time() + event["cpu_ms"] / 1000
    while time.process_time() < end:
        pass
    return "done"
