#!/usr/bin/env bash
# Benchmarks `ovom` against the bare-engine floor: the DuckDB CLI, of the
# version the `duckdb` crate bundles, reading the same log_data files into a
# table. See bench/README.md.
#
#   bench/run.sh                    every row, 5 runs each (the 100x rows need up to 7 GB free)
#   bench/run.sh --quick            the default-size rows only, 3 runs each
#   bench/run.sh --runs N           N timed runs per row (median, min, max of them)
#   bench/run.sh --runs-100x N      N timed runs for the 100x rows (default: --runs)
#   bench/run.sh --no-100x          the default-size rows only
#   bench/run.sh --only ROW,ROW     some rows: gen run day backfill backfill1 floor twice aws gen100 run100 floor100 twice100 lambdas
#   bench/run.sh --lambdas          build the Lambda bootstraps (infra/build.sh) when not built
#
# Builds the workspace (cargo build --release --workspace) into
# ${CARGO_TARGET_DIR:-/var/tmp/ovom-target}; installs the pinned DuckDB CLI
# into ${OVOM_TOOLS:-/var/tmp/ovom-tools}/bench-venv, and hyperfine and GNU
# time from Debian's packages when missing; works in ${BENCH_DIR:-/var/tmp/ovom-bench},
# where the 100x data set is generated once and kept. Prints the table and
# writes it, with the machine, date, commit and DuckDB version, to
# bench/results.md.
set -euo pipefail

# The DuckDB engine the `duckdb` crate bundles (Cargo.toml: duckdb =1.10506.1,
# whose `SELECT version()` is v1.5.6); checked against the built ovom below.
DUCKDB_CLI_VERSION=1.5.6
# Debian 12 (bookworm) packages, installed only when the tool is missing.
HYPERFINE_DEB_VERSION=1.15.0-2
TIME_DEB_VERSION=1.9-0.2

# The 100x data set: 100 times the default 7,000 patients and 70,000 tests.
BIG_ARGS=(--patients 700000 --tests 7000000)
# A day in the middle of the default year, to check the engine's version.
ONE_DAY=2025-06-15
# The newest day of the default year: what the schedule loads each day, on a
# warehouse that holds the days before it.
LAST_DAY=2025-12-31
# The month the AWS-path row loads day by day and as one range execution.
AWS_MONTH=(2025-06-01 2025-06-30)
# Free space the 100x rows need, in GB, rounded up: the kept data set (2.2), a
# second copy written by the timed generate, ovom's 100x warehouse (0.35) and
# the floor's (0.2).
BIG_DATA_GB=3
BIG_WAREHOUSES_GB=1

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

args=("$@")
runs=5
runs_big=""
quick=0
lambdas=0
only=""
all_rows="gen run day backfill backfill1 floor twice aws gen100 run100 floor100 twice100 lambdas"
default_rows="gen run day backfill backfill1 floor twice aws lambdas"
while (($#)); do
    case "$1" in
    --quick) quick=1 ;;
    --runs) runs="${2:?--runs needs a number}"; shift ;;
    --runs-100x) runs_big="${2:?--runs-100x needs a number}"; shift ;;
    --no-100x) only="$default_rows" ;;
    --only) only="$(echo "${2:?--only needs rows}" | tr ',' ' ')"; shift ;;
    --lambdas) lambdas=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if ((quick)); then
    runs=3
    only="${only:-$default_rows}"
    only="$(for r in $only; do [[ " $default_rows " == *" $r "* ]] && echo "$r"; done | xargs)"
fi
runs_big="${runs_big:-$runs}"
rows="${only:-$all_rows}"
for r in $rows; do
    [[ " $all_rows " == *" $r "* ]] || { echo "bench: unknown row $r (rows: $all_rows)" >&2; exit 2; }
done
for n in "$runs" "$runs_big"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench: runs must be a positive number, not $n" >&2; exit 2; }
done
want() { [[ " $rows " == *" $1 "* ]]; }
wants_big() { want gen100 || want run100 || want floor100 || want twice100; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-/var/tmp/ovom-target}"
tools="${OVOM_TOOLS:-/var/tmp/ovom-tools}"
bench="${BENCH_DIR:-/var/tmp/ovom-bench}"
venv="$tools/bench-venv"
out="$bench/results"  # this invocation's measurements
logs="$bench/logs"
wh="$bench/warehouses"
mkdir -p "$bench"
rm -rf "$out" "$logs" "$wh"
mkdir -p "$out" "$logs" "$wh"
load_at_start="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

say() { echo "bench: $*"; }
die() { echo "bench: $*" >&2; exit 1; }
gb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e9 }'; }

