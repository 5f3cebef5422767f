# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: slow (offline/pool/mincost_slow.py).
"""Minimal Cost Split with the trimmed length of every subarray recounted
from scratch: O(n^3). Hand-written for the wosc25 offline stand-ins (not LLM output)."""
from collections import Counter


def handler(event, context):
    nums = event["nums"]
    k = int(event["k"])
    n = len(nums)

    def trimmed(j, i):
        return sum(c for c in Counter(nums[j:i]).values() if c > 1)

    best = [0] * (n + 1)
    for i in range(1, n + 1):
        best[i] = min(best[j] + k + trimmed(j, i) for j in range(i))
    return {"cost": best[n]}
