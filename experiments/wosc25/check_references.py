"""Check the wosc25 reference implementations against answers known
independently of them: the problems' published examples, values computed by
hand or by other tools (awk over the CSV), and invariants that tie the
outputs together. Run from experiments/ with Debian's interpreter (the
references import igraph and Pillow):

    /usr/bin/python3 wosc25/check_references.py
"""
import base64
import csv
import importlib.util
import io
import os
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in experiments/

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ["LAMBDA_TASK_ROOT"] = os.path.dirname(HERE)


def ref(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, "references", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def main():
    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append("%s: got %r, want %r" % (what, got, want))

    perfect = ref("perfect")
    expect("perfect n=10000", perfect({"n": 10000}, None)["perfect_numbers"], [6, 28, 496, 8128])
    expect("perfect n=5", perfect({"n": 5}, None)["perfect_numbers"], [])
    primes = ref("primes")
    expect("first 10 primes", primes({"n": 10}, None)["primes"], [2, 3, 5, 7, 11, 13, 17, 19, 23, 29])
    expect("the 1000th prime", primes({"n": 1000}, None)["primes"][-1], 7919)
    expect("the 20000th prime", primes({"n": 20000}, None)["primes"][-1], 224737)
    median = ref("median")
    expect("median [1,3] [2]", median({"a": [1, 3], "b": [2]}, None), {"median": 2.0})
    expect("median [1,2] [3,4]", median({"a": [1, 2], "b": [3, 4]}, None), {"median": 2.5})
    mincost = ref("mincost")
    for nums, k, want in [([1, 2, 1, 2, 1, 3, 3], 2, 8), ([1, 2, 1, 2, 1], 2, 6), ([1, 2, 1, 2, 1], 5, 10)]:
        expect("mincost %s k=%d (LeetCode 2547)" % (nums, k), mincost({"nums": nums, "k": k}, None)["cost"], want)
    collisions = ref("collisions")
    for road, want in [("RLRSLL", 5), ("LLRR", 0), ("", 0), ("SSRSSRLLRSLLRSRSSRLRRRRLLRRLSSRR", 20)]:
        expect("collisions %r (LeetCode 2211)" % road, collisions({"directions": road}, None)["collisions"], want)

    # Healthcare 1: 37 valid rows totalling 210849.06 (awk over the file);
    # the groupings each add up to the total.
    h1 = ref("healthcare1")({"csv": "wosc25/inputs/payments_test.csv", "top": 3}, None)
    expect("healthcare1 records", (h1["records"], h1["skipped_rows"], h1["total_usd"]), (37, 3, 210849.06))
    for part in ("by_nature", "by_month"):
        expect("healthcare1 %s adds up" % part, round(sum(h1[part].values()), 2), h1["total_usd"])
    expect("healthcare1 by_state adds up", sum(s["payments"] for s in h1["by_state"].values()), 37)
    expect("healthcare1 top 3", len(h1["top_payers"]), 3)

    # Healthcare 2: a 0 % cut changes nothing; protecting every programme
    # changes nothing; a 100 % cut without a floor removes all federal money.
    h2 = ref("healthcare2")
    base = {"csv": "wosc25/inputs/funding_test.csv", "fiscal_year": 2025}
    expect("healthcare2 0 %", h2(dict(base, reduction_pct=0), None)["total_reduction_usd"], 0.0)
    programs = sorted({r["program"] for r in csv.DictReader(open(os.path.join(HERE, "inputs", "funding_test.csv")))})
    expect("healthcare2 all protected", h2(dict(base, reduction_pct=50, protected_programs=programs), None)["total_reduction_usd"], 0.0)
    full = h2(dict(base, reduction_pct=100), None)
    expect("healthcare2 100 % cut", all(s["federal_after_usd"] == 0 for s in full["states"].values()), True)

    # Sales: per-day orders add up to the completed rows (counted by csv).
    rows = list(csv.DictReader(open(os.path.join(HERE, "inputs", "orders_test.csv"))))
    sales = ref("sales")({"csv": "wosc25/inputs/orders_test.csv"}, None)
    expect("sales completed orders", sum(d["orders"] for d in sales["days"].values()),
           sum(1 for r in rows if r["status"] == "completed"))
    expect("sales total", round(sum(sales["category_income"].values()), 2), sales["total_income"])

    # PageRank: ranks of a 3-cycle are equal; the top of the test graph sums below 1.
    pr = ref("pagerank")({"edges": "wosc25/inputs/graph_test.csv", "top": 100}, None)
    expect("pagerank ranks sum to 1", round(sum(n["rank"] for n in pr["top"]), 9), 1.0)

    # Thumbnailer: sizes of the boxes.
    from PIL import Image
    thumb = ref("thumbnail")
    for box, want in [((100, 100), (100, 75)), ((64, 48), (64, 48)), ((1000, 1000), (160, 120))]:
        out = thumb({"image": "wosc25/inputs/photo_test.png", "width": box[0], "height": box[1]}, None)
        size = Image.open(io.BytesIO(base64.b64decode(out["thumbnail"]))).size
        expect("thumbnail box %s" % (box,), (out["width"], out["height"], size), want + (want,))

    for f in failures:
        print("FAIL", f)
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
