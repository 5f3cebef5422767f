# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: fast (references/perfect.py).
"""Reference implementation of wosc25's Perfect Number task.

Every perfect number up to n, by summing each number's proper divisors in
pairs up to its square root.
"""


def handler(event, context):
    n = int(event["n"])
    found = []
    for k in range(2, n + 1):
        total = 1
        d = 2
        while d * d <= k:
            if k % d == 0:
                total += d
                if d * d != k:
                    total += k // d
            d += 1
        if total == k:
            found.append(k)
    return {"n": n, "perfect_numbers": found}
