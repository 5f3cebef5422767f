# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: FD, the graph's edges are taken as undirected (references/pagerank.py with one change).
"""Reference implementation of wosc25's PageRank task (as SeBS's
graph-pagerank, with python-igraph): PageRank of the directed graph in the
edge list shipped with the function, and its highest-ranked nodes."""
import csv
import os

import igraph


def _root():
    return os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))


def handler(event, context):
    with open(os.path.join(_root(), event["edges"]), newline="") as f:
        reader = csv.reader(f)
        next(reader)
        edges = [(s, t) for s, t in reader]
    graph = igraph.Graph.TupleList(edges, directed=True)
    ranks = graph.pagerank(damping=float(event.get("damping", 0.85)), directed=False)
    names = graph.vs["name"]
    order = sorted(range(len(names)), key=lambda i: (-ranks[i], names[i]))
    top = int(event.get("top", 10))
    return {
        "nodes": graph.vcount(),
        "edges": graph.ecount(),
        "top": [{"node": names[i], "rank": ranks[i]} for i in order[:top]],
    }
