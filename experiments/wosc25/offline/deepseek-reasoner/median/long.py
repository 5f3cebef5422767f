# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: fast (references/median.py).
"""Reference implementation of wosc25's Median of Two Arrays task (LeetCode
4): binary search for the partition of the shorter array, O(log min(m, n))."""


def handler(event, context):
    a, b = event["a"], event["b"]
    if len(a) > len(b):
        a, b = b, a
    m, n = len(a), len(b)
    if m + n == 0:
        return {"median": None}
    half = (m + n + 1) // 2
    lo, hi = 0, m
    inf = float("inf")
    while lo <= hi:
        i = (lo + hi) // 2
        j = half - i
        a_left = a[i - 1] if i > 0 else -inf
        a_right = a[i] if i < m else inf
        b_left = b[j - 1] if j > 0 else -inf
        b_right = b[j] if j < n else inf
        if a_left <= b_right and b_left <= a_right:
            left = max(a_left, b_left)
            if (m + n) % 2:
                return {"median": float(left)}
            return {"median": (left + min(a_right, b_right)) / 2.0}
        if a_left > b_right:
            hi = i - 1
        else:
            lo = i + 1
    raise ValueError("inputs are not sorted")
