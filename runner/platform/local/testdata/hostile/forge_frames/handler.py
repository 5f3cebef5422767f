# Finds the runtime's API pipe and writes to it directly: a frame that is
# not JSON, or a response for another request.
import os


def api_fds():
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink("/proc/self/fd/" + name).startswith("pipe:") and int(name) >= 3:
                fds.append(int(name))
        except OSError:
            pass
    return fds


def frame(payload):
    return len(payload).to_bytes(4, "big") + payload


def handler(event, context):
    if "mode" not in event:
        return "clean"
    for fd in api_fds():
        try:
            if event["mode"] == "garbage":
                os.write(fd, frame(b"\xff not json"))
            elif event["mode"] == "huge":
                os.write(fd, (1 << 31).to_bytes(4, "big"))
            else:
                os.write(fd, frame(b'{"op":"response","request_id":"not-this-one","body":{"result":1}}'))
        except OSError:
            pass
    return "forged"
