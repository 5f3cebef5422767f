"""Trusted helper that faaslab's checker deploys beside the candidates.

It treats everything in its events as untrusted data, inside the same
sandbox as the candidates: it compiles source code without running it,
decodes images with Pillow, and measures code with radon and pylint.
pylint imports modules while it analyses them, so the candidate's code
may run during "metrics". The checker sends "image" to a container of its
own, and "metrics" either to a container that has run nothing but "prime"
before and is torn down after it (a spare), or, confined, to a zygote.

"prime" imports radon and pylint (with its checkers) and finds the
interpreter's isolated sys.path, so that a later "metrics" pays neither;
it touches no candidate's code or data. With "zygote" it also starts the
fork server (see start_fork_server) and says whether this kernel can
confine a measurement (see confinement_missing).

A zygote serves many artifacts, one at a time: "metrics" with
"confined" measures each in a process of its own, forked from the fork
server, confined by Landlock and seccomp to a new directory (see
measure_confined), and killed with everything it started before the
next artifact's.
"""

import base64
import ctypes
import errno
import importlib
import importlib.util
import io
import json
import math
import os
import pkgutil
import re
import shutil
import select
import signal
import stat
import struct
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
        if event.get("confined"):
            return measure_confined(event["files"])
        return measure(event["files"], event.get("pylint_process", "fork"))
    if op == "prime":
        return prime(event.get("zygote", False))
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


