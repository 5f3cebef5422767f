# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: FD, stretched to the box: the aspect ratio is lost (references/thumbnail.py with one change).
"""Reference implementation of wosc25's Thumbnailer task (as SeBS's
thumbnailer, with Pillow): shrink the image shipped with the function to fit
width x height keeping its aspect ratio, and return it as base64 PNG."""
import base64
import io
import os

from PIL import Image


def handler(event, context):
    root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))
    with Image.open(os.path.join(root, event["image"])) as img:
        img = img.resize((int(event["width"]), int(event["height"])), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        width, height = img.size
    return {"width": width, "height": height, "thumbnail": base64.b64encode(buf.getvalue()).decode("ascii")}
