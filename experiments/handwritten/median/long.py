# Hand-written example for the faaslab quickstart, not LLM output.
# It plays a "files" model's answer to prompts/median_long.md: correct, but it
# concatenates the arrays and sorts them instead of merging, so its speed
# differs from the reference's merge walk.


def handler(event, context):
    a = event.get("a", [])
    b = event.get("b", [])
    merged = sorted(a + b)
    n = len(merged)
    if n == 0:
        raise ValueError("both arrays are empty")
    mid = n // 2
    if n % 2 == 1:
        median = float(merged[mid])
    else:
        median = (merged[mid - 1] + merged[mid]) / 2
    return {"median": median}
