"""Trusted helper that faaslab's checker deploys beside the candidates.

It treats everything in its events as untrusted data, inside the same
sandbox as the candidates: it compiles source code without running it,
decodes images with Pillow, and measures code with radon and pylint.
pylint imports modules while it analyses them, so the candidate's code
may run during "metrics"; the checker sends that op, and "image", only to
containers that serve a single invocation.
"""

import base64
import importlib.util
import io
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

# PYLINT_TIMEOUT bounds pylint's run, in seconds, well within the
# function's own timeout of a minute.
PYLINT_TIMEOUT = 45


def handler(event, context):
    """Dispatch on event["op"]: "compile", "image" or "metrics"."""
    del context
    op = event.get("op")
    if op == "compile":
        return compile_files(event["files"])
    if op == "image":
        return compare_images(event["got"], event["want"])
    if op == "metrics":
        return measure(event["files"])
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


def measure(files):
    """Measure base64-encoded sources, by relative path, with radon and pylint.

    It returns each metric, or None for one that could not be measured,
    with the reasons in "notes". The sources are written to a new
    directory under /tmp, which only pylint reads.
    """
    sources = {name: base64.b64decode(data) for name, data in files.items()}
    result, notes = radon_metrics(sources)
    work = tempfile.mkdtemp(prefix="faaslab-metrics-")
    try:
        for name, source in sources.items():
            path = os.path.join(work, safe_path(name))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(source)
        result["pylint"], note = pylint_score(work, sorted(sources))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if note:
        notes.append(note)
    for key, value in result.items():
        if value is not None and not math.isfinite(value):
            result[key] = None
            notes.append(f"{key}: not a finite number: {value}")
    result["notes"] = notes
    return result


def safe_path(name):
    """Return name, a relative slash-separated path, or raise ValueError."""
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe file name {name!r}")
    return os.path.join(*parts)


def radon_metrics(sources):
    """Compute radon's metrics of the sources, as radon's command line would.

    Cyclomatic complexity is averaged over every function and method,
    Halstead difficulty (of each file as a whole) and the maintainability
    index (counting multi-line strings as comments, radon's default) over
    the files. A file that radon cannot read makes the metric None.
    """
    result = {"cyclomatic": None, "halstead": None, "maintainability": None}
    try:
        # pylint: disable=import-outside-toplevel
        from radon.complexity import cc_visit
        from radon.metrics import h_visit, mi_visit
        from radon.visitors import Function
    except ImportError as e:
        return result, [f"radon: not installed: {e}"]
    measures = {
        "cc": lambda code: [b.complexity for b in cc_visit(code) if isinstance(b, Function)],
        "hal": lambda code: [h_visit(code).total.difficulty],
        "mi": lambda code: [mi_visit(code, True)],
    }
    values = {metric: [] for metric in measures}
    errors = {}
    for name in sorted(sources):
        for metric, values_of in measures.items():
            if metric in errors:
                continue
            try:
                # Read as radon reads a file: UTF-8, universal newlines.
                code = io.TextIOWrapper(io.BytesIO(sources[name]), encoding="utf-8").read()
                values[metric] += values_of(code)
            except Exception as e:  # pylint: disable=broad-except
                errors[metric] = f"radon {metric}: {name}: {type(e).__name__}: {e}"
    if "cc" not in errors and not values["cc"]:
        errors["cc"] = "radon cc: no functions or methods"
    for metric, key in (("cc", "cyclomatic"), ("hal", "halstead"), ("mi", "maintainability")):
        if metric not in errors:
            result[key] = sum(values[metric]) / len(values[metric])
    return result, [errors[m] for m in measures if m in errors]


RATING = re.compile(rb"rated at (-?[0-9]+(?:\.[0-9]+)?)/10")


def pylint_score(work, names):
    """Run pylint with its default configuration on the files in work.

    It returns pylint's global evaluation, 0-10, and None, or None and the
    reason there is none. pylint runs in a process of its own, isolated
    from the environment (-I) and from configuration files (an empty
    --rcfile), with a timeout.
    """
    if importlib.util.find_spec("pylint") is None:
        return None, "pylint: not installed"
    cmd = [sys.executable, "-I", "-m", "pylint", "--rcfile=/dev/null", "--persistent=n",
           "--score=y", "--reports=n", "--jobs=1"]
    # "./" keeps a file named like an option from being read as one.
    cmd += ["./" + name for name in names]
    env = {"PATH": "/usr/bin:/bin", "HOME": work, "LANG": "C.UTF-8"}
    try:
        run = subprocess.run(cmd, cwd=work, env=env, capture_output=True,
                             timeout=PYLINT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return None, f"pylint: timed out after {PYLINT_TIMEOUT} s"
    ratings = RATING.findall(run.stdout)
    if not ratings:
        lines = (run.stdout.strip() or run.stderr.strip()).splitlines() or [b""]
        last = lines[-1].decode("utf-8", "replace")[:300]
        return None, f"pylint: no score (exit status {run.returncode}): {last}"
    return float(ratings[-1]), None
