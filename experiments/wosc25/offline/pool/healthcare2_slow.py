"""Healthcare 2, written the slow way: keeps every row, then scans them all
once per state. Hand-written for the wosc25 offline stand-ins (not LLM output)."""
import csv
import os


def handler(event, context):
    root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, event["csv"]), newline="") as f:
        rows = [r for r in csv.DictReader(f)]
    year = int(event["fiscal_year"])
    cut = float(event["reduction_pct"]) / 100.0
    protected = list(event.get("protected_programs", []))
    floor = float(event.get("floor_per_enrollee_usd", 0))
    states = {}
    grand = 0.0
    for state in sorted(set(r["state"] for r in rows)):
        mine = [r for r in rows if r["state"] == state and int(r["fiscal_year"]) == year]
        if not mine:
            continue
        enrollees = sum(int(r["enrollees"]) for r in mine)
        before = sum(float(r["federal_funding_usd"]) for r in mine)
        own = sum(float(r["state_funding_usd"]) for r in mine)
        after = 0.0
        for r in mine:
            fed = float(r["federal_funding_usd"])
            if r["program"] in protected:
                after += fed
            else:
                after += max(fed * (1.0 - cut), min(fed, floor * int(r["enrollees"])))
        grand += before - after
        states[state] = {
            "enrollees": enrollees,
            "federal_before_usd": round(before, 2),
            "federal_after_usd": round(after, 2),
            "reduction_usd": round(before - after, 2),
            "reduction_pct_of_total": round(100.0 * (before - after) / (before + own), 4),
            "per_enrollee_after_usd": round((after + own) / enrollees, 2),
        }
    ranked = sorted(states, key=lambda s: (-states[s]["reduction_pct_of_total"], s))
    return {"fiscal_year": year, "states": states, "total_reduction_usd": round(grand, 2),
            "most_affected": ranked[:int(event.get("top", 5))]}
