# Recurses without end.
def descend(n):
    return descend(n + 1) + 1


def handler(event, context):
    return descend(0)
