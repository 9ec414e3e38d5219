#!/usr/bin/env bash
# Makes docs/report.png: the run report of the default data set (generated
# with a few malformed lines), loaded day by day, with a five-day backfill,
# one day run --strict that fails on a malformed line, and one that failed
# the same way and was redriven after its bad lines were removed; rendered
# by headless Chromium (tests/browser/setup.sh installs it when missing).
#
#   docs/make-report-screenshot.sh            # builds ovom, ~1 minute of runs
#   OVOM=path/to/ovom docs/make-report-screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

if [ -z "${OVOM:-}" ]; then
    cargo build --release --bin ovom
    OVOM="${CARGO_TARGET_DIR:-$repo/target}/release/ovom"
fi
chromium="$(bash tests/browser/setup.sh)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

"$OVOM" generate --out data --malformed-rate 0.001
"$OVOM" run
"$OVOM" backfill --from 2025-06-02 --to 2025-06-06 --force

# Days with a malformed blood-test line, in the autumn.
bad_days=$("$OVOM" query "SELECT DISTINCT logical_date FROM quarantine WHERE source = 'log_data' AND logical_date BETWEEN DATE '2025-09-01' AND DATE '2025-11-30' ORDER BY logical_date" |
    grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}')
redriven=$(echo "$bad_days" | sed -n 1p)
failing=$(echo "$bad_days" | sed -n 4p)

# A strict run fails on the malformed line; the line is removed from the
# export, and the failed execution redriven from the state that failed.
"$OVOM" run --date "$redriven" --strict || true
"$OVOM" query "SELECT source_file, line_no FROM quarantine WHERE logical_date = DATE '$redriven' AND source = 'log_data' ORDER BY source_file, line_no DESC" |
    grep -oE 'log_data/[^ |]+ +\| +[0-9]+' | while read -r file _ line; do
        sed -i "${line}d" "data/$file"
    done
"$OVOM" redrive
# And one strict day that stays failed.
"$OVOM" run --date "$failing" --strict || true

"$OVOM" report --out report.html
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$work/profile" \
    --screenshot="$repo/docs/report.png" --window-size=1400,2200 \
    "file://$work/report.html" 2>/dev/null
echo "wrote docs/report.png"
