# A pipeline stage's hand-off through object storage, for the benchmark:
# "noop" returns at once, "put" writes an object, "getput" reads its input
# and writes its output. The client is made at init, as stages do.
import boto3

s3 = boto3.client("s3")


def handler(event, context):
    op = event["op"]
    if op == "noop":
        return 0
    body = b"x" * event["size"]
    if op == "getput":
        body = s3.get_object(Bucket="pipe", Key="in/object")["Body"].read()
    s3.put_object(Bucket="pipe", Key="out/" + context.aws_request_id, Body=body)
    return len(body)
