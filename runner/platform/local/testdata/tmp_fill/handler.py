# Writes event["mb"] MiB to /tmp/fill, and reports what /tmp holds: the
# function of the ephemeral storage tests. event["marker"] is written to
# /tmp/marker after what an earlier call left there is read.
import os


def handler(event, context):
    found = None
    try:
        with open("/tmp/marker") as f:
            found = f.read()
    except FileNotFoundError:
        pass
    if "marker" in event:
        with open("/tmp/marker", "w") as f:
            f.write(event["marker"])
    written = 0
    if event.get("mb"):
        chunk = b"x" * (1 << 20)
        try:
            with open("/tmp/fill", "wb") as f:
                for _ in range(event["mb"]):
                    f.write(chunk)
                    written += 1
        finally:
            # Free the space for later calls, also after ENOSPC.
            if os.path.exists("/tmp/fill"):
                os.remove("/tmp/fill")
    st = os.statvfs("/tmp")
    return {
        "written_mb": written,
        "found": found,
        "entries": sorted(os.listdir("/tmp")),
        "size_mb": st.f_blocks * st.f_frsize >> 20,
        "free_mb": st.f_bavail * st.f_frsize >> 20,
    }
