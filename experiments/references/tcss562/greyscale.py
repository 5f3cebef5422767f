"""Reference stage "greyscale" of the TCSS 562 image pipeline: convert the image to 8-bit greyscale (PNG).

Triggered by an S3 ObjectCreated event; reads the object with boto3 and
writes its output to s3://$OUTPUT_BUCKET/$OUTPUT_PREFIX<file name>, where
<file name> is the input's with the extension of the output's format.
"""
import io
import os
import posixpath
import urllib.parse

import boto3
from PIL import Image

s3 = boto3.client("s3")


def handler(event, context):
    record = event["Records"][0]["s3"]
    bucket = record["bucket"]["name"]
    key = urllib.parse.unquote_plus(record["object"]["key"])
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with Image.open(io.BytesIO(body)) as img:
        out = img.convert("L")
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    stem = posixpath.splitext(posixpath.basename(key))[0]
    out_key = os.environ["OUTPUT_PREFIX"] + stem + ".png"
    s3.put_object(Bucket=os.environ["OUTPUT_BUCKET"], Key=out_key, Body=buf.getvalue())
    return {"bucket": os.environ["OUTPUT_BUCKET"], "key": out_key, "width": out.width, "height": out.height}
