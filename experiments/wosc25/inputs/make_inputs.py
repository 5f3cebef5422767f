"""Regenerate the wosc25 study's input files, deterministically.

The WoSC '25 paper does not publish its inputs; these are written from its
descriptions. Every file is made from a fixed seed with Python's
random.Random (whose seeded sequence is stable across Python versions), so
running this script again rewrites the same bytes. Run it from experiments/:

    /usr/bin/python3 wosc25/inputs/make_inputs.py

Files (tests use the small ones, whose answers are small enough to check by
hand; benchmarks use the large ones):

  payments_test.csv, payments.csv   Healthcare 1: payment records (with a
                                    few malformed rows, which must be skipped)
  funding_test.csv, funding.csv     Healthcare 2: state programme funding
  orders_test.csv, orders.csv       Sales Analysis: orders over 90 days
  graph_test.csv, graph.csv         PageRank: directed edge lists
                                    (preferential attachment)
  photo_test.png, photo.png         Thumbnailer: 160x120 and 640x480 RGB
"""
import csv
import math
import os
import random
import zlib
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 562

STATES = ["AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
          "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
          "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
          "VA", "WA", "WV", "WI", "WY"]
SPECIALTIES = ["Cardiology", "Dermatology", "Family Medicine", "Internal Medicine", "Neurology",
               "Oncology", "Orthopedic Surgery", "Pediatrics", "Psychiatry", "Radiology"]
PAYERS = ["Abbvie Inc.", "Amgen Inc.", "AstraZeneca Pharmaceuticals LP", "Boston Scientific Corporation",
          "Bristol-Myers Squibb", "Eli Lilly and Company", "Genentech, Inc.", "Johnson & Johnson",
          "Medtronic USA, Inc.", "Merck Sharp & Dohme LLC", "Novartis Pharmaceuticals Corporation",
          "Pfizer Inc.", "Sanofi US", "Stryker Corporation", "Zimmer Biomet"]
NATURES = ["Food and Beverage", "Consulting Fee", "Travel and Lodging", "Education", "Speaker Fee",
           "Royalty or License", "Grant", "Gift"]
FORMS = ["Cash or cash equivalent", "In-kind items and services", "Stock or stock option"]
PROGRAMS = ["Medicaid", "CHIP", "Public Health Emergency Preparedness", "Mental Health Block Grant",
            "Substance Use Prevention", "Maternal and Child Health"]
CATEGORIES = {"Electronics": [("Headphones", 59.99), ("USB-C Charger", 24.5), ("Smart Watch", 199.0)],
              "Home": [("Desk Lamp", 34.95), ("Coffee Maker", 89.0), ("Throw Blanket", 29.99)],
              "Books": [("Cookbook", 22.0), ("Novel", 14.99), ("Atlas", 45.0)],
              "Sports": [("Yoga Mat", 25.0), ("Dumbbells", 64.5), ("Water Bottle", 12.75)],
              "Grocery": [("Coffee Beans", 16.49), ("Olive Oil", 11.99), ("Green Tea", 6.5)]}