# --- disk -------------------------------------------------------------------
if wants_big; then
    need=$BIG_WAREHOUSES_GB
    [[ -f "$bench/data-100x/.complete" ]] || need=$((need + BIG_DATA_GB))
    want gen100 && need=$((need + BIG_DATA_GB))
    avail=$(($(df -Pk "$bench" | awk 'NR == 2 { print $4 }') * 1024))
    say "the 100x rows need about $need GB free in $bench; $(gb "$avail") GB available"
    ((avail > need * 1000000000)) ||
        die "not enough free space for the 100x rows; free some, set BENCH_DIR, or pass --no-100x"
fi

# --- tools ------------------------------------------------------------------
apt_install() {  # PACKAGE=VERSION ...
    command -v apt-get >/dev/null || die "missing $*; install it (apt-get is not available here)"
    local sudo=""
    ((EUID == 0)) || sudo="sudo"
    say "installing $* from Debian's packages"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}
command -v hyperfine >/dev/null || apt_install "hyperfine=$HYPERFINE_DEB_VERSION"
[[ -x /usr/bin/time ]] || apt_install "time=$TIME_DEB_VERSION"
command -v python3 >/dev/null || die "python3 is needed (for the DuckDB CLI's venv and the report)"

duckdb_bin() {
    "$venv/bin/python" -c \
        'import duckdb_cli, os; print(os.path.join(os.path.dirname(duckdb_cli.__file__), "duckdb"))'
}
installed="$("$venv/bin/python" -m pip show duckdb-cli 2>/dev/null || true)"
if ! grep -qx "Version: $DUCKDB_CLI_VERSION" <<<"$installed"; then
    say "installing duckdb-cli==$DUCKDB_CLI_VERSION into $venv"
    python3 -m venv --clear "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "duckdb-cli==$DUCKDB_CLI_VERSION"
fi
# The native executable the package ships, not its Python launcher (whose
# start-up would be counted against the floor).
duckdb="$(duckdb_bin)"
[[ -x "$duckdb" ]] || die "no DuckDB executable in $venv"

# --- build ------------------------------------------------------------------
say "cargo build --release --workspace into $target (the first build compiles DuckDB: long)"
(cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --release --workspace)
# A copy, so that another build into the same target folder cannot swap the
# binary in the middle of a measurement.
mkdir -p "$bench/bin"
for b in ovom aws-path; do
    cp "$target/release/$b" "$bench/bin/$b.new"
    mv -f "$bench/bin/$b.new" "$bench/bin/$b"
done
ovom="$bench/bin/ovom"

# --- data and versions ------------------------------------------------------
warm() {  # read a data set once, so every measurement starts from the page cache
    find "$1" -type f -name '*.json' -exec cat {} + >/dev/null
}
small="$bench/data-default"
rm -rf "$small"
"$ovom" generate --out "$small" >"$logs/data-default.log"
warm "$small"

rm -f "$bench/probe.duckdb" "$bench/probe.duckdb.wal"
"$ovom" run --date "$ONE_DAY" --data "$small" --warehouse "$bench/probe.duckdb" >"$logs/probe.log"
engine="$("$ovom" query "SELECT version() AS v" --warehouse "$bench/probe.duckdb" | sed -n 3p | tr -d ' ')"
cli="$("$duckdb" -no-init -batch -noheader -list :memory: -c "SELECT version()")"
rm -f "$bench/probe.duckdb" "$bench/probe.duckdb.wal"
say "DuckDB: ovom bundles $engine, the floor's CLI is $cli"
[[ "$engine" == "$cli" ]] ||
    die "the CLI ($cli) is not ovom's engine ($engine): set DUCKDB_CLI_VERSION in bench/run.sh"

# --- measuring --------------------------------------------------------------
q() { printf '%q ' "$@"; }

# measure ID RUNS PREPARE -- COMMAND...: hyperfine's runs (median, min, max in
# ID.json), then one more run under GNU time for the peak RSS (ID.rss, kB).
measure() {
    local id="$1" n="$2" prepare="$3"
    shift 4
    local hf=(hyperfine -N --style basic --runs "$n" --export-json "$out/$id.json")
    [[ -n "$prepare" ]] && hf+=(--prepare "$prepare")
    say "measuring $id: $n runs of $*"
    "${hf[@]}" "$(q "$@")" | tee "$logs/$id.hyperfine.log"
    [[ -n "$prepare" ]] && eval "$prepare"
    /usr/bin/time -f %M -o "$out/$id.rss" "$@" >"$logs/$id.log" 2>&1 ||
        die "$id failed; see $logs/$id.log"
}

fresh() { q rm -rf -- "$1" "$1.wal" "$1.tmp"; }

