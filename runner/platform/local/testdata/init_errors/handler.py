def handler(event, context):
    return "this module has a handler, but not the one configured"
