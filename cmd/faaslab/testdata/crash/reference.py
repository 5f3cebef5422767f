def handler(event, context):
    return {"square": event["x"] * event["x"]}
