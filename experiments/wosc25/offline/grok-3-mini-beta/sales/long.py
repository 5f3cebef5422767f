# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: fast (references/sales.py).
"""Reference implementation of wosc25's Sales Analysis task.

Per calendar day: completed orders, items sold, income (quantity x unit price
less the discount, completed orders only), average order value, and the
cancelled and refunded orders; then the best day, income per category, the
total income and the number of distinct customers with a completed order.
"""
import csv
import os
from collections import defaultdict


def _root():
    return os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))


def handler(event, context):
    days = defaultdict(lambda: {"orders": 0, "items": 0, "income": 0.0, "cancelled": 0, "refunded": 0})
    categories = defaultdict(float)
    customers = set()
    with open(os.path.join(_root(), event["csv"]), newline="") as f:
        for row in csv.DictReader(f):
            d = days[row["timestamp"][:10]]
            status = row["status"]
            if status != "completed":
                d[status] += 1
                continue
            qty = int(row["quantity"])
            income = qty * float(row["unit_price"]) * (1.0 - float(row["discount_pct"]) / 100.0)
            d["orders"] += 1
            d["items"] += qty
            d["income"] += income
            categories[row["category"]] += income
            customers.add(row["customer_id"])
    out = {}
    for day, d in sorted(days.items()):
        out[day] = dict(d, income=round(d["income"], 2),
                        avg_order_value=round(d["income"] / d["orders"], 2) if d["orders"] else 0.0)
    best = min(out, key=lambda k: (-days[k]["income"], k)) if out else None
    return {
        "days": out,
        "best_day": best,
        "category_income": {k: round(v, 2) for k, v in sorted(categories.items())},
        "total_income": round(sum(categories.values()), 2),
        "unique_customers": len(customers),
    }
