"""Thumbnailer with Pillow, the slow way: converts through RGBA, resizes
with LANCZOS in one step from the full image, and saves an optimised PNG.
Hand-written for the wosc25 offline stand-ins (not LLM output)."""
import base64
import io
import os

from PIL import Image


def handler(event, context):
    root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))
    img = Image.open(os.path.join(root, event["image"])).convert("RGBA")
    scale = min(int(event["width"]) / img.width, int(event["height"]) / img.height, 1.0)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    small = img.resize(size, Image.LANCZOS).convert("RGB")
    buf = io.BytesIO()
    small.save(buf, "PNG", optimize=True)
    return {"width": size[0], "height": size[1], "thumbnail": base64.b64encode(buf.getvalue()).decode()}
