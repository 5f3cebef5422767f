"""Trusted helper that faaslab's checker deploys beside the candidates.

It treats everything in its events as untrusted data, inside the same
sandbox as the candidates: it compiles source code without running it,
decodes images with Pillow, and measures code with radon and pylint.
pylint imports modules while it analyses them, so the candidate's code
may run during "metrics"; the checker sends that op, and "image", only to
containers that serve a single artifact: "image" to a container of its
own, "metrics" to a container that has run nothing but "prime" before
and is torn down after it.

"prime" imports radon and pylint (with its checkers) and finds the
interpreter's isolated sys.path, so that a later "metrics" pays neither;
it touches no candidate's code or data.
"""

import base64
import importlib
import importlib.util
import io
import json
import math
import os
import pkgutil
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

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
        return measure(event["files"], event.get("pylint_process", "fork"))
    if op == "prime":
        return prime()
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


def measure(files, pylint_process="fork"):
    """Measure base64-encoded sources, by relative path, with radon and pylint.

    It returns each metric, or None for one that could not be measured,
    with the reasons in "notes". The sources are written to a new
    directory under /tmp, which only pylint reads. pylint_process says
    how pylint runs: "fork" (a child of this process, see pylint_forked)
    or "subprocess" (a new interpreter, see pylint_subprocess), which
    the checker's benchmark and tests compare it with.
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
        if pylint_process == "subprocess":
            result["pylint"], note = pylint_score(pylint_subprocess, work, sorted(sources))
        else:
            result["pylint"], note = pylint_score(pylint_forked, work, sorted(sources))
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

# PYLINT_ARGS is pylint's command line: its default configuration,
# ignoring configuration files (an empty --rcfile), with the score.
PYLINT_ARGS = ["--rcfile=/dev/null", "--persistent=n", "--score=y", "--reports=n", "--jobs=1"]

# ISOLATED_PATH is sys.path of this interpreter started isolated (-I),
# as pylint_subprocess runs pylint; prime sets it.
ISOLATED_PATH = None


def prime():
    """Import what "metrics" needs, before any candidate's code is here.

    It imports radon, pylint, and pylint's checkers and reporters (which
    pylint otherwise loads from files on every run), and asks a new
    isolated interpreter for its sys.path. It runs only trusted code.
    """
    global ISOLATED_PATH  # pylint: disable=global-statement
    start = time.monotonic()
    imported = []
    try:
        # pylint: disable=import-outside-toplevel,unused-import
        import radon.complexity
        import radon.metrics
        import radon.visitors
        imported.append("radon")
    except ImportError:
        pass
    try:
        # pylint: disable=import-outside-toplevel
        import pylint
        import pylint.checkers
        import pylint.lint
        import pylint.reporters
        for package in (pylint.checkers, pylint.reporters):
            for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                importlib.import_module(module.name)
        imported.append("pylint")
    except ImportError:
        pass
    if ISOLATED_PATH is None:
        try:
            run = subprocess.run([sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
                                 env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, capture_output=True,
                                 timeout=PYLINT_TIMEOUT, check=True)
            ISOLATED_PATH = json.loads(run.stdout)
        except (OSError, ValueError, subprocess.SubprocessError):
            pass  # pylint_forked tries again, and its failure becomes a note
    return {"ok": True, "imported": imported, "seconds": time.monotonic() - start}


def pylint_score(run, work, names):
    """Run pylint with its default configuration on the files in work.

    run is pylint_forked or pylint_subprocess. It returns pylint's global
    evaluation, 0-10, and None, or None and the reason there is none.
    pylint runs isolated from the environment and from configuration
    files, with a timeout.
    """
    if importlib.util.find_spec("pylint") is None:
        return None, "pylint: not installed"
    # "./" keeps a file named like an option from being read as one.
    args = PYLINT_ARGS + ["./" + name for name in names]
    env = {"PATH": "/usr/bin:/bin", "HOME": work, "LANG": "C.UTF-8"}
    try:
        outcome = run(args, work, env)
    except Exception as e:  # pylint: disable=broad-except
        return None, f"pylint: could not run: {type(e).__name__}: {e}"
    if outcome is None:
        return None, f"pylint: timed out after {PYLINT_TIMEOUT} s"
    returncode, stdout, stderr = outcome
    ratings = RATING.findall(stdout)
    if not ratings:
        lines = (stdout.strip() or stderr.strip()).splitlines() or [b""]
        last = lines[-1].decode("utf-8", "replace")[:300]
        return None, f"pylint: no score (exit status {returncode}): {last}"
    return float(ratings[-1]), None


def pylint_subprocess(args, work, env):
    """Run pylint as "python -I -m pylint ARGS" in work, with env.

    It returns the exit status, standard output and error, or None when
    pylint ran out of time.
    """
    try:
        run = subprocess.run([sys.executable, "-I", "-m", "pylint"] + args, cwd=work, env=env,
                             capture_output=True, timeout=PYLINT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return None
    return run.returncode, run.stdout, run.stderr


def pylint_forked(args, work, env):
    """Run pylint as pylint_subprocess does, in a child of this process.

    The child inherits radon and pylint already imported (see prime), and
    then sets up what "python -I -m pylint" would have: the isolated
    sys.path, env as its environment, work as its directory, standard
    output and error to files. Whatever the candidate's code does in it,
    this process survives and the timeout holds. It returns the exit
    status, standard output and error, or None when pylint ran out of
    time.
    """
    if ISOLATED_PATH is None:
        prime()
        if ISOLATED_PATH is None:
            raise RuntimeError("cannot find the isolated interpreter's sys.path")
    capture = tempfile.mkdtemp(prefix="faaslab-pylint-")
    try:
        paths = [os.path.join(capture, name) for name in ("stdout", "stderr")]
        for path in paths:
            with open(path, "wb"):
                pass
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_pylint_child(args, work, env, paths)  # never returns
        deadline = time.monotonic() + PYLINT_TIMEOUT
        delay = 0.001
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        outputs = []
        for path in paths:
            with open(path, "rb") as f:
                outputs.append(f.read())
        return os.waitstatus_to_exitcode(status), outputs[0], outputs[1]
    finally:
        shutil.rmtree(capture, ignore_errors=True)


def run_pylint_child(args, work, env, paths):
    """Run pylint in a forked child and exit with its status."""
    code = 1
    try:
        for fd, path in zip((1, 2), paths):
            out = os.open(path, os.O_WRONLY | os.O_TRUNC)
            os.dup2(out, fd)
            os.close(out)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
        os.chdir(work)
        os.environ.clear()
        os.environ.update(env)
        sys.path[:] = ISOLATED_PATH
        sys.argv = [os.path.join(os.path.dirname(importlib.util.find_spec("pylint").origin), "__main__.py")] + args
        # pylint: disable=import-outside-toplevel
        import pylint
        from pylint.lint import Run
        pylint.modify_sys_path()
        try:
            Run(args)
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
    except BaseException:  # pylint: disable=broad-except
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # pylint: disable=broad-except
                pass
        os._exit(code & 0xFF)
