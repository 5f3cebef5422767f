# Tries to reach the host and the Internet; returns what happened to each
# attempt.
import socket


def attempt(fn):
    try:
        fn()
        return "connected"
    except OSError as e:
        return "failed: %s" % e


def tcp(host, port):
    return lambda: socket.create_connection((host, port), timeout=1).close()


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ("8.8.8.8", 53))


def abstract(name):
    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect("\0" + name)
    return connect


def handler(event, context):
    return {
        "host_tcp": attempt(tcp("127.0.0.1", event["port"])),
        "public_tcp": attempt(tcp("1.1.1.1", 80)),
        "dns": attempt(lambda: socket.getaddrinfo("example.com", 80)),
        "udp": attempt(udp),
        "host_abstract_unix": attempt(abstract(event["abstract"])),
    }