def prime(zygote=False):
    """Import what "metrics" needs, before any candidate's code is here.

    It imports radon, pylint, and pylint's checkers and reporters (which
    pylint otherwise loads from files on every run), and asks a new
    isolated interpreter for its sys.path. It runs only trusted code.
    With zygote, it then starts the fork server, when this kernel can
    confine measurements; "confine" says whether it could, and "why" why
    not.
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
    result = {"ok": True, "imported": imported}
    if zygote:
        why = confinement_missing()
        if not why and ISOLATED_PATH is None:
            why = "cannot find the isolated interpreter's sys.path"
        if not why and FORK_SERVER is None:
            start_fork_server()
        result["confine"] = not why
        if why:
            result["why"] = why
    result["seconds"] = time.monotonic() - start
    return result


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


# The zygote: confined measurements in a long-lived, primed container.
#
# Every process here has the same uid, and the host may lack Yama, so
# nothing but the kernel's own checks keeps one process from signalling,
# tracing or changing the limits of another. The sandbox forbids new user
# namespaces, so no process here can make namespaces either. A confined
# measurement (confined_child) therefore puts itself in a Landlock domain
# of its own before it reads the candidate's code:
#
# - file system: it reads the sandbox's read-only files, and reads and
#   writes only its own new directory under /tmp (and /dev/null);
# - scopes (Landlock ABI 6, Linux 6.12): it cannot signal, and cannot
#   connect to an abstract Unix socket of, any process outside its domain;
# - ptrace (every Landlock ABI): it cannot trace, or open /proc/PID/mem,
#   environ, fd... of, any process outside its domain;
#
# and a seccomp filter refuses what Landlock does not cover: acting on
# another process's limits, priority, scheduling or I/O priority
# (prlimit64, setpriority, sched_set*, ioprio_set on anything but
# itself), and making SysV IPC objects, message queues or keys, which
# outlive the processes that made them. Every process it starts inherits
# both.
#
# Memory: a child forked from the process that received a request holds
# a copy of that request's bytes, freed or not. So the measurements are
# forked from the fork server, itself forked at "prime" before any
# request with a candidate's code reached this container: it only ever
# reads "run DIRECTORY" commands. The zygote (the runtime process) writes
# each artifact's files into the new directory; the confined child reads
# them there.
#
# Processes: the fork server is a child subreaper in a Landlock domain
# that only scopes signals. After each measurement it sends SIGKILL to
# every process it may signal, which is every process in its domain and
# the domains below it (the measurement's and whatever that started,
# however orphaned), and not the zygote or the sandbox's init, and reaps
# them until it has no child left. Then the zygote removes the directory.

FORK_SERVER = None  # (pid, commands fd, replies fd) once started
# CONFINED_TIMEOUT bounds one confined measurement, in seconds: pylint's
# own timeout and radon's time, within the function's timeout of a
# minute.
CONFINED_TIMEOUT = PYLINT_TIMEOUT + 8
# MAX_RESULT_BYTES bounds the result a confined child may write.
MAX_RESULT_BYTES = 1 << 20
# OOM_SCORE_ADJ makes a measurement the out-of-memory killer's first
# choice, before the zygote or the fork server in the same container.
OOM_SCORE_ADJ = b"1000"

PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2

# Landlock's system calls have the same numbers on every architecture.
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
# LANDLOCK_ABI is the least Landlock ABI that scopes signals and abstract
# Unix sockets.
LANDLOCK_ABI = 6
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_TRUNCATE, FS_IOCTL_DEV = 1 << 14, 1 << 15
FS_ALL = (1 << 16) - 1  # every file system right of ABI 5 and 6
FS_READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
FS_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
NET_ALL = (1 << 2) - 1  # bind and connect TCP
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

# AUDIT_ARCH is seccomp's name of each architecture the filter knows.
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# SECCOMP_DENIED are the system calls refused outright, by architecture:
# SysV shared memory, message queues and semaphores, POSIX message
# queues, and keys (add_key, request_key, keyctl).
SECCOMP_DENIED = {
    "x86_64": [29, 68, 64, 240, 248, 249, 250],
    "aarch64": [194, 186, 190, 180, 217, 218, 219],
}
# SECCOMP_SELF_ONLY are the system calls allowed only on the caller
# itself: (number by architecture, [(argument, required value)]). pid 0
# is the caller; setpriority's and ioprio_set's "which" must name a
# process (0 and 1), since 0 with another "which" names a group or a
# user.
SECCOMP_SELF_ONLY = [
    ({"x86_64": 302, "aarch64": 261}, [(0, 0)]),  # prlimit64(pid, ...)
    ({"x86_64": 141, "aarch64": 140}, [(0, 0), (1, 0)]),  # setpriority(which, who, ...)
    ({"x86_64": 142, "aarch64": 118}, [(0, 0)]),  # sched_setparam(pid, ...)
    ({"x86_64": 144, "aarch64": 119}, [(0, 0)]),  # sched_setscheduler(pid, ...)
    ({"x86_64": 203, "aarch64": 122}, [(0, 0)]),  # sched_setaffinity(pid, ...)
    ({"x86_64": 314, "aarch64": 274}, [(0, 0)]),  # sched_setattr(pid, ...)
    ({"x86_64": 251, "aarch64": 30}, [(0, 1), (1, 0)]),  # ioprio_set(which, who, ...)
]


class LandlockRulesetAttr(ctypes.Structure):  # pylint: disable=too-few-public-methods
    """struct landlock_ruleset_attr of ABI 6."""
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class LandlockPathBeneathAttr(ctypes.Structure):  # pylint: disable=too-few-public-methods
    """struct landlock_path_beneath_attr (packed)."""
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class SockFprog(ctypes.Structure):  # pylint: disable=too-few-public-methods
    """struct sock_fprog, a classic BPF program."""
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


LIBC = ctypes.CDLL(None, use_errno=True)


def checked(result, what):
    """Return a system call's result, or raise OSError with errno."""
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def prctl(option, arg=0):
    """Call prctl(2) with one argument."""
    return checked(LIBC.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl {option}")


def confinement_missing():
    """Say why this host cannot confine a measurement, or return ""."""
    machine = os.uname().machine
    if machine not in AUDIT_ARCH:
        return f"no seccomp filter for architecture {machine}"
    abi = LIBC.syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, LANDLOCK_CREATE_RULESET_VERSION)
    if abi < 0:
        return f"Landlock unavailable: {os.strerror(ctypes.get_errno())}"
    if abi < LANDLOCK_ABI:
        return f"Landlock ABI {abi}: scoped signals need ABI {LANDLOCK_ABI} (Linux 6.12)"
    return ""


