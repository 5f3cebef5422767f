# Tries to write everywhere; only /tmp may work, and it must persist
# between warm calls.
import os


def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return "failed: %s" % e


def write(path):
    def fn():
        with open(path, "w") as f:
            f.write("pwned")
    return fn


def command(line):
    def fn():
        if os.system(line + " 2>/dev/null") != 0:
            raise OSError("%s failed" % line.split()[0])
    return fn


def handler(event, context):
    results = {}
    for path in ["/var/task/pwned", "/var/task/handler.py", "/var/runtime/faaslab_wrapper.py",
                 "/var/runtime/pwned", "/etc/pwned", "/etc/passwd", "/usr/pwned", "/usr/bin/python3",
                 "/pwned", "/proc/sys/kernel/hostname", "/dev/pwned", "/proc/sysrq-trigger"]:
        results[path] = attempt(write(path))
    results["mkdir /var/task/d"] = attempt(lambda: os.mkdir("/var/task/d"))
    results["chmod handler.py"] = attempt(lambda: os.chmod("/var/task/handler.py", 0o777))
    results["rename handler.py"] = attempt(lambda: os.rename("/var/task/handler.py", "/var/task/h.py"))
    results["mount"] = attempt(command("mount -t tmpfs none /var/task"))
    results["unshare"] = attempt(command("unshare --user --map-root-user true"))
    tmp = "/tmp/persist"
    previous = open(tmp).read() if os.path.exists(tmp) else ""
    results["/tmp"] = attempt(write(tmp))
    return {"results": results, "previous_tmp": previous}
