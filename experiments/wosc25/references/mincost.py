"""Reference implementation of wosc25's Minimal Cost Split task (LeetCode
2547, Minimum Cost to Split an Array): dynamic programming over the last
subarray's start, keeping the trimmed length of nums[j..i] as j moves left."""


def handler(event, context):
    nums = event["nums"]
    k = int(event["k"])
    n = len(nums)
    best = [0] + [0] * n  # best[i]: least cost of nums[:i]
    for i in range(1, n + 1):
        counts = {}
        trimmed = 0
        cost = None
        for j in range(i - 1, -1, -1):
            c = counts.get(nums[j], 0) + 1
            counts[nums[j]] = c
            if c == 2:
                trimmed += 2
            elif c > 2:
                trimmed += 1
            candidate = best[j] + k + trimmed
            if cost is None or candidate < cost:
                cost = candidate
        best[i] = cost
    return {"cost": best[n]}
