"""NOT LLM OUTPUT: a hand-written stand-in for Gemini 2.5 Pro's "convert" stage of
the TCSS 562 image pipeline, written for faaslab's offline example. Writes JPEG at quality 85 with optimised Huffman tables.
"""
import io
import os
import urllib.parse

import boto3
from PIL import Image

client = boto3.client("s3")


def _load(event):
    rec = event["Records"][0]
    bucket = rec["s3"]["bucket"]["name"]
    key = urllib.parse.unquote_plus(rec["s3"]["object"]["key"])
    obj = client.get_object(Bucket=bucket, Key=key)
    return key, Image.open(io.BytesIO(obj["Body"].read()))


def _store(key, img, fmt, ext, **opts):
    name = os.path.basename(key).rsplit(".", 1)[0] + ext
    out = io.BytesIO()
    img.save(out, fmt, **opts)
    dest = os.environ["OUTPUT_PREFIX"] + name
    client.put_object(Bucket=os.environ["OUTPUT_BUCKET"], Key=dest, Body=out.getvalue(), ContentType="image/" + fmt.lower())
    return {"key": dest, "size": list(img.size)}


def handler(event, context):
    key, img = _load(event)
    return _store(key, img.convert("L"), "JPEG", ".jpg", quality=85, optimize=True)