floor_sql() {  # DATA DB_TABLE: the floor's statement over DATA's log_data
    cat <<EOF
CREATE TABLE t AS
SELECT * FROM read_json('$1/log_data/*/*/*/*.json',
    format = 'newline_delimited',
    columns = {
        test_id: 'VARCHAR', patient_id: 'BIGINT', doc_id: 'BIGINT',
        doc_name: 'VARCHAR', clinic: 'VARCHAR', lab_id: 'BIGINT',
        lab_name: 'VARCHAR', city: 'VARCHAR', ts: 'TIMESTAMP',
        ap_hi: 'INTEGER', ap_lo: 'INTEGER', cholesterol: 'INTEGER', gluc: 'INTEGER',
        smoke: 'INTEGER', alco: 'INTEGER', active: 'INTEGER', cardio: 'INTEGER'
    });
EOF
}

floor() {  # ID DATA RUNS [twice]: with "twice", the rows are then copied into a second table
    local id="$1" data="$2" n="$3" db="$wh/$1.duckdb"
    floor_sql "$data" >"$bench/$id.sql"
    # The least any design keeping two copies of the tests does (ovom keeps
    # the staged tests and the fact): the same rows written again.
    [[ "${4:-}" != twice ]] || echo "CREATE TABLE t2 AS SELECT * FROM t;" >>"$bench/$id.sql"
    measure "$id" "$n" "$(fresh "$db")" -- "$duckdb" -no-init -bail -batch "$db" -f "$bench/$id.sql"
    "$duckdb" -no-init -batch -noheader -list -readonly "$db" -c "SELECT count(*) FROM t" >"$out/$id.lines"
}

run_lines() {  # ID WAREHOUSE: the log_data lines ovom's stage read
    "$ovom" query "SELECT sum(lines_read) AS n FROM stage_audit WHERE source = 'log_data'" \
        --warehouse "$2" | sed -n 3p | tr -d ' ' >"$out/$1.lines"
}

if want floor; then
    floor floor "$small" "$runs"
fi
if want twice; then
    floor twice "$small" "$runs" twice
fi
if want gen; then
    measure gen "$runs" "$(fresh "$bench/gen-default")" -- "$ovom" generate --out "$bench/gen-default"
    rm -rf "$bench/gen-default"
fi
year_wh="$wh/run.duckdb"
if want run; then
    measure run "$runs" "$(fresh "$year_wh")" -- "$ovom" run --data "$small" --warehouse "$year_wh"
    run_lines run "$year_wh"
fi
if want day; then
    if ! want run; then
        say "loading the year for the one-day row"
        "$ovom" run --data "$small" --warehouse "$year_wh" >"$logs/year.log"
    fi
    # Re-running the newest day replaces it: every run does the same work,
    # and no later day follows it.
    measure day "$runs" "" -- "$ovom" run --date "$LAST_DAY" --data "$small" --warehouse "$year_wh"
fi
if want backfill; then
    db="$wh/backfill.duckdb"
    measure backfill "$runs" "$(fresh "$db")" -- \
        "$ovom" backfill --from 2025-01-01 --to 2025-12-31 --data "$small" --warehouse "$db"
fi
if want backfill1; then
    db="$wh/backfill1.duckdb"
    measure backfill1 "$runs" "$(fresh "$db")" -- \
        "$ovom" backfill --from 2025-01-01 --to 2025-12-31 --days-per-execution 1 \
        --data "$small" --warehouse "$db"
fi
if want aws; then
    # The AWS path offline (crates/awspath: the state machine over the
    # functions' code, the Data API test server on PostgreSQL, moto's S3):
    # what the Data API serves for a month day by day, the month as one range
    # execution, and the year's backfill (a month per execution). Counts,
    # not timings: each is one run; its log lists the statements by kind.
    say "the AWS path's Data API counts (tests/offline/setup.sh's tools)"
    "$repo/tests/offline/setup.sh" >"$logs/aws-setup.log" 2>&1 ||
        die "the offline tools did not install; see $logs/aws-setup.log"
    aws_path() {  # ID ARGS...
        local id="$1"
        shift
        "$bench/bin/aws-path" --data "$small" --statements "$@" >"$logs/$id.log" 2>&1 ||
            die "$id failed; see $logs/$id.log"
        grep '^Data API: ' "$logs/$id.log" >"$out/$id.dataapi"
        grep -o '^days .*: [0-9]* executions' "$logs/$id.log" >"$out/$id.executions"
    }
    aws_path aws-days --from "${AWS_MONTH[0]}" --to "${AWS_MONTH[1]}"
    aws_path aws-range --from "${AWS_MONTH[0]}" --to "${AWS_MONTH[1]}" --range
    aws_path aws-backfill --backfill
