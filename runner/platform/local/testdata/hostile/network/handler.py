# Tries to reach listeners that the test started on the host's loopback,
# and lists the network interfaces it has. Only the host's own loopback is
# named: the sandbox must have no route to it, and no interface besides
# its own lo to route anywhere else.
import socket


def attempt(fn):
    try:
        fn()
        return "connected"
    except OSError as e:
        return "failed: %s" % e


def tcp(family, host, port):
    def connect():
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect((host, port))
        finally:
            s.close()
    return connect


def abstract(name):
    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect("\0" + name)
        finally:
            s.close()
    return connect


def handler(event, context):
    attempts = {
        "host_tcp4": attempt(tcp(socket.AF_INET, "127.0.0.1", event["tcp4_port"])),
        "host_abstract_unix": attempt(abstract(event["abstract"])),
    }
    if event["tcp6_port"]:
        attempts["host_tcp6"] = attempt(tcp(socket.AF_INET6, "::1", event["tcp6_port"]))
    # UDP has no connection to fail: the test checks that nothing arrives.
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x", ("127.0.0.1", event["udp_port"]))
        s.close()
    except OSError:
        pass
    return {
        "attempts": attempts,
        "interfaces": sorted(name for _, name in socket.if_nameindex()),
    }
