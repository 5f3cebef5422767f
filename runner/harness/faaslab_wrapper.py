"""faaslab's measurement wrapper around a generated Lambda handler.

The same file runs in two places. In faaslab's local sandbox,
faaslab_bootstrap drives it through new(). On AWS Lambda it is the
function's handler module: the function's Handler setting is
"faaslab_wrapper.handler" and FAASLAB_HANDLER names the generated handler
("module.function"), which is imported when Lambda imports this module, so
that Lambda's own Init Duration covers it too.

Per invocation the wrapper records a dict (the record) with "metrics" and
either the handler's value ("result") or its failure ("error"):

  metrics: duration_ns (wall time inside the handler), cold, init_ns (import
  time, on the cold call), container_id, cpu_model, arch, CPU time deltas
  in seconds over the call from /proc/stat (cpu_user_s, cpu_system_s,
  cpu_idle_s, cpu_iowait_s, cpu_steal_s; left out when the platform
  samples the host itself, see new), max_rss_kb, minor_faults and
  major_faults (deltas over the call).
  error: errorType, errorMessage, stackTrace (one string), as Lambda names
  them.

The generated code runs in this process and may tamper with anything. new()
binds every function the measurement uses as a closure variable before that
code is imported, so reassigning module attributes afterwards
(json.dumps = ..., time.perf_counter_ns = ..., faaslab_wrapper.x = ...,
builtins.len = ...) does not reach the measurement. That defends against
accidents, not against code determined to lie about itself: the platform
validates what the wrapper reports and trusts only its own clocks for
status, round trip and cold starts.

Only the standard library is used.
"""

import builtins
import fcntl
import importlib
import json
import os
import platform
import resource
import sys
import time
import traceback
import types

# MAX_RESPONSE_BYTES is Lambda's limit on a synchronous response payload.
MAX_RESPONSE_BYTES = 6291556
# MAX_TEXT bounds error messages and tracebacks, in characters.
MAX_TEXT = 64 * 1024
# STATE_DIR keeps the container id and the warm marker, in the function's
# /tmp like everything an execution environment keeps between invocations.
STATE_DIR = "/tmp/.faaslab"
# STAT_FD_BASE: the wrapper's /proc/stat descriptor is moved to this
# number or above (the local runtime's pipes sit at 1000 and 1001).
STAT_FD_BASE = 1010


class InitError(Exception):
    """Raised by load when the handler cannot be imported or found.

    record is the error record to report, with init_ns measured; cause is
    the exception that the import raised, if any.
    """

    def __init__(self, record, cause=None):
        super().__init__(record["error"]["errorType"] + ": " + record["error"]["errorMessage"])
        self.record = record
        self.cause = cause


