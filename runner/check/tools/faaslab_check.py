"""Trusted helper that faaslab's checker deploys beside the candidates.

It treats everything in its events as untrusted data: it compiles source
code without running it, and it decodes images with Pillow inside the
same sandbox as the candidates.
"""

import base64
import io


def handler(event, context):
    """Dispatch on event["op"]: "compile" or "image"."""
    op = event.get("op")
    if op == "compile":
        return compile_files(event["files"])
    if op == "image":
        return compare_images(event["got"], event["want"])
    raise ValueError(f"unknown op {op!r}")


def compile_files(files):
    """Compile each base64-encoded source; report the first syntax error."""
    for name in sorted(files):
        source = base64.b64decode(files[name])
        try:
            compile(source, name, "exec", dont_inherit=True)
        except SyntaxError as e:
            return {"ok": False, "file": name, "line": e.lineno or 0,
                    "column": e.offset or 0, "type": type(e).__name__,
                    "message": e.msg or str(e)}
        except (ValueError, RecursionError, MemoryError) as e:
            return {"ok": False, "file": name, "line": 0, "column": 0,
                    "type": type(e).__name__, "message": str(e)}
    return {"ok": True}


def compare_images(got, want):
    """Measure two base64-encoded images against each other.

    It returns their sizes and modes and, when those match, the mean
    squared and mean absolute differences over 8-bit channels.
    """
    from PIL import Image, ImageChops, ImageStat  # pylint: disable=import-outside-toplevel

    images = []
    for label, blob in (("output", got), ("reference", want)):
        try:
            image = Image.open(io.BytesIO(base64.b64decode(blob)))
            image.load()
        except Exception as e:  # pylint: disable=broad-except
            return {"error": f"{label} image: {type(e).__name__}: {e}"}
        images.append(image)
    a, b = images
    result = {"got_size": list(a.size), "want_size": list(b.size),
              "got_mode": a.mode, "want_mode": b.mode}
    if a.size != b.size or a.mode != b.mode:
        return result
    mode = "RGBA" if "A" in a.mode or "transparency" in a.info else "RGB"
    diff = ImageChops.difference(a.convert(mode), b.convert(mode))
    stat = ImageStat.Stat(diff)
    pixels = a.size[0] * a.size[1]
    if pixels == 0:
        result.update(mse=0.0, mad=0.0)
        return result
    bands = len(stat.sum)
    result["mse"] = sum(stat.sum2) / (pixels * bands)
    result["mad"] = sum(stat.sum) / (pixels * bands)
    return result
