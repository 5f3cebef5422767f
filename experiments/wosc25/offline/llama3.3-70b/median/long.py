# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: slow (offline/pool/median_slow.py).
"""Median of Two Arrays by merging both arrays element by element. Hand-written for the wosc25 offline stand-ins (not LLM output)."""


def handler(event, context):
    a, b = event["a"], event["b"]
    merged = []
    i = j = 0
    while i < len(a) or j < len(b):
        if j >= len(b) or (i < len(a) and a[i] <= b[j]):
            merged.append(a[i])
            i += 1
        else:
            merged.append(b[j])
            j += 1
    n = len(merged)
    if n == 0:
        return {"median": None}
    if n % 2:
        return {"median": float(merged[n // 2])}
    return {"median": (merged[n // 2 - 1] + merged[n // 2]) / 2.0}
