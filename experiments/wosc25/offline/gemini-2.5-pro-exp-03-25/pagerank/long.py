# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: slow (offline/pool/pagerank_slow.py).
"""PageRank with python-igraph, building the graph one edge at a time and
asking for the power method. Hand-written for the wosc25 offline stand-ins
(not LLM output)."""
import csv
import os

import igraph


def handler(event, context):
    root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))
    graph = igraph.Graph(directed=True)
    ids = {}
    with open(os.path.join(root, event["edges"]), newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for name in (row["source"], row["target"]):
            if name not in ids:
                ids[name] = len(ids)
                graph.add_vertex(name=name)
    graph.add_edges([(ids[r["source"]], ids[r["target"]]) for r in rows])
    ranks = graph.pagerank(damping=float(event.get("damping", 0.85)), directed=True)
    names = graph.vs["name"]
    order = sorted(range(len(names)), key=lambda i: (-ranks[i], names[i]))
    return {"nodes": graph.vcount(), "edges": graph.ecount(),
            "top": [{"node": names[i], "rank": ranks[i]} for i in order[:int(event.get("top", 10))]]}