def landlock(fs_rules, scoped):
    """Put this process in a new Landlock domain.

    fs_rules maps paths to the rights allowed beneath them; without
    rules, the domain handles no file system right. Missing paths are
    skipped. Every TCP bind and connect is refused when file rules are
    given.
    """
    attr = LandlockRulesetAttr(FS_ALL if fs_rules else 0, NET_ALL if fs_rules else 0, scoped)
    ruleset = checked(LIBC.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0),
                      "landlock_create_ruleset")
    try:
        for path, rights in fs_rules.items():
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    rights &= FS_FILE_RIGHTS
                rule = LandlockPathBeneathAttr(rights, fd)
                checked(LIBC.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH,
                                     ctypes.byref(rule), 0), f"landlock_add_rule {path}")
            finally:
                os.close(fd)
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        checked(LIBC.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def seccomp_program(machine):
    """Return the seccomp filter, as packed struct sock_filter, for machine."""
    ld_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny, kill = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x80000000

    def arg(index, high=False):
        # struct seccomp_data: nr, arch, instruction pointer, then six
        # 64-bit arguments, little-endian on both architectures.
        return 16 + 8 * index + (4 if high else 0)

    prog = [(ld_abs, 0, 0, 4), (jeq, 1, 0, AUDIT_ARCH[machine]), (ret, 0, 0, kill), (ld_abs, 0, 0, 0)]
    if machine == "x86_64":
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, deny)]  # x32 system calls
    for number in SECCOMP_DENIED[machine]:
        prog += [(jeq, 0, 1, number), (ret, 0, 0, deny)]
    for numbers, conditions in SECCOMP_SELF_ONLY:
        body = []
        for index, value in conditions:
            body += [(ld_abs, 0, 0, arg(index)), (jeq, 0, None, value),
                     (ld_abs, 0, 0, arg(index, True)), (jeq, 0, None, 0)]
        body += [(ret, 0, 0, allow), (ret, 0, 0, deny)]
        # A failed condition jumps to the last instruction: deny.
        body = [(c, t, len(body) - 2 - i if f is None else f, k) for i, (c, t, f, k) in enumerate(body)]
        prog += [(jeq, 0, len(body), numbers[machine])] + body
    prog.append((ret, 0, 0, allow))
    return b"".join(struct.pack("HBBI", *insn) for insn in prog)


