# A custom runtime for aws-lambda-rie, standard library only: the peer of
# BenchmarkOverhead. It fetches each invocation over the Runtime API's HTTP
# decodes the event and posts it back, like testdata/echo's handler.
import http.client
import json
import os
import socket

host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
api = http.client.HTTPConnection(host, int(port))
api.connect()
api.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
base = "/2018-06-01/runtime/invocation/"
while True:
    api.request("GET", base + "next")
    reply = api.getresponse()
    request_id = reply.getheader("Lambda-Runtime-Aws-Request-Id")
    event = json.loads(reply.read() or b"{}")
    api.request("POST", base + request_id + "/response", body=json.dumps(event).encode(),
                headers={"Content-Type": "application/json"})
    api.getresponse().read()
