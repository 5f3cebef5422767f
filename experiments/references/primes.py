"""Reference implementation of the faaslab quickstart's "primes" task.

Returns the first n prime numbers, found with a sieve of Eratosthenes over a
bound that is guaranteed to hold the n-th prime (Rosser's theorem:
p_n < n (ln n + ln ln n) for n >= 6).
"""
import math


def _bound(n):
    """An upper bound of the n-th prime."""
    if n < 6:
        return 13
    ln = math.log(n)
    return int(n * (ln + math.log(ln))) + 1


def _first_primes(n):
    if n <= 0:
        return []
    limit = _bound(n)
    sieve = bytearray([1]) * (limit + 1)
    sieve[0:2] = b"\x00\x00"
    for p in range(2, math.isqrt(limit) + 1):
        if sieve[p]:
            sieve[p * p :: p] = bytes(len(range(p * p, limit + 1, p)))
    primes = [i for i, is_prime in enumerate(sieve) if is_prime]
    return primes[:n]


def handler(event, context):
    n = int(event["n"])
    if n < 0:
        raise ValueError("n must be a non-negative integer")
    primes = _first_primes(n)
    return {"n": n, "primes": primes, "last": primes[-1] if primes else None}
