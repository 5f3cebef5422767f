"""faaslab's local runtime: a Lambda Runtime API client over two pipes.

faaslab's local platform starts this file as the sandbox's only program
(python3 -B -u faaslab_bootstrap.py [--no-host-cpu]). It plays the part of Lambda's runtime
client: it imports the handler named by _HANDLER (the init phase), then
loops asking faaslab for the next invocation, runs it through the
measurement wrapper (faaslab_wrapper) and posts the response or the error.

The Runtime API's operations travel as frames over inherited pipes rather
than HTTP, because the sandbox has no network: fd 3 carries faaslab's
replies (the next invocation), fd 4 carries this runtime's requests. A frame
is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.

  runtime -> faaslab: {"op": "next"}
                      {"op": "response", "request_id": ID, "body": RECORD}
                      {"op": "error", "request_id": ID, "body": RECORD}
                      {"op": "init_error", "body": RECORD}
  faaslab -> runtime: {"request_id": ID, "deadline_ms": MS, "function_arn": ARN,
                       "event": EVENT}

A response or an error goes out in one write with the next "next", which
spares faaslab a wake-up per invocation.

With --no-host-cpu the wrapper leaves the host's CPU times out of its
records: the platform samples /proc/stat around each call itself.

Before importing generated code, the runtime moves the pipes to high,
close-on-exec descriptors (ordinary code that opens files gets 3 and 4),
closes them in children forked from Python, lowers resource limits to
Lambda's, and binds everything it needs as local variables, so the
generated code cannot reach them by accident.
"""

import fcntl
import os
import resource
import sys
import time
import traceback

IN_FD, OUT_FD = 3, 4
# API descriptors are moved to this number or above.
FD_BASE = 1000
# Lambda's limit on open files. (Its limit on processes, 1024, is the
# platform's pids cgroup.)
NOFILE = 1024
# RUNTIME_DIR holds this file and faaslab_wrapper.
RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))


class Context:
    """The handler's context argument, with the attributes and method of
    Lambda's Python LambdaContext."""

    def __init__(self, request, env, time_ms):
        self.aws_request_id = request["request_id"]
        self.invoked_function_arn = request.get("function_arn", "")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        # Lambda passes the memory size through as the environment's string.
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = request["deadline_ms"]
        self._time_ms = time_ms

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - self._time_ms(), 0)

    def __repr__(self):
        return "LambdaContext([aws_request_id=%s,function_name=%s,memory_limit_in_mb=%s])" % (
            self.aws_request_id, self.function_name, self.memory_limit_in_mb)


def main():
    read, write, close, getpid, exit_now = os.read, os.write, os.close, os.getpid, os._exit
    len_, min_, int_, memoryview_, new_context = len, min, int, memoryview, Context
    next_request = '{"op":"next"}'
    time_ns = time.time_ns
    stdout, stderr = sys.stdout, sys.stderr
    print_exc = traceback.print_exc
    env = dict(os.environ)
    pid = getpid()

    in_fd = fcntl.fcntl(IN_FD, fcntl.F_DUPFD_CLOEXEC, FD_BASE)
    out_fd = fcntl.fcntl(OUT_FD, fcntl.F_DUPFD_CLOEXEC, FD_BASE)
    close(IN_FD)
    close(OUT_FD)

    def close_api_in_child():
        for fd in (in_fd, out_fd):
            try:
                close(fd)
            except OSError:
                pass

    os.register_at_fork(after_in_child=close_api_in_child)
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def send(*texts):
        # Frames go out in one write: a response and the next request
        # reach faaslab together.
        frames = []
        for text in texts:
            data = text.encode("utf-8")
            frames.append(len_(data).to_bytes(4, "big"))
            frames.append(data)
        view = memoryview_(b"".join(frames))
        while view:
            view = view[write(out_fd, view):]

    def receive_exactly(n):
        chunks = []
        while n > 0:
            chunk = read(in_fd, min_(n, 1 << 20))
            if not chunk:
                # faaslab went away: nothing left to do.
                exit_now(0)
            chunks.append(chunk)
            n -= len_(chunk)
        return b"".join(chunks)

    def receive(decode):
        size = int_.from_bytes(receive_exactly(4), "big")
        return decode(receive_exactly(size).decode("utf-8"))

    def flush():
        for stream in (stdout, stderr):
            try:
                stream.flush()
            except Exception:
                pass

    def time_ms():
        return time_ns() // 1000000

    if RUNTIME_DIR not in sys.path:
        sys.path.insert(0, RUNTIME_DIR)
    import faaslab_wrapper

    wrapper = faaslab_wrapper.new(host_cpu="--no-host-cpu" not in sys.argv[1:])
    load, measure, to_json, encode, decode = (
        wrapper.load, wrapper.measure, wrapper.to_json, wrapper.encode, wrapper.decode)
    InitError = faaslab_wrapper.InitError
    os.environ["AWS_LAMBDA_LOG_STREAM_NAME"] = "%s/[%s]%s" % (
        time.strftime("%Y/%m/%d", time.gmtime()), env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        wrapper.container_id)
    env["AWS_LAMBDA_LOG_STREAM_NAME"] = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]

    try:
        handler = load(env.get("_HANDLER", ""), env.get("LAMBDA_TASK_ROOT", "/var/task"))
    except InitError as exc:
        flush()
        send('{"op":"init_error","body":%s}' % to_json(exc.record, None))
        exit_now(1)

    try:
        send(next_request)
        while True:
            request = receive(decode)
            record, result_text, _ = measure(handler, request["event"], new_context(request, env, time_ms))
            if getpid() != pid:
                # A child forked by the handler returned here; only the
                # runtime itself may answer.
                exit_now(0)
            flush()
            op = "error" if "error" in record else "response"
            send('{"op":"%s","request_id":%s,"body":%s}' % (
                op, encode(request["request_id"]), to_json(record, result_text)), next_request)
    except Exception:
        # The runtime itself failed, most likely because the handler broke
        # something it relies on. Say why on the original stderr, which
        # the handler may have replaced, and exit: faaslab reports a crash.
        print_exc(file=stderr)
        flush()
        exit_now(1)


if __name__ == "__main__":
    main()
