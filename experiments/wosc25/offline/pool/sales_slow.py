"""Sales Analysis, written the slow way: parses every timestamp with
datetime and scans all orders once per day and per category. Hand-written for the wosc25 offline stand-ins (not LLM output)."""
import csv
import os
from datetime import datetime


def handler(event, context):
    root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, event["csv"]), newline="") as f:
        orders = list(csv.DictReader(f))
    for o in orders:
        o["day"] = datetime.strptime(o["timestamp"], "%Y-%m-%dT%H:%M:%S").date().isoformat()
        o["income"] = int(o["quantity"]) * float(o["unit_price"]) * (1 - float(o["discount_pct"]) / 100)
    days = {}
    for day in sorted({o["day"] for o in orders}):
        todays = [o for o in orders if o["day"] == day]
        done = [o for o in todays if o["status"] == "completed"]
        income = sum(o["income"] for o in done)
        days[day] = {"orders": len(done), "items": sum(int(o["quantity"]) for o in done),
                     "income": round(income, 2),
                     "cancelled": sum(1 for o in todays if o["status"] == "cancelled"),
                     "refunded": sum(1 for o in todays if o["status"] == "refunded"),
                     "avg_order_value": round(income / len(done), 2) if done else 0.0}
    done = [o for o in orders if o["status"] == "completed"]
    cats = {c: sum(o["income"] for o in done if o["category"] == c)
            for c in sorted({o["category"] for o in done})}
    best = None
    for day in days:
        exact = sum(o["income"] for o in done if o["day"] == day)
        if best is None or exact > best[1]:
            best = (day, exact)
    return {"days": days, "best_day": best[0] if best else None,
            "category_income": {c: round(v, 2) for c, v in cats.items()},
            "total_income": round(sum(cats.values()), 2),
            "unique_customers": len({o["customer_id"] for o in done})}
