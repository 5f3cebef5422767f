"""Reference implementation of the faaslab quickstart's "median" task.

The median of two sorted integer arrays a and b, found by walking both arrays
in merge order up to the middle of their union: O(len(a) + len(b)) time and
O(1) extra space.
"""


def handler(event, context):
    a = event["a"]
    b = event["b"]
    total = len(a) + len(b)
    if total == 0:
        raise ValueError("a and b are both empty")
    i = j = 0
    prev = cur = None
    # Take the elements of the merged order up to index total // 2; the
    # median is that element, or its mean with the one before it.
    for _ in range(total // 2 + 1):
        prev = cur
        if j >= len(b) or (i < len(a) and a[i] <= b[j]):
            cur = a[i]
            i += 1
        else:
            cur = b[j]
            j += 1
    if total % 2 == 1:
        return {"median": float(cur)}
    return {"median": (prev + cur) / 2.0}
