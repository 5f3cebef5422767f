"""Healthcare 1, written the slow way: loads every row into memory, then
filters the whole list once per state, payer, nature and month. Hand-written for the wosc25 offline stand-ins (not LLM output)."""
import csv
import os


def handler(event, context):
    root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, event["csv"]), newline="") as f:
        rows = list(csv.DictReader(f))
    valid = []
    for row in rows:
        try:
            amount = float(row["amount_usd"])
        except ValueError:
            continue
        if amount >= 0:
            row["amount"] = amount
            valid.append(row)

    def total_of(key, value):
        return sum(r["amount"] for r in valid if r[key] == value)

    states = {}
    for state in sorted({r["recipient_state"] for r in valid}):
        amounts = [r["amount"] for r in valid if r["recipient_state"] == state]
        states[state] = {"payments": len(amounts), "total_usd": round(sum(amounts), 2),
                         "mean_usd": round(sum(amounts) / len(amounts), 2)}
    payers = sorted(({"payer": p, "total_usd": total_of("payer_name", p)}
                     for p in {r["payer_name"] for r in valid}),
                    key=lambda d: (-d["total_usd"], d["payer"]))
    doctors = {}
    for r in valid:
        d = doctors.setdefault(r["physician_id"], {"physician_id": r["physician_id"],
                                                   "specialty": r["physician_specialty"], "total_usd": 0.0})
        d["total_usd"] += r["amount"]
    doctors = list(doctors.values())
    doctors.sort(key=lambda d: (-d["total_usd"], d["physician_id"]))
    top = int(event.get("top", 5))
    for d in payers + doctors:
        d["total_usd"] = round(d["total_usd"], 2)
    return {
        "records": len(valid),
        "skipped_rows": len(rows) - len(valid),
        "total_usd": round(sum(r["amount"] for r in valid), 2),
        "by_state": states,
        "by_nature": {n: round(total_of("nature_of_payment", n), 2)
                      for n in sorted({r["nature_of_payment"] for r in valid})},
        "by_month": {m: round(sum(r["amount"] for r in valid if r["payment_date"][:7] == m), 2)
                     for m in sorted({r["payment_date"][:7] for r in valid})},
        "top_payers": payers[:top],
        "top_physicians": doctors[:top],
    }
