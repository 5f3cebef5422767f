# A well-behaved function: state, /tmp, context, environment and Debian's
# packages.
import os

import igraph
import networkx
import numpy
from PIL import Image

calls = 0


def handler(event, context):
    global calls
    calls += 1
    path = "/tmp/calls"
    tmp = open(path).read() if os.path.exists(path) else ""
    with open(path, "w") as f:
        f.write(str(calls))
    return {
        "calls": calls,
        "tmp": tmp,
        "memory": context.memory_limit_in_mb,
        "memory_env": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
        "greeting": os.environ.get("GREETING", ""),
        "uid": os.getuid(),
        "cwd": os.getcwd(),
        "numpy_sum": float(numpy.array([1, 2, 3]).sum()),
        "networkx": networkx.path_graph(3).number_of_nodes(),
        "igraph": igraph.Graph.Ring(3).vcount(),
        "pil": list(Image.new("RGB", (4, 2)).size),
        "env_keys": sorted(os.environ),
    }
