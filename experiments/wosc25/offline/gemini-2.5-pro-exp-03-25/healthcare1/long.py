# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: fast (references/healthcare1.py).
"""Reference implementation of wosc25's Healthcare 1 task: payment records.

Reads the CSV of payments to physicians shipped with the function, skips the
rows whose amount is missing, not a number or negative, and aggregates the
rest by state, nature of payment, month, payer and physician.
"""
import csv
import os
from collections import defaultdict


def _root():
    return os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))


def handler(event, context):
    top = int(event.get("top", 5))
    states = defaultdict(lambda: [0, 0.0])
    natures = defaultdict(float)
    months = defaultdict(float)
    payers = defaultdict(float)
    physicians = {}
    records = skipped = 0
    total = 0.0
    with open(os.path.join(_root(), event["csv"]), newline="") as f:
        for row in csv.DictReader(f):
            try:
                amount = float(row["amount_usd"])
            except ValueError:
                skipped += 1
                continue
            if amount < 0:
                skipped += 1
                continue
            records += 1
            total += amount
            s = states[row["recipient_state"]]
            s[0] += 1
            s[1] += amount
            natures[row["nature_of_payment"]] += amount
            months[row["payment_date"][:7]] += amount
            payers[row["payer_name"]] += amount
            p = physicians.setdefault(row["physician_id"], [row["physician_specialty"], 0.0])
            p[1] += amount
    by_total = lambda item: (-item[1], item[0])
    return {
        "records": records,
        "skipped_rows": skipped,
        "total_usd": round(total, 2),
        "by_state": {k: {"payments": n, "total_usd": round(t, 2), "mean_usd": round(t / n, 2)}
                     for k, (n, t) in sorted(states.items())},
        "by_nature": {k: round(v, 2) for k, v in sorted(natures.items())},
        "by_month": {k: round(v, 2) for k, v in sorted(months.items())},
        "top_payers": [{"payer": k, "total_usd": round(v, 2)}
                       for k, v in sorted(payers.items(), key=by_total)[:top]],
        "top_physicians": [{"physician_id": k, "specialty": physicians[k][0], "total_usd": round(v, 2)}
                           for k, v in sorted(((k, p[1]) for k, p in physicians.items()), key=by_total)[:top]],
    }
