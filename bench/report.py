"""Renders bench/run.sh's measurements as a Markdown table: printed, and
written with the machine, date, commit and DuckDB version to the file named
by the first argument. Reads the measurements from $BENCH_OUT: ID.json
(hyperfine's export), ID.rss (peak RSS in kB, GNU time's %M), ID.lines (the
log_data lines loaded), lambda-FN.size (bytes and build time, or "not built")
and aws-*.dataapi / aws-*.executions (the AWS path's Data API counts)."""

import re

import json
import os
import sys

OUT = os.environ["BENCH_OUT"]

# (id, work, size, target, the floor it is compared with, whether the
# floor applies: the row loads the whole year's log_data into a fresh
# warehouse as the floor does; otherwise the ratio is only informative).
ROWS = [
    ("gen", "`ovom generate`", "default (7k / 70k)", "< 0.5 s", "floor", False),
    ("gen100", "`ovom generate`", "100× (700k / 7M)", "< 30 s", "floor100", False),
    ("run", "`ovom run`, all days, fresh warehouse", "default", "≤ 1.3× floor", "floor", True),
    ("run100", "`ovom run`, all days, fresh warehouse", "100×", "≤ 1.5× floor, peak RSS < 2 GB", "floor100", True),
    ("day", "`ovom run --date 2025-12-31` (the newest day), warehouse holds the year", "default", "< 50 ms", "floor", False),
    ("backfill", "`ovom backfill`, 365 days, a month per execution, fresh warehouse", "default", "< 5 s", "floor", True),
    ("backfill1", "`ovom backfill --days-per-execution 1`, 365 days, fresh warehouse", "default", "—", "floor", True),
    ("lambda-Stage", "Stage Lambda bootstrap (size)", "—", "< 10 MB", None, False),
    ("lambda-Load", "Load Lambda bootstrap (size)", "—", "< 10 MB", None, False),
    ("lambda-Quality", "Quality Lambda bootstrap (size)", "—", "< 10 MB", None, False),
    ("lambda-Erase", "Erase Lambda bootstrap (size)", "—", "< 10 MB", None, False),
    ("floor", "floor: DuckDB CLI `read_json` of log_data → table, fresh database", "default", "—", None, False),
    ("floor100", "floor: DuckDB CLI `read_json` of log_data → table, fresh database", "100×", "—", None, False),
    ("twice", "the floor, then the same rows into a second table (the least a design keeping staged tests and a fact writes)", "default", "—", "floor", False),
    ("twice100", "the floor, then the same rows into a second table (the least a design keeping staged tests and a fact writes)", "100×", "—", "floor100", False),
]
LIMITS = {"gen": 0.5, "gen100": 30.0, "day": 0.05, "backfill": 5.0}
RATIO_LIMITS = {"run": 1.3, "run100": 1.5}  # ovom's median over the floor's
RSS_LIMIT = 2e9  # bytes, run100
SIZE_LIMIT = 10e6  # bytes, each bootstrap


