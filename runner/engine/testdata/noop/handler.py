# A function that does nothing: the peer of a no-op pipeline stage.
def handler(event, context):
    return {}
