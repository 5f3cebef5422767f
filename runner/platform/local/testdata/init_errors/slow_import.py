import time

time.sleep(60)


def handler(event, context):
    return 1
