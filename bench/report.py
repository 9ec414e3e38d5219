"""Renders bench/run.sh's measurements as a Markdown table: printed, and
written with the machine, date, commit and DuckDB version to the file named
by the first argument. Reads the measurements from $BENCH_OUT: ID.json
(hyperfine's export), ID.rss (peak RSS in kB, GNU time's %M), ID.lines (the
log_data lines loaded) and lambda-FN.size (bytes and build time, or "not built")."""

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
    ("run", "`ovom run`, all days, fresh warehouse", "default", "< 2 s", "floor", True),
    ("run100", "`ovom run`, all days, fresh warehouse", "100×", "≤ 2× floor, peak RSS < 3 GB", "floor100", True),
    ("day", "`ovom run --date 2025-06-15`, warehouse holds the year", "default", "< 0.3 s", "floor", False),
    ("backfill", "`ovom backfill`, 365 days, fresh warehouse", "default", "< 20 s", "floor", True),
    ("lambda-Stage", "Stage Lambda bootstrap (size)", "—", "< 10 MB", None, False),
    ("lambda-Load", "Load Lambda bootstrap (size)", "—", "< 10 MB", None, False),
    ("lambda-Quality", "Quality Lambda bootstrap (size)", "—", "< 10 MB", None, False),
    ("floor", "floor: DuckDB CLI `read_json` of log_data → table, fresh database", "default", "—", None, False),
    ("floor100", "floor: DuckDB CLI `read_json` of log_data → table, fresh database", "100×", "—", None, False),
]
LIMITS = {"gen": 0.5, "gen100": 30.0, "run": 2.0, "day": 0.3, "backfill": 20.0}
RSS_LIMIT = 3e9  # bytes, run100
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
    elif row_id == "run100":
        if r is None or rss is None:
            met = "? (no floor)"
        else:
            met = "✓" if r <= 2 and rss < RSS_LIMIT else "✗"
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
