# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: slow (offline/pool/collisions_slow.py).
"""Car Collision by simulating the road with a stack of moving cars. Hand-written for the wosc25 offline stand-ins (not LLM output)."""


def handler(event, context):
    stack = []
    collisions = 0
    for car in event["directions"]:
        if car == "R":
            stack.append("R")
        elif car == "S":
            while stack and stack[-1] == "R":
                stack.pop()
                collisions += 1
            stack.append("S")
        else:
            if stack and stack[-1] == "R":
                collisions += 2
                stack.pop()
                while stack and stack[-1] == "R":
                    stack.pop()
                    collisions += 1
                stack.append("S")
            elif stack and stack[-1] == "S":
                collisions += 1
            else:
                pass
    return {"collisions": collisions}
