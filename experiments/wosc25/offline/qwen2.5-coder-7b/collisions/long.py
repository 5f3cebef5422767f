# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: FD, cars leaving on the left are counted as colliding (references/collisions.py with one change).
"""Reference implementation of wosc25's Car Collision task (LeetCode 2211,
Count Collisions on a Road): every car except those that leave the road on
the left (leading L) or on the right (trailing R) ends up stopped by a
collision, and each moving car that stops adds one collision."""


def handler(event, context):
    road = event["directions"].rstrip("R")
    return {"collisions": len(road) - road.count("S")}
