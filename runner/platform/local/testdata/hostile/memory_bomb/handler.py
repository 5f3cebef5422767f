# Touches memory 16 MiB at a time until the memory cgroup kills it.
def handler(event, context):
    hoard = []
    while True:
        hoard.append(b"x" * (16 << 20))
