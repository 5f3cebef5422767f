# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: slow (offline/pool/perfect_slow.py).
"""Perfect Number by trial division of every number below k/2. Hand-written for the wosc25 offline stand-ins (not LLM output)."""


def handler(event, context):
    n = int(event["n"])
    result = []
    for k in range(2, n + 1):
        if sum(d for d in range(1, k // 2 + 1) if k % d == 0) == k:
            result.append(k)
    return {"n": n, "perfect_numbers": result}