def read(name):
    path = os.path.join(OUT, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read().strip()


def timing(row_id):
    text = read(row_id + ".json")
    if text is None:
        return None
    r = json.loads(text)["results"][0]
    return {"median": r["median"], "min": r["min"], "max": r["max"], "runs": len(r["times"])}


def secs(t):
    if t < 1:
        return f"{t * 1000:.0f} ms"
    if t < 10:
        return f"{t:.2f} s"
    return f"{t:.1f} s"


def size(b):
    if b >= 1e9:
        return f"{b / 1e9:.2f} GB"
    return f"{b / 1e6:.0f} MB" if b >= 100e6 else f"{b / 1e6:.2f} MB"


def ratio(x):
    return f"×{x:.0f}" if x >= 10 else f"×{x:.2f}"


lines = [
    "| work | size | runs | median | min | max | peak RSS | target | ratio to floor | met? |",
    "|---|---|---|---|---|---|---|---|---|---|",
]
notes = []
for row_id, work, data_size, target, floor_id, applies in ROWS:
    if row_id.startswith("lambda-"):
        text = read(row_id + ".size")
        if text is None:
            cells = ["—", "not run", "—", "—", "—", "—", "—"]
        elif not text[0].isdigit():  # "not built", "build failed"
            cells = ["—", text, "—", "—", "—", "—", "—"]
        else:
            nbytes, built = text.split(" ", 1)
            nbytes = int(nbytes)
            ok = "✓" if nbytes < SIZE_LIMIT else "✗"
            cells = ["—", size(nbytes), "—", "—", "—", "—", ok]
            notes.append(f"{work.split(' ')[0]} bootstrap: {nbytes} bytes, built {built}.")
        lines.append(f"| {work} | {data_size} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} "
                     f"| {cells[4]} | {target} | {cells[5]} | {cells[6]} |")
        continue
    t = timing(row_id)
    if t is None:
        lines.append(f"| {work} | {data_size} | — | not run | — | — | — | {target} | — | — |")
        continue
    rss_kb = read(row_id + ".rss")
    rss = int(rss_kb.splitlines()[-1]) * 1024 if rss_kb else None
    f = timing(floor_id) if floor_id else None
    r = t["median"] / f["median"] if f else None
    if r is None:
        ratio_cell = "—"
    elif applies:
        ratio_cell = ratio(r)
    else:
        ratio_cell = f"({ratio(r)})"
    if row_id in LIMITS:
        met = "✓" if t["median"] < LIMITS[row_id] else "✗"
    elif row_id in RATIO_LIMITS:
        if r is None or (row_id == "run100" and rss is None):
            met = "? (no floor)"
        else:
            rss_ok = row_id != "run100" or rss < RSS_LIMIT
            met = "✓" if r <= RATIO_LIMITS[row_id] and rss_ok else "✗"
    else:
        met = "—"
    lines.append(
        f"| {work} | {data_size} | {t['runs']} | {secs(t['median'])} | {secs(t['min'])} "
        f"| {secs(t['max'])} | {size(rss) if rss else '—'} | {target} | {ratio_cell} | {met} |"
    )

for size_name, run_id, floor_id in [("default", "run", "floor"), ("100×", "run100", "floor100")]:
    a, b = read(run_id + ".lines"), read(floor_id + ".lines")
    if a and b:
        same = "the same" if a == b else "DIFFERENT"
        notes.append(f"log_data lines loaded at {size_name} size: ovom's stage read {a}, "
                     f"the floor's table holds {b} ({same}).")
wh = read("run100.size")
if wh:
    notes.append(f"ovom's 100× warehouse file: {wh}.")

table = "\n".join(lines)

# The AWS path's Data API counts.
AWS_ROWS = [
    ("aws-days", "a month (June), day by day"),
    ("aws-range", "the month as one range execution"),
    ("aws-backfill", "the year's backfill, a month per execution"),
]
DATAAPI = re.compile(
    r"Data API: (\d+) calls \((.*)\), (\d+) statements, (\d+) COPYs, (\d+) ms in PostgreSQL")
aws_lines = []
for row_id, work in AWS_ROWS:
    text, execs = read(row_id + ".dataapi"), read(row_id + ".executions")
    m = DATAAPI.match(text or "")
    if not m or not execs:
        continue
    n = int(execs.rsplit(" ", 2)[-2])
    calls, by_op, statements, copies, ms = m.groups()
    aws_lines.append(f"| {work} | {n} | {calls} | {statements} | {copies} | {ms} ms | `{by_op}` |")
if aws_lines:
    table += "\n\n" + "\n".join([
        "The AWS path offline (`crates/awspath`: the state machines over the functions' code, the "
        "Data API test server on PostgreSQL, moto's S3), one run each: what the Data API served. "
        "PostgreSQL's time is not Redshift's; the README's cost model turns these counts into "
        "Redshift Serverless, Lambda and Step Functions costs.",
        "",
        "| work | executions | Data API calls | statements | COPYs | time in PostgreSQL | calls by operation |",
        "|---|---|---|---|---|---|---|",
    ] + aws_lines)
print(table)

env = os.environ
with open(sys.argv[1], "w") as f:
    f.write(f"""# Benchmark results

Written by `bench/run.sh` (see `bench/README.md`); run it again to replace
this file. Wall time is the whole process, from hyperfine (`runs` timed runs:
median, min, max); peak RSS is one more run under GNU `time -f %M`. A ratio
is ovom's median over the floor's median of the same size; in parentheses it
is only informative (the row does other work than loading the year's files
into a fresh warehouse).

* date: {env['BENCH_DATE']}
* machine: {env['BENCH_MACHINE']}
* load average: {env['BENCH_LOAD']}
* commit: {env['BENCH_COMMIT']}
* DuckDB: {env['BENCH_DUCKDB']}
* command: `{env['BENCH_ARGS']}`

{table}
""")
    if notes:
        f.write("\n" + "\n".join(f"* {n}" for n in notes) + "\n")
print(f"\nwritten to {sys.argv[1]}")
