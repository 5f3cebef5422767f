"""Reference implementation of the faaslab quickstart's "thumbnail" task.

Opens the image shipped with the function, shrinks it with Pillow's
Image.thumbnail (LANCZOS) to fit in width x height keeping its aspect ratio,
and returns the size and the PNG bytes in base64.
"""
import base64
import io
import os

from PIL import Image


def handler(event, context):
    root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, event["image"])
    box = (int(event["width"]), int(event["height"]))
    with Image.open(path) as img:
        img.thumbnail(box, Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        width, height = img.size
    return {
        "width": width,
        "height": height,
        "thumbnail": base64.b64encode(buf.getvalue()).decode("ascii"),
    }
