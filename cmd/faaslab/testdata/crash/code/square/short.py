import math


def handler(event, context):
    return {"square": int(math.pow(event["x"], 2))}
