# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: FD, one prime too few (references/primes.py with one change).
"""Reference implementation of wosc25's Prime Number task: the first n primes,
by a sieve of Eratosthenes over a bound from the prime number theorem."""
import math


def handler(event, context):
    n = int(event["n"])
    if n <= 0:
        return {"n": n, "primes": []}
    bound = 15 if n < 6 else int(n * (math.log(n) + math.log(math.log(n)))) + 1
    sieve = bytearray([1]) * (bound + 1)
    sieve[0:2] = b"\x00\x00"
    for p in range(2, math.isqrt(bound) + 1):
        if sieve[p]:
            sieve[p * p::p] = bytes(len(range(p * p, bound + 1, p)))
    primes = [i for i in range(bound + 1) if sieve[i]][:n - 1]
    return {"n": n, "primes": primes}
