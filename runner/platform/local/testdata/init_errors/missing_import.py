import faaslab_no_such_module


def handler(event, context):
    return 1
