# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: FD, the rank of dangling nodes is dropped, not spread (offline/pool/pagerank_nolib.py with one change).
"""PageRank without libraries: power iteration over the edge list, the rank
of dangling nodes spread evenly over all nodes. Hand-written for the wosc25
offline stand-ins (not LLM output)."""
import os


def handler(event, context):
    root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))
    damping = float(event.get("damping", 0.85))
    tol = float(event.get("tol", 1e-9))
    max_iter = int(event.get("max_iter", 200))
    index, names, edges = {}, [], []
    with open(os.path.join(root, event["edges"])) as f:
        next(f)
        for line in f:
            line = line.strip()
            if not line:
                continue
            s, t = line.split(",")
            for name in (s, t):
                if name not in index:
                    index[name] = len(names)
                    names.append(name)
            edges.append((index[s], index[t]))
    n = len(names)
    out_degree = [0] * n
    incoming = [[] for _ in range(n)]
    for s, t in edges:
        out_degree[s] += 1
        incoming[t].append(s)
    dangling = [v for v in range(n) if out_degree[v] == 0]
    rank = [1.0 / n] * n
    for _ in range(max_iter):
        share = [rank[v] / out_degree[v] if out_degree[v] else 0.0 for v in range(n)]
        base = (1.0 - damping) / n + 0.0
        new = [base + damping * sum(share[u] for u in incoming[v]) for v in range(n)]
        delta = sum(abs(a - b) for a, b in zip(new, rank))
        rank = new
        if delta < tol:
            break
    order = sorted(range(n), key=lambda v: (-rank[v], names[v]))
    top = int(event.get("top", 10))
    return {"nodes": n, "edges": len(edges),
            "top": [{"node": names[v], "rank": rank[v]} for v in order[:top]]}
