# Hand-written example for the faaslab quickstart, not LLM output.
# It plays a "files" model's answer to prompts/thumbnail_long.md: correct, but
# it computes the target size itself and calls Image.resize with LANCZOS
# instead of Image.thumbnail (which first reduces by an integer factor), so its
# pixels differ slightly from the reference's while staying visually equal.
import base64
import io
import os

from PIL import Image


def handler(event, context):
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(__file__))
    image_path = os.path.join(task_root, event["image"])
    max_w = int(event["width"])
    max_h = int(event["height"])

    img = Image.open(image_path)
    img.load()
    scale = min(max_w / img.width, max_h / img.height, 1.0)
    new_size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    if new_size != img.size:
        img = img.resize(new_size, Image.Resampling.LANCZOS)

    out = io.BytesIO()
    img.save(out, "PNG")
    encoded = base64.b64encode(out.getvalue()).decode("utf-8")
    return {"width": img.width, "height": img.height, "thumbnail": encoded}
