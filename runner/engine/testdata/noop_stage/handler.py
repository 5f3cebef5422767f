# A pipeline stage that does nothing but the hand-off: it reads its input
# object and writes it unchanged under $OUTPUT_PREFIX, as every stage must.
import os
import posixpath
import urllib.parse

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    obj = event["Records"][0]["s3"]
    key = urllib.parse.unquote_plus(obj["object"]["key"])
    body = s3.get_object(Bucket=obj["bucket"]["name"], Key=key)["Body"].read()
    out = os.environ["OUTPUT_PREFIX"] + posixpath.basename(key)
    s3.put_object(Bucket=os.environ["OUTPUT_BUCKET"], Key=out, Body=body)
    return {"key": out}
