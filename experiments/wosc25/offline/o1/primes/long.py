# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: slow (offline/pool/primes_slow.py).
"""Prime Number by trial division of each candidate by every odd number up to
its square root. Hand-written for the wosc25 offline stand-ins (not LLM output)."""


def is_prime(k):
    if k < 2:
        return False
    if k % 2 == 0:
        return k == 2
    d = 3
    while d * d <= k:
        if k % d == 0:
            return False
        d += 2
    return True


def handler(event, context):
    n = int(event["n"])
    primes, k = [], 2
    while len(primes) < n:
        if is_prime(k):
            primes.append(k)
        k += 1
    return {"n": n, "primes": primes}