def seccomp():
    """Install the seccomp filter (see SECCOMP_DENIED, SECCOMP_SELF_ONLY)."""
    program = ctypes.create_string_buffer(seccomp_program(os.uname().machine))
    fprog = SockFprog(len(program.raw) // 8, ctypes.addressof(program))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    checked(LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def start_fork_server():
    """Fork the fork server, before this container sees any candidate's code.

    The zygote becomes undumpable first, which the fork server and the
    measurements inherit: a process of the same uid without privileges
    can then neither trace it nor open its /proc files.
    """
    global FORK_SERVER  # pylint: disable=global-statement
    prctl(PR_SET_DUMPABLE, 0)
    commands_r, commands_w = os.pipe()
    replies_r, replies_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # Keep only stdio and its own pipes: with the runtime's
            # transport open here too, a zygote that died mid-measurement
            # would not be seen to end until this process did.
            low, high = sorted((commands_r, replies_w))
            os.closerange(3, low)
            os.closerange(low + 1, high)
            os.closerange(high + 1, resource_nofile())
            fork_server(commands_r, replies_w)
            code = 0
        except BaseException:  # pylint: disable=broad-except
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(commands_r)
    os.close(replies_w)
    FORK_SERVER = (pid, commands_w, replies_r)


def fork_server(commands, replies):
    """Serve "run DIRECTORY" commands: measure, clean up, reply."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    landlock({}, SCOPE_SIGNAL)
    with os.fdopen(commands, "rb") as lines:
        for line in lines:
            work = line.decode().removeprefix("run ").strip()
            status, timed_out = run_confined(work, [commands, replies])
            os.write(replies, json.dumps({"status": status, "timed_out": timed_out}).encode() + b"\n")


def run_confined(work, fds):
    """Measure the files in work in a confined child; kill what it left.

    It returns the child's exit status (None when it ran out of time) and
    whether it did.
    """
    pid = os.fork()
    if pid == 0:
        confined_child(work, fds)  # never returns
    timed_out, status = False, None
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], CONFINED_TIMEOUT)
        timed_out = not ready
    finally:
        os.close(pidfd)
    # Everything in this domain and below, the measurement first.
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            done, wait_status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if done == pid and not timed_out:
            status = os.waitstatus_to_exitcode(wait_status)
    return status, timed_out


def confined_child(work, fds):
    """Confine this process to work, measure its request, and exit."""
    code = 1
    try:
        for fd in fds:
            os.close(fd)
        os.setsid()
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, resource_nofile())
        # Undumpable (from the zygote), its /proc files belong to root.
        prctl(PR_SET_DUMPABLE, 1)
        with open("/proc/self/oom_score_adj", "wb") as f:
            f.write(OOM_SCORE_ADJ)
        os.chdir(work)
        tempfile.tempdir = work
        rules = {os.path.join("/", name): FS_READ for name in os.listdir("/") if name != "tmp"}
        rules.update({work: FS_ALL, "/dev/null": FS_READ_FILE | FS_WRITE_FILE})
        landlock(rules, SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET)
        seccomp()
        with open("request.json", "rb") as f:
            files = json.load(f)
        os.unlink("request.json")
        result = measure(files)
        with open("result.json.new", "w", encoding="utf-8") as f:
            json.dump(result, f)
        os.rename("result.json.new", "result.json")
        code = 0
    except BaseException:  # pylint: disable=broad-except
        try:
            with open("error.txt", "w", encoding="utf-8") as f:
                traceback.print_exc(file=f)
        except BaseException:  # pylint: disable=broad-except
            pass
    finally:
        os._exit(code)


def resource_nofile():
    """Return the soft limit on open files, the end of closerange."""
    import resource  # pylint: disable=import-outside-toplevel
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def measure_confined(files):
    """Measure base64-encoded sources as measure does, confined.

    It writes the files into a new directory, has the fork server measure
    them there in a confined child, and reads the child's result. The
    result is untrusted: the candidate's code may have written it, so only
    numbers and strings pass. "retire" asks the checker to send nothing
    more to this container, when the fork server or the cleanup failed.
    """
    if FORK_SERVER is None:
        raise RuntimeError("no fork server: this container was not primed as a zygote")
    _, commands, replies = FORK_SERVER
    work = tempfile.mkdtemp(prefix="faaslab-artifact-")
    reply = None
    try:
        with open(os.path.join(work, "request.json"), "w", encoding="utf-8") as f:
            json.dump(files, f)
        os.write(commands, f"run {work}\n".encode())
        ready, _, _ = select.select([replies], [], [], CONFINED_TIMEOUT + 5)
        line = os.read(replies, 4096) if ready else b""
        reply = json.loads(line) if line.endswith(b"\n") else None
        result = read_confined_result(work, reply)
    finally:
        # Without the fork server's reply the measurement's processes may
        # still live and swap the tree under remove_tree's walk: leave it
        # to the container's teardown, which retiring it brings.
        removed = reply is not None and remove_tree(work)
    if not removed:
        result["retire"] = True
        result["notes"].append("metrics: the zygote could not clean up after this measurement")
    return result


def read_confined_result(work, reply):
    """Return the result a confined child left in work, sanitised."""
    empty = {"cyclomatic": None, "halstead": None, "maintainability": None, "pylint": None}
    if reply is None:
        return dict(empty, notes=["metrics: the fork server did not answer"])
    if reply.get("timed_out"):
        return dict(empty, notes=[f"metrics: timed out after {CONFINED_TIMEOUT} s"])
    try:
        raw = json.loads(read_left_file(os.path.join(work, "result.json"), MAX_RESULT_BYTES + 1)[:MAX_RESULT_BYTES])
    except (OSError, ValueError) as e:
        detail = ""
        try:
            detail = read_left_file(os.path.join(work, "error.txt"), 2000).decode("utf-8", "replace").strip().splitlines()[-1]
        except (OSError, IndexError):
            pass
        return dict(empty, notes=[f"metrics: no result (exit status {reply.get('status')}): {type(e).__name__}"
                                  + (f"; {detail}" if detail else "")])
    result = dict(empty, notes=[])
    if isinstance(raw, dict):
        for key in empty:
            value = raw.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                result[key] = float(value)
        notes = raw.get("notes")
        if isinstance(notes, list):
            result["notes"] = [note[:2000] for note in notes[:20] if isinstance(note, str)]
    return result


def read_left_file(path, limit):
    """Return at most limit bytes of path, a file a confined child left.

    The child may have made it a link or a FIFO: this process is not
    confined, so it follows no link (which could name a file the child
    cannot read, such as this process's /proc files) and reads nothing
    but a regular file (a FIFO without a writer would block it until the
    function's timeout).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, f"{os.path.basename(path)} is not a regular file")
        chunks = []
        while limit > 0:
            chunk = os.read(fd, limit)
            if not chunk:
                break
            chunks.append(chunk)
            limit -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def remove_tree(path):
    """Remove path, whatever modes the candidate set inside; say if gone."""
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        return True
    # Every process that could change the tree is dead (the fork server
    # replied): no race here.
    for root, dirs, _ in os.walk(path):
        for name in dirs:
            if not os.path.islink(os.path.join(root, name)):
                try:
                    os.chmod(os.path.join(root, name), 0o700)
                except OSError:
                    pass
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)
    return not os.path.lexists(path)
