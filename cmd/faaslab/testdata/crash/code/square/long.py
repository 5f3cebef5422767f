def handler(event, context):
    x = event["x"]
    return {"square": x ** 2}
