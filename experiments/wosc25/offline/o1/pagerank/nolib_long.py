# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: slow (offline/pool/pagerank_nolib_slow.py).
"""PageRank without libraries, written the slow way: every iteration scans
the whole edge list and recounts out-degrees with dictionaries. Hand-written
for the wosc25 offline stand-ins (not LLM output)."""
import os


def handler(event, context):
    root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))
    damping = float(event.get("damping", 0.85))
    tol = float(event.get("tol", 1e-9))
    max_iter = int(event.get("max_iter", 200))
    edges = []
    nodes = []
    seen = set()
    with open(os.path.join(root, event["edges"])) as f:
        lines = f.read().splitlines()[1:]
    for line in lines:
        if line:
            s, t = line.split(",")
            edges.append((s, t))
            for name in (s, t):
                if name not in seen:
                    seen.add(name)
                    nodes.append(name)
    n = len(nodes)
    rank = {v: 1.0 / n for v in nodes}
    for _ in range(max_iter):
        out = {v: 0 for v in nodes}
        for s, _t in edges:
            out[s] += 1
        lost = sum(rank[v] for v in nodes if out[v] == 0)
        new = {v: (1.0 - damping) / n + damping * lost / n for v in nodes}
        for s, t in edges:
            new[t] += damping * rank[s] / out[s]
        delta = sum(abs(new[v] - rank[v]) for v in nodes)
        rank = new
        if delta < tol:
            break
    ranked = sorted(nodes, key=lambda v: (-rank[v], v))
    top = int(event.get("top", 10))
    return {"nodes": n, "edges": len(edges), "top": [{"node": v, "rank": rank[v]} for v in ranked[:top]]}
