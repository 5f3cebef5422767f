#!/usr/bin/env python3
"""Print a summary of one faaslab run with pandas.

Usage:
    python3 examples/summary.py results/<study>/<run>/tables

The tables are described in docs/tables.md. pandas needs pyarrow to read
Parquet (pandas.read_parquet) and Arrow/Feather (pandas.read_feather) files.
With pyarrow installed, this script reads the Parquet files, or the .arrow
files when there are no Parquet files. Without pyarrow it reads the CSV
files, which faaslab writes beside them. Debian 12 packages pandas
(apt-get install python3-pandas) but not pyarrow; the CSV path works there.
"""

import os
import sys

import pandas as pd

# Columns that may be null. In CSV a null is an empty field; in every other
# column an empty field is an empty string.
NULLABLE = [
    "input_tokens", "output_tokens", "cost_usd", "latency_ms",
    "cyclomatic_complexity", "halstead_difficulty", "maintainability_index",
    "pylint_score", "duration_ms", "init_ms", "billed_ms", "billed_estimate_ms", "max_memory_used_mb",
    "mean_ms", "sd_ms", "cv", "median_ms", "p95_ms", "min_ms", "max_ms",
    "ci95_low_ms", "ci95_high_ms", "reference_mean_ms", "pct_diff_vs_reference",
    "cost_per_1m_usd",
]

# Time columns, UTC. A time that was never set is 0001-01-01, which pandas
# cannot hold in nanoseconds: it becomes NaT.
TIMES = ["created_at", "checked_at", "started_at", "finished_at"]


def have_pyarrow():
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def read_table(tables_dir, name):
    """Read one table into a DataFrame, from the best format available."""
    path = os.path.join(tables_dir, name)
    if have_pyarrow():
        if os.path.exists(path + ".parquet"):
            return pd.read_parquet(path + ".parquet")
        if os.path.exists(path + ".arrow"):
            return pd.read_feather(path + ".arrow")
    if not os.path.exists(path + ".csv"):
        sys.exit(f"{path}.csv: not found (faaslab writes it beside the Parquet files; run faaslab export)")
    # keep_default_na=False keeps strings such as "NA" or "" as they are;
    # only the nullable columns read an empty field as NaN.
    df = pd.read_csv(path + ".csv", keep_default_na=False,
                     na_values={c: [""] for c in NULLABLE})
    for c in TIMES:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c], utc=True, errors="coerce")
    return df


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: summary.py TABLES_DIR")
    tables_dir = argv[1]
    generations = read_table(tables_dir, "generations")
    invocations = read_table(tables_dir, "invocations")
    cells = read_table(tables_dir, "cells")
    manifest = read_table(tables_dir, "manifest")
    pd.set_option("display.width", 160)

    for run in manifest.itertuples():
        print(f"study {run.study}, run {run.run_id}, faaslab {run.faaslab_version}, "
              f"started {run.started_at}")

    print("\nOutcome classes per model:")
    classes = pd.crosstab(generations["model"], generations["class"])
    classes["pct_ok"] = (100 * classes.get("OK", 0) / classes.sum(axis=1)).round(1)
    print(classes.to_string())

    # Warm runtime per model and task, from the measured calls, with the %
    # difference of the mean from the reference implementation's mean on
    # the same task, platform, architecture and memory size.
    keys = ["task", "platform", "arch", "memory_mb"]
    measured = invocations[~invocations["warmup"] & (invocations["status"] == "ok")]
    per_model = (measured.groupby(["model"] + keys)["duration_ms"]
                 .agg(n="count", mean_ms="mean", sd_ms="std", median_ms="median",
                      p95_ms=lambda d: d.quantile(0.95))
                 .reset_index())
    per_model["cv"] = per_model["sd_ms"] / per_model["mean_ms"]
    reference_models = generations.loc[generations["provider"] == "reference", "model"].unique()
    reference = (measured[measured["model"].isin(reference_models)]
                 .groupby(keys)["duration_ms"].mean()
                 .rename("reference_mean_ms").reset_index())
    per_model = per_model.merge(reference, on=keys, how="left")
    per_model["pct_diff_vs_reference"] = (
        100 * (per_model["mean_ms"] - per_model["reference_mean_ms"]) / per_model["reference_mean_ms"])
    print("\nWarm runtime per model and task (ms):")
    print(per_model.drop(columns="reference_mean_ms").round(3).to_string(index=False))

    print("\nPer model and variant, from the cells table:")
    summary = (cells[cells["n"] > 0]
               .groupby(["model", "variant"])
               .agg(cells=("cell_id", "count"), invocations=("n", "sum"),
                    mean_pct_diff_vs_reference=("pct_diff_vs_reference", "mean"),
                    mean_cost_per_1m_usd=("cost_per_1m_usd", "mean")))
    print(summary.round(4).to_string())


if __name__ == "__main__":
    main(sys.argv)
