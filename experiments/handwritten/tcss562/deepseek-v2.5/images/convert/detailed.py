"""NOT LLM OUTPUT: a hand-written stand-in for DeepSeek V2.5's "convert" stage of
the TCSS 562 image pipeline, written for faaslab's offline example. 
"""
import io
import os
from urllib.parse import unquote_plus

import boto3
import numpy as np
from PIL import Image

s3 = boto3.client("s3")


def handler(event, context):
    src = event["Records"][0]["s3"]
    key = unquote_plus(src["object"]["key"])
    data = s3.get_object(Bucket=src["bucket"]["name"], Key=key)["Body"].read()
    img = Image.open(io.BytesIO(data))
    buf = io.BytesIO()
    img.convert("L").save(buf, "JPEG", quality=95)
    base = os.path.splitext(os.path.basename(key))[0]
    out_key = f"{os.environ['OUTPUT_PREFIX']}{base}.jpg"
    s3.put_object(Bucket=os.environ["OUTPUT_BUCKET"], Key=out_key, Body=buf.getvalue())
    return {"status": "done", "output": out_key}
