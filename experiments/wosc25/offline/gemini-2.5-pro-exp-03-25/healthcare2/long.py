# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: fast (references/healthcare2.py).
"""Reference implementation of wosc25's Healthcare 2 task: funding reduction.

For one fiscal year, cuts every state's federal funding of the programmes
that are not protected by reduction_pct percent, but never below the floor of
floor_per_enrollee_usd per enrollee (a programme already below the floor
keeps its funding), and reports per state the funding before and after.
"""
import csv
import os


def _root():
    return os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))


def handler(event, context):
    year = int(event["fiscal_year"])
    cut = float(event["reduction_pct"]) / 100.0
    protected = set(event.get("protected_programs", []))
    floor = float(event.get("floor_per_enrollee_usd", 0))
    top = int(event.get("top", 5))
    states = {}
    with open(os.path.join(_root(), event["csv"]), newline="") as f:
        for row in csv.DictReader(f):
            if int(row["fiscal_year"]) != year:
                continue
            enrollees = int(row["enrollees"])
            federal = float(row["federal_funding_usd"])
            own = float(row["state_funding_usd"])
            after = federal
            if row["program"] not in protected:
                after = max(federal * (1.0 - cut), min(federal, floor * enrollees))
            s = states.setdefault(row["state"], [0, 0.0, 0.0, 0.0])
            s[0] += enrollees
            s[1] += federal
            s[2] += after
            s[3] += own
    out = {}
    for state, (enrollees, before, after, own) in sorted(states.items()):
        out[state] = {
            "enrollees": enrollees,
            "federal_before_usd": round(before, 2),
            "federal_after_usd": round(after, 2),
            "reduction_usd": round(before - after, 2),
            "reduction_pct_of_total": round(100.0 * (before - after) / (before + own), 4),
            "per_enrollee_after_usd": round((after + own) / enrollees, 2),
        }
    ranked = sorted(out, key=lambda s: (-out[s]["reduction_pct_of_total"], s))
    return {
        "fiscal_year": year,
        "states": out,
        "total_reduction_usd": round(sum(b - a for _, b, a, _ in states.values()), 2),
        "most_affected": ranked[:top],
    }
