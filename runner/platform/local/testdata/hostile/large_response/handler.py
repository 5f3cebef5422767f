# Returns more than Lambda's 6 MB response limit, then (on the second call)
# something small.
calls = 0


def handler(event, context):
    global calls
    calls += 1
    if calls == 1:
        return "x" * (7 << 20)
    return calls