fi
rm -rf "$wh"/*.duckdb*  # the default-size warehouses are small, but done with

big="$bench/data-100x"
if want gen100; then
    measure gen100 "$runs_big" "$(fresh "$bench/gen-100x")" -- \
        "$ovom" generate --out "$bench/gen-100x" "${BIG_ARGS[@]}"
    if [[ -f "$big/.complete" ]]; then
        rm -rf "$bench/gen-100x"
    else
        rm -rf "$big"
        mv "$bench/gen-100x" "$big"
        echo "${BIG_ARGS[*]}" >"$big/.complete"
    fi
fi
if want floor100 || want run100 || want twice100; then
    if [[ ! -f "$big/.complete" || "$(cat "$big/.complete")" != "${BIG_ARGS[*]}" ]]; then
        say "generating the 100x data set into $big (once; it is kept)"
        rm -rf "$big"
        "$ovom" generate --out "$big.partial" "${BIG_ARGS[@]}" >"$logs/data-100x.log"
        mv "$big.partial" "$big"
        echo "${BIG_ARGS[*]}" >"$big/.complete"
    fi
    say "the 100x data set: $(du -sh "$big" | cut -f1) in $big"
    warm "$big"
fi
if want floor100; then
    floor floor100 "$big" "$runs_big"
    rm -rf "$wh"/floor100.duckdb*
fi
if want twice100; then
    floor twice100 "$big" "$runs_big" twice
    rm -rf "$wh"/twice100.duckdb*
fi
if want run100; then
    db="$wh/run100.duckdb"
    measure run100 "$runs_big" "$(fresh "$db")" -- "$ovom" run --data "$big" --warehouse "$db"
    run_lines run100 "$db"
    du -sh "$db" | cut -f1 >"$out/run100.size"
    rm -rf "$db" "$db.wal" "$db.tmp"
fi

if want lambdas; then
    # infra/build.sh's output, or else the one the tests' offline validation built.
    bootstrap() {
        local f="$repo/infra/.aws-sam/build/$1Function/bootstrap"
        [[ -f "$f" ]] || f="$tools/sam-build/$1Function/bootstrap"
        echo "$f"
    }
    built() { [[ -f "$(bootstrap Stage)" ]]; }
    missing="not built"
    if ! built && ((lambdas)); then
        say "building the Lambda functions (tests/offline/setup.sh, then infra/build.sh)"
        # The tools and the compiler as tests/offline/validate.sh sets them up.
        if ! (
            "$repo/tests/offline/setup.sh" || exit
            export PATH="$tools/venv/bin:$PATH" SAM_CLI_TELEMETRY=0
            export CARGO_TARGET_DIR="$tools/lambda-target"
            if [[ -x "$tools/rust/bin/rustc" ]]; then export RUSTC="$tools/rust/bin/rustc"; fi
            "$repo/infra/build.sh"
        ) >"$logs/lambdas.log" 2>&1; then
            say "the Lambda build failed; see $logs/lambdas.log"
            missing="build failed"
        fi
    fi
    for fn in Stage Load Quality Erase; do
        f="$(bootstrap "$fn")"
        if [[ -f "$f" ]]; then
            echo "$(stat -c %s "$f") $(date -u -r "$f" '+%Y-%m-%d %H:%M UTC')" >"$out/lambda-$fn.size"
        else
            echo "$missing" >"$out/lambda-$fn.size"
        fi
    done
fi

# --- report -----------------------------------------------------------------
commit="$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [[ "$commit" != unknown && -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    commit="$commit (with uncommitted changes)"
fi
cpu="$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
mem_kb="$(awk '/^MemTotal/ { print $2 }' /proc/meminfo 2>/dev/null || echo 0)"
export BENCH_OUT="$out" BENCH_RUNS="$runs" BENCH_RUNS_BIG="$runs_big" BENCH_ROWS="$rows"
export BENCH_MACHINE="$(nproc) CPUs (${cpu:-unknown model}), $(awk -v k="$mem_kb" 'BEGIN { printf "%.1f", k * 1024 / 1e9 }') GB memory"
export BENCH_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')" BENCH_COMMIT="$commit"
export BENCH_DUCKDB="$engine (ovom's bundled engine and the floor's CLI, duckdb-cli==$DUCKDB_CLI_VERSION)"
export BENCH_LOAD="$load_at_start at the start, $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) at the end"
export BENCH_ARGS="bench/run.sh${args[*]:+ ${args[*]}}"
python3 "$repo/bench/report.py" "$repo/bench/results.md"
