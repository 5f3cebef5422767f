# Hand-written example for the faaslab quickstart, not LLM output.
# It plays a "files" model's answer to prompts/median_short.md and carries a
# deliberate FUNCTIONAL DEFECT so that the study shows the FD class: for an
# even total length it returns the upper of the two middle elements instead
# of their mean. Odd totals (and even ones whose middles are equal) pass.


def handler(event, context):
    a, b = event["a"], event["b"]
    merged = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] < b[j]:
            merged.append(a[i])
            i += 1
        else:
            merged.append(b[j])
            j += 1
    merged.extend(a[i:])
    merged.extend(b[j:])
    return {"median": float(merged[len(merged) // 2])}