def new(state_dir=STATE_DIR, host_cpu=True):
    """Returns a namespace of the wrapper's functions, bound to references
    captured now: load(spec), measure(handler, event, context),
    to_json(record, result_text), JSON encode(value) and decode(text),
    and container_id.

    With host_cpu false the records leave out the host's CPU times: the
    platform reads /proc/stat around the call itself, which costs it less
    than two samples here (faaslab's local platform does).

    Call it before importing any generated code.
    """
    perf_ns = time.perf_counter_ns
    getrusage = resource.getrusage
    rusage_self = resource.RUSAGE_SELF
    os_open, os_read, os_write, os_close = os.open, os.read, os.write, os.close
    os_pread, fcntl_ = os.pread, fcntl.fcntl
    o_rdonly, o_create = os.O_RDONLY, os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    makedirs, urandom = os.makedirs, os.urandom
    import_module = importlib.import_module
    format_exception = traceback.format_exception

    class Encoder(json.JSONEncoder):
        # Copies of the methods, so that patching json.JSONEncoder later
        # does not reach this encoder.
        encode = json.JSONEncoder.encode
        iterencode = json.JSONEncoder.iterencode

    class Decoder(json.JSONDecoder):
        raw_decode = json.JSONDecoder.raw_decode

    encode = Encoder(allow_nan=False, separators=(",", ":")).encode
    raw_decode = Decoder().raw_decode

    def decode(text):
        # raw_decode, unlike decode, calls no builtins that code could
        # replace; faaslab's frames have no trailing data to check for.
        return raw_decode(text)[0]

    tick = float(os.sysconf("SC_CLK_TCK"))
    f_dupfd_cloexec, stat_fd_base = fcntl.F_DUPFD_CLOEXEC, STAT_FD_BASE
    len_, str_, type_, int_, zip_, getattr_, callable_ = (
        builtins.len, builtins.str, builtins.type, builtins.int,
        builtins.zip, builtins.getattr, builtins.callable)
    Exception_, BaseException_ = builtins.Exception, builtins.BaseException
    init_error, max_response, max_text = InitError, MAX_RESPONSE_BYTES, MAX_TEXT

    def read_file(path, limit=1 << 20):
        fd = os_open(path, o_rdonly)
        try:
            chunks, size = [], 0
            while size < limit:
                chunk = os_read(fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len_(chunk)
            return b"".join(chunks)
        finally:
            os_close(fd)

    def write_file(path, data):
        fd = os_open(path, o_create, 0o600)
        try:
            os_write(fd, data)
        finally:
            os_close(fd)

    def cpu_model():
        # x86 names the model; arm64 kernels give implementer and part codes.
        fields = {}
        try:
            for line in read_file("/proc/cpuinfo").decode("utf-8", "replace").splitlines():
                key, sep, value = line.partition(":")
                key = key.strip()
                if sep and key not in fields:
                    fields[key] = value.strip()
        except OSError:
            pass
        if "model name" in fields:
            return fields["model name"]
        if "CPU part" in fields:
            return "implementer %s part %s" % (fields.get("CPU implementer", "?"), fields["CPU part"])
        return platform.processor() or "unknown"

    def container_id():
        # A restarted runtime in the same environment keeps the id.
        path = state_dir + "/container-id"
        try:
            kept = read_file(path, 64).decode("ascii")
            if len_(kept) == 16 and all(c in "0123456789abcdef" for c in kept):
                return kept
        except (OSError, UnicodeDecodeError):
            pass
        cid = urandom(8).hex()
        try:
            makedirs(state_dir, exist_ok=True)
            write_file(path, cid.encode("ascii"))
        except OSError:
            pass
        return cid

    facts = {"container_id": container_id(), "cpu_model": cpu_model()[:256],
             "arch": platform.machine()}
    warm_marker = state_dir + "/warm"
    init = {"ns": 0, "pending": True}
    # state: the /proc/stat descriptor, read again at offset 0 for each
    # sample (half the cost of opening it), kept out of the way of the
    # descriptors ordinary code uses; and whether the container is known
    # to be warm, which spares the marker's lookup on later calls.
    state = {"stat_fd": -1, "warm": False}

    def open_stat():
        fd = os_open("/proc/stat", o_rdonly)
        try:
            state["stat_fd"] = fcntl_(fd, f_dupfd_cloexec, stat_fd_base)
        except OSError:
            state["stat_fd"] = fd
            return
        os_close(fd)

    def cpu_times():
        # The first line of /proc/stat: cpu user nice system idle iowait irq softirq steal ...
        for _ in (0, 1):
            try:
                if state["stat_fd"] < 0:
                    open_stat()
                line = os_pread(state["stat_fd"], 4096, 0).split(b"\n", 1)[0]
                if line.startswith(b"cpu "):
                    return [int_(v) for v in line.split()[1:9]]
            except (OSError, ValueError):
                pass
            # The handler closed or replaced the descriptor: open it again.
            state["stat_fd"] = -1
        return [0] * 8

    def sample():
        ru = getrusage(rusage_self)
        return (cpu_times() if host_cpu else None), ru.ru_minflt, ru.ru_majflt, ru.ru_maxrss

    def is_cold():
        if state["warm"]:
            return False
        state["warm"] = True
        try:
            os_close(os_open(warm_marker, o_rdonly))
            return False
        except OSError:
            pass
        try:
            makedirs(state_dir, exist_ok=True)
            write_file(warm_marker, b"")
        except OSError:
            pass
        return True

    def metrics(duration_ns, cold, before, after):
        cpu0, minflt0, majflt0, _ = before
        cpu1, minflt1, majflt1, maxrss = after
        m = {
            "duration_ns": duration_ns,
            "cold": cold,
            "init_ns": 0,
            "container_id": facts["container_id"],
            "cpu_model": facts["cpu_model"],
            "arch": facts["arch"],
            "max_rss_kb": maxrss,
            "minor_faults": minflt1 - minflt0,
            "major_faults": majflt1 - majflt0,
        }
        if host_cpu:
            delta = [(b - a) / tick for a, b in zip_(cpu0, cpu1)]
            m["cpu_user_s"], m["cpu_system_s"], m["cpu_idle_s"] = delta[0], delta[2], delta[3]
            m["cpu_iowait_s"], m["cpu_steal_s"] = delta[4], delta[7]
        if init["pending"]:
            init["pending"] = False
            m["init_ns"] = init["ns"]
        return m

    def clip(text):
        if len_(text) <= max_text:
            return text
        return "[faaslab: %d characters cut]\n" % (len_(text) - max_text) + text[-max_text:]

    def describe(exc, tb):
        # A hostile exception may fail to print; it is still an error.
        try:
            name = str_(type_(exc).__name__)
        except BaseException_:
            name = "Exception"
        try:
            message = str_(exc)
        except BaseException_:
            message = "<exception message could not be printed>"
        try:
            trace = "".join(format_exception(type_(exc), exc, tb))
        except BaseException_:
            trace = ""
        return name, clip(message), clip(trace)

    def error(error_type, message, trace=""):
        return {"errorType": error_type, "errorMessage": message, "stackTrace": trace}

    def find_handler(spec, task_root):
        # Returns (function, None) or (None, (error, exception)).
        module_name, _, function_name = spec.rpartition(".")
        if not module_name or not function_name:
            return None, (error("Runtime.MalformedHandlerName",
                                "Bad handler '%s': expected module.function" % spec), None)
        if task_root is not None and task_root not in sys.path:
            sys.path.insert(0, task_root)
        try:
            module = import_module(module_name.replace("/", "."))
        except ImportError as exc:
            _, message, trace = describe(exc, exc.__traceback__)
            return None, (error("Runtime.ImportModuleError",
                                "Unable to import module '%s': %s" % (module_name, message), trace), exc)
        except SyntaxError as exc:
            _, message, trace = describe(exc, exc.__traceback__)
            return None, (error("Runtime.UserCodeSyntaxError", message, trace), exc)
        except Exception_ as exc:
            return None, (error(*describe(exc, exc.__traceback__.tb_next)), exc)
        fn = getattr_(module, function_name, None)
        if not callable_(fn):
            return None, (error("Runtime.HandlerNotFound",
                                "Handler '%s' missing on module '%s'" % (function_name, module_name)), None)
        return fn, None

    def load(spec, task_root=None):
        """Imports the handler named by spec ("module.function"), timing
        the import as the init duration, and returns it. It raises
        InitError, with Lambda's error types, when that fails."""
        start = perf_ns()
        fn, failure = find_handler(spec, task_root)
        init["ns"] = perf_ns() - start
        if failure is None:
            return fn
        now = sample()
        record = {"metrics": metrics(0, True, now, now), "error": failure[0]}
        raise init_error(record, failure[1])

    def measure(handler, event, context):
        """Calls handler(event, context) once and returns (record,
        result_text, value): result_text is the value as JSON, or None when
        the record holds an error instead."""
        cold = is_cold()
        before = sample()
        start = perf_ns()
        try:
            value = handler(event, context)
        except Exception_ as exc:
            end = perf_ns()
            record = {"metrics": metrics(end - start, cold, before, sample())}
            record["error"] = error(*describe(exc, exc.__traceback__.tb_next))
            return record, None, None
        end = perf_ns()
        record = {"metrics": metrics(end - start, cold, before, sample())}
        try:
            text = encode(value)
        except Exception_ as exc:
            _, message, _ = describe(exc, None)
            record["error"] = error("Runtime.MarshalError", "Unable to marshal response: " + message)
            return record, None, None
        if len_(text) > max_response:
            record["error"] = error(
                "Function.ResponseSizeTooLarge",
                "Response payload size (%d bytes) exceeded maximum allowed payload size (%d bytes)."
                % (len_(text), max_response))
            return record, None, None
        return record, text, value

    def to_json(record, result_text):
        """Returns the record as JSON, with result_text spliced in as its
        "result" so that the value is encoded only once."""
        text = encode(record)
        if result_text is None:
            return text
        return text[:-1] + ',"result":' + result_text + "}"

    return types.SimpleNamespace(load=load, measure=measure, to_json=to_json,
                                 encode=encode, decode=decode, container_id=facts["container_id"])


# On Lambda: import the generated handler now, inside Lambda's init phase.
# An import failure propagates, so that Lambda reports it as its own
# init error.
_lambda = None
# _write is bound before the generated code is imported (see new).
_write = os.write
if os.environ.get("FAASLAB_HANDLER"):
    _lambda = new()
    try:
        _lambda_handler = _lambda.load(os.environ["FAASLAB_HANDLER"], os.environ.get("LAMBDA_TASK_ROOT"))
    except InitError as exc:
        raise (exc.cause or exc) from None


def handler(event, context):
    """The Lambda entry point: runs the generated handler and returns its
    record, with the value itself as "result" for Lambda to serialise."""
    if _lambda is None:
        raise RuntimeError("faaslab_wrapper.handler needs FAASLAB_HANDLER")
    objects = _s3_objects(event)
    record, _, value = _lambda.measure(_lambda_handler, event, context)
    if objects:
        # S3 invokes a pipeline's stages asynchronously and Lambda drops
        # their results: one log line names the request, the objects it
        # was for, and its record without the value
        # (runner/platform/aws/chainlog.go reads it).
        _write(1, ("FAASLAB_S3_EVENT " + _lambda.encode(
            {"requestId": str(getattr(context, "aws_request_id", "")), "objects": objects,
             "record": record}) + "\n").encode("utf-8"))
    if "error" not in record:
        record["result"] = value
    return record


def _s3_objects(event):
    """Returns [key, eventTime] of each object an S3 notification names,
    read before the handler can change the event; [] for other events."""
    try:
        return [[str(r["s3"]["object"]["key"]), str(r.get("eventTime", ""))]
                for r in event["Records"] if "s3" in r][:100]
    except (TypeError, KeyError, AttributeError):
        return []
