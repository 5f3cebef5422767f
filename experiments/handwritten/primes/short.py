# Hand-written example for the faaslab quickstart, not LLM output.
# It plays a "files" model's answer to prompts/primes_short.md: correct trial
# division by 2, 3 and numbers of the form 6k +/- 1 up to the square root,
# which should run close to the sieve of the reference.


def _is_prime(m):
    if m < 4:
        return m >= 2
    if m % 2 == 0 or m % 3 == 0:
        return False
    k = 5
    while k * k <= m:
        if m % k == 0 or m % (k + 2) == 0:
            return False
        k += 6
    return True


def handler(event, context):
    n = event["n"]
    primes = []
    m = 2
    while len(primes) < n:
        if _is_prime(m):
            primes.append(m)
        m += 1
    return {"n": n, "primes": primes, "last": primes[-1] if primes else None}