def payments(path, rows, rng):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["record_id", "payment_date", "physician_id", "physician_specialty",
                    "recipient_state", "payer_name", "nature_of_payment", "form_of_payment",
                    "amount_usd", "number_of_payments"])
        physicians = [("P%06d" % rng.randrange(10**6), rng.choice(SPECIALTIES), rng.choice(STATES))
                      for _ in range(max(8, rows // 25))]
        for i in range(rows):
            pid, spec, state = rng.choice(physicians)
            nature = rng.choice(NATURES)
            scale = {"Food and Beverage": 25, "Gift": 40, "Education": 150, "Travel and Lodging": 600,
                     "Consulting Fee": 2500, "Speaker Fee": 3000, "Royalty or License": 15000,
                     "Grant": 20000}[nature]
            amount = "%.2f" % (rng.lognormvariate(0, 0.9) * scale)
            malformed = rng.random() < 0.01
            if rows < 100:  # the test file holds one of each kind
                malformed = i in (6, 22, 32)
            if malformed:
                amount = ["", "N/A", "-%s" % amount][i % 3]  # to be skipped
            date = "2024-%02d-%02d" % (rng.randint(1, 12), rng.randint(1, 28))
            w.writerow(["R%08d" % (i + 1), date, pid, spec, state, rng.choice(PAYERS), nature,
                        rng.choice(FORMS), amount, rng.randint(1, 3)])


def funding(path, years, rng):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["state", "program", "fiscal_year", "enrollees", "federal_funding_usd",
                    "state_funding_usd"])
        for state in STATES:
            size = rng.lognormvariate(0, 1.0)
            for program in PROGRAMS:
                base = {"Medicaid": 9000, "CHIP": 3000}.get(program, 400)
                for year in years:
                    enrollees = max(100, int(size * rng.uniform(20000, 400000) *
                                             (1.0 if program != "CHIP" else 0.2)))
                    per = base * rng.uniform(0.25, 1.6)
                    fed = enrollees * per * rng.uniform(0.5, 0.75)
                    st = enrollees * per - fed
                    w.writerow([state, program, year, enrollees, "%.2f" % fed, "%.2f" % st])


def orders(path, rows, rng):
    products = [(c, p, price) for c, ps in CATEGORIES.items() for p, price in ps]
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["order_id", "timestamp", "customer_id", "category", "product", "quantity",
                    "unit_price", "discount_pct", "status"])
        for i in range(rows):
            day = rng.randrange(90)
            month, mday = (3, day + 1) if day < 31 else ((4, day - 30) if day < 61 else (5, day - 60))
            ts = "2024-%02d-%02dT%02d:%02d:%02d" % (month, mday, rng.randrange(24), rng.randrange(60),
                                                  rng.randrange(60))
            cat, prod, price = rng.choice(products)
            status = rng.choices(["completed", "cancelled", "refunded"], [90, 7, 3])[0]
            w.writerow(["O%07d" % (i + 1), ts, "C%05d" % rng.randrange(max(10, rows // 8)), cat, prod,
                        rng.randint(1, 5), "%.2f" % price, rng.choice([0, 0, 0, 5, 10, 15, 20]), status])


def graph(path, nodes, m, rng):
    """Directed preferential attachment: each new node links to m earlier
    ones, chosen in proportion to their degree; node 0..m-1 link in a ring.
    Nodes are named n0, n1, ...; a few nodes link nowhere (dangling)."""
    edges, targets = [], []
    for v in range(m):
        edges.append((v, (v + 1) % m))
        targets += [v, (v + 1) % m]
    for v in range(m, nodes):
        chosen = set()
        while len(chosen) < m:
            chosen.add(rng.choice(targets))
        for u in sorted(chosen):
            edges.append((v, u))
            targets += [v, u]
    # Nodes whose out-links are dropped: dangling nodes spread their rank.
    dangling = set(rng.sample(range(nodes), max(1, nodes // 50)))
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["source", "target"])
        for s, t in edges:
            if s not in dangling:
                w.writerow(["n%d" % s, "n%d" % t])


def png(path, width, height, rng):
    """An RGB picture with gradients, shapes and noise, written as PNG by
    hand (zlib, filter 0 on every row) so the script needs no Pillow."""
    cx, cy, r = width * 0.3, height * 0.4, min(width, height) * 0.25
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        for x in range(width):
            red = 40 + 150 * x / width + 20 * math.sin(y / 9.0)
            green = 90 + 100 * y / height + 15 * math.sin((x + y) / 13.0)
            blue = 200 - 120 * y / height + 25 * math.cos(x / 17.0)
            if (x - cx) ** 2 + (y - cy) ** 2 < r * r:
                red, green, blue = 240, 200, 40
            elif x > width * 0.55 and y > height * 0.5:
                red, green, blue = 60, 120, 60
            n = rng.gauss(0, 3)
            raw += bytes(max(0, min(255, int(c + n))) for c in (red, green, blue))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(bytes(raw), 9)))
        f.write(chunk(b"IEND", b""))


def main():
    out = lambda name: os.path.join(HERE, name)
    payments(out("payments_test.csv"), 40, random.Random(SEED + 1))
    payments(out("payments.csv"), 20000, random.Random(SEED + 2))
    funding(out("funding_test.csv"), [2025], random.Random(SEED + 3))
    funding(out("funding.csv"), list(range(2016, 2026)), random.Random(SEED + 4))
    orders(out("orders_test.csv"), 60, random.Random(SEED + 5))
    orders(out("orders.csv"), 20000, random.Random(SEED + 6))
    graph(out("graph_test.csv"), 30, 2, random.Random(SEED + 7))
    graph(out("graph.csv"), 5000, 4, random.Random(SEED + 8))
    png(out("photo_test.png"), 160, 120, random.Random(SEED + 9))
    png(out("photo.png"), 640, 480, random.Random(SEED + 10))
    for name in sorted(os.listdir(HERE)):
        if not name.endswith(".py"):
            print(name, os.path.getsize(out(name)), "bytes")


if __name__ == "__main__":
    main()
