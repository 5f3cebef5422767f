"""Assemble the wosc25 study's offline stand-in models from the hand-written pool.

`faaslab run experiments/wosc25.cue -t models=offline` replaces each of the
paper's 14 LLMs by a "files" model reading offline/<model>/<task>/<variant>.py.
NONE of that code is LLM output. Each file is one of four hand-written kinds,
chosen by what the paper's Table 4 reports for that model and prompt, so that
an offline run shows the same pattern of outcome classes:

  SE    Table 4 says SE: the "fast" code with a syntax error (a colon missing)
  FD    Table 4 says FD: the "fast" code with one documented logic defect
  slow  a runtime difference of 100 % or more: the task's slow alternative
  fast  a smaller difference: the reference implementation (or, for the
        no-library variants, the hand-written library-free implementation)

deepseek-r1-8b is not in Table 4 ("it produced no functionally correct
code"); its stand-ins alternate FD and SE. The runtimes of an offline run
come from this machine and these alternatives, not from the models: they
rehearse the study and its tables, they do not reproduce its numbers.

Run from experiments/ after changing the pool, the references or the table:

    /usr/bin/python3 wosc25/offline/assemble.py          # rewrite the tree
    /usr/bin/python3 wosc25/offline/assemble.py --check  # exit 1 if stale
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REFS = os.path.join(HERE, "..", "references")
POOL = os.path.join(HERE, "pool")

# Rows of Table 4, in its order: (task, variant).
ROWS = [("healthcare1", "long"), ("healthcare2", "long"), ("sales", "long"), ("perfect", "long"),
        ("primes", "long"), ("pagerank", "long"), ("pagerank", "short"), ("pagerank", "nolib_long"),
        ("pagerank", "nolib_short"), ("thumbnail", "long"), ("thumbnail", "short"),
        ("thumbnail", "nolib_long"), ("thumbnail", "nolib_short"), ("mincost", "long"),
        ("collisions", "long"), ("median", "long")]

# Table 4's columns (the study's model ids) and cells, row by row as above.
TABLE4 = {
    "deepseek-reasoner": "SE 0.00 SE -0.62 -46.79 1126.45 21.39 3606.50 613.08 FD FD SE 43.57 SE 619.15 29.56",
    "gpt-4o": "2.84 10.75 FD 0.00 417.96 75612.85 0.00 491.38 671.25 FD FD 12.77 78.26 21072.83 399.62 48.48",
    "o1": "0.00 SE 0.00 0.76 455.44 618.63 51.61 32077.09 773.52 0.17 FD 40.45 FD FD 437.23 0.00",
    "gemini-2.5-pro-exp-03-25": "20.36 15.14 9.14 0.50 0.00 466.22 -0.27 3603.06 732.16 FD FD 0.00 285.58 0.00 676.97 35.14",
    "gemini-2.0-flash": "SE SE SE 0.20 -2.14 FD 51.08 6083.39 115124.79 FD FD SE FD 49650.71 0.00 53.28",
    "grok-3-beta": "-39.21 -37.02 SE 3.35 861.35 5768.82 22.37 1771.68 9895.98 SE SE SE FD SE 65.92 49.76",
    "llama3.3-70b": "FD FD FD 10215.34 1.86 FD 24.48 -84.37 1578.18 SE FD FD FD FD 420.24 113.17",
    "gpt-4o-mini": "FD FD FD 10345.47 820.99 10552.53 -0.77 16776.33 FD FD FD 25.65 FD FD -2.49 46.88",
    "o1-mini": "SE FD 5.26 3.04 4.89 SE 51.82 SE 20220.56 FD FD -8.33 FD FD 634.29 13846.91",
    "o3-mini": "SE SE SE 0.32 5.09 1290.66 264.90 1716.38 246.22 SE FD SE FD 15506.58 469.38 -7.35",
    "grok-3-mini-beta": "FD -9.85 -5.35 0.06 0.23 326882.06 0.47 67083.12 76997.49 SE FD -9.48 75.61 26055.37 SE 45.89",
    "deepseek-r1-32b": "-15.77 SE SE FD 815.11 FD 21.07 FD FD FD FD FD SE FD SE FD",
    "qwen2.5-coder-7b": "SE FD SE FD 5750.05 FD FD 93038.03 FD FD FD SE FD SE FD FD",
    "deepseek-r1-8b": " ".join(["FD", "SE"] * 8),
}

# The "fast" and "slow" code of each task and variant.
LIB = {t: ("references/%s.py" % t, "offline/pool/%s_slow.py" % t) for t, _ in ROWS}
NOLIB = {"pagerank": ("offline/pool/pagerank_nolib.py", "offline/pool/pagerank_nolib_slow.py"),
         "thumbnail": ("offline/pool/thumbnail_nolib.py", "offline/pool/thumbnail_nolib_slow.py")}

# The functional defect of each task's FD stand-in: (kind of code, old text,
# new text, what is wrong). Each replacement must match exactly once.
DEFECTS = {
    ("healthcare1", "lib"): ("            if amount < 0:\n", "            if amount < -1e12:\n",
                             "negative amounts are counted instead of skipped"),
    ("healthcare2", "lib"): ('            if row["program"] not in protected:\n', "            if True:\n",
                             "protected programmes are cut too"),
    ("sales", "lib"): ('            if status != "completed":\n', '            if status == "refunded":\n',
                       "cancelled orders are counted as income"),
    ("perfect", "lib"): ("        total = 1\n", "        total = 0\n",
                         "the divisor 1 is left out, so nothing is found"),
    ("primes", "lib"): ("[:n]\n", "[:n - 1]\n", "one prime too few"),
    ("pagerank", "lib"): ("0.85)), directed=True)\n", "0.85)), directed=False)\n",
                          "the graph's edges are taken as undirected"),
    ("pagerank", "nolib"): ("damping * sum(rank[v] for v in dangling) / n", "0.0",
                            "the rank of dangling nodes is dropped, not spread"),
    ("thumbnail", "lib"): ("        img.thumbnail((int(event[\"width\"]), int(event[\"height\"])), Image.Resampling.LANCZOS)\n",
                           "        img = img.resize((int(event[\"width\"]), int(event[\"height\"])), Image.Resampling.LANCZOS)\n",
                           "stretched to the box: the aspect ratio is lost"),
    ("thumbnail", "nolib"): ("            for c in range(3):\n", "            for c in (2, 1, 0):\n",
                             "red and blue are swapped"),
    ("mincost", "lib"): ("                trimmed += 2\n", "                trimmed += 1\n",
                         "a value seen twice adds 1 to the trimmed length, not 2"),
    ("collisions", "lib"): ('event["directions"].lstrip("L").rstrip("R")', 'event["directions"].rstrip("R")',
                            "cars leaving on the left are counted as colliding"),
    ("median", "lib"): ("            return {\"median\": (left + min(a_right, b_right)) / 2.0}\n",
                        "            return {\"median\": float(left)}\n",
                        "an even total returns the lower middle element"),
}


def kind_of(cell):
    if cell in ("SE", "FD"):
        return cell
    return "slow" if float(cell) >= 100 else "fast"


def code_for(task, variant, kind):
    lib = "lib" if not variant.startswith("nolib") else "nolib"
    fast, slow = (LIB if lib == "lib" else NOLIB)[task]
    what = {"fast": fast, "slow": slow}.get(kind, fast)
    with open(os.path.join(HERE, "..", what)) as f:
        code = f.read()
    note = "%s (%s)" % (kind, what)
    if kind == "FD":
        old, new, why = DEFECTS[(task, lib)]
        if code.count(old) != 1:
            raise SystemExit("assemble: the defect of %s/%s matches %d times in %s" % (task, lib, code.count(old), what))
        code = code.replace(old, new)
        note = "FD, %s (%s with one change)" % (why, what)
    elif kind == "SE":
        old = "def handler(event, context):\n"
        if code.count(old) != 1:
            raise SystemExit("assemble: %s has no single handler definition" % what)
        code = code.replace(old, "def handler(event, context)\n")
        note = "SE, the colon of the handler's def is missing (%s with one change)" % what
    header = ("# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool\n"
              "# or wosc25/references, assembled by wosc25/offline/assemble.py.\n"
              "# Kind: %s.\n" % note)
    return header + code


def tree():
    files = {}
    for model, cells in TABLE4.items():
        cells = cells.split()
        assert len(cells) == len(ROWS), model
        for (task, variant), cell in zip(ROWS, cells):
            files[os.path.join(model, task, variant + ".py")] = code_for(task, variant, kind_of(cell))
    return files


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for rel, code in sorted(tree().items()):
        path = os.path.join(HERE, rel)
        try:
            with open(path) as f:
                same = f.read() == code
        except FileNotFoundError:
            same = False
        if same:
            continue
        stale.append(rel)
        if not check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(code)
    if check and stale:
        print("wosc25/offline is stale (run assemble.py): " + ", ".join(stale), file=sys.stderr)
        sys.exit(1)
    if not check:
        print("%d files rewritten" % len(stale))


if __name__ == "__main__":
    main()
