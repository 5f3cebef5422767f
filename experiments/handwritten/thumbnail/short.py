# Hand-written example for the faaslab quickstart, not LLM output.
# It plays a "files" model's answer to prompts/thumbnail_short.md and carries a
# deliberate SYNTAX ERROR (the colon after the "with" statement is missing),
# so that the study shows the SE class: the module does not even compile.
import base64
import io
import os

from PIL import Image


def handler(event, context):
    root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(__file__))
    path = os.path.join(root, event["image"])
    size = (event["width"], event["height"])
    with Image.open(path) as im
        im.thumbnail(size, Image.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return {
            "width": im.width,
            "height": im.height,
            "thumbnail": base64.b64encode(buf.getvalue()).decode(),
        }
