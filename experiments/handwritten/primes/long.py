# Hand-written example for the faaslab quickstart, not LLM output.
# It plays a "files" model's answer to prompts/primes_long.md: correct, but it
# tests each candidate by trial division by every number below it, so it is
# much slower than the sieve of the reference (O(n * p_n) divisions).


def is_prime(m):
    if m < 2:
        return False
    for d in range(2, m):
        if m % d == 0:
            return False
    return True


def handler(event, context):
    n = int(event["n"])
    if n < 0:
        raise ValueError("n must be a non-negative integer")
    primes = []
    candidate = 2
    while len(primes) < n:
        if is_prime(candidate):
            primes.append(candidate)
        candidate += 1
    return {"n": n, "primes": primes, "last": primes[-1] if primes else None}
