#!/usr/bin/env bash
# Validates the deployment offline, with no AWS account or credentials:
#
#   0. sqlglot               every SQL file as the program renders it for Redshift
#                            (the folder OVOM_REDSHIFT_SQL names), and the adapter's statements,
#                            parses them (sqlglot_check.py)
#   1. sam validate --lint   the SAM template (SAM's own checks, then cfn-lint's)
#   2. cfn-lint              the template, on its own
#   3. checkov               no failed check (a skip is justified in the template)
#   4. asl-validator         the three state machines (the daily one, the backfill and
#                            the erasure), as written and with their ARNs substituted
#   5. backfill JSONata      the backfill's JSONata, read from its definition, evaluated
#                            by jsonata (the version Step Functions implements) against
#                            date ranges with known answers (backfill_jsonata.js)
#   6. schedule JSONata      the daily state machine's date computation (the day before
#                            the scheduled time), evaluated by jsonata on the times the
#                            interpreter's own tests use (schedule_jsonata.js)
#   7. sam build             the four functions for arm64 with cargo-lambda and zig, as
#                            infra/build.sh builds them for deployment, with
#                            CARGO_TARGET_DIR exported (one target for the three)
#   8. bootstraps            each exists, is an aarch64 executable under 10 MiB, and
#                            neither links nor contains DuckDB
#
# The tools come from setup.sh beside this file (run it first; it is quick
# when nothing changed). Builds are cached under the tools folder:
# $OVOM_TOOLS/lambda-target holds cargo's target folder, $OVOM_TOOLS/sam-build
# the built functions. Stops at the first failure, naming it; prints each
# step's time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tools="${OVOM_TOOLS:-/var/tmp/ovom-tools}"
template="infra/template.yaml"
definition="statemachine/pipeline.asl.json"
backfill="statemachine/backfill.asl.json"
erasure="statemachine/erasure.asl.json"
max_bytes=$((10 * 1024 * 1024))

if [[ ! -f "$tools/.setup.stamp" ]]; then
    echo "validate: no tools in $tools; run tests/offline/setup.sh first" >&2
    exit 1
fi
cd "$repo"

# Offline and anonymous: a region for the tools that want one, no
# credentials, no instance metadata, no telemetry.
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0 SAM_CLI_BETA_RUST_CARGO_LAMBDA=1
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export PATH="$tools/venv/bin:$tools/node/node_modules/.bin:$PATH"
export CARGO_TERM_COLOR=never

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

total_started=$SECONDS
step_no=0
step() {
    local name="$1"
    shift
    step_no=$((step_no + 1))
    echo "=== validate $step_no: $name"
    local started=$SECONDS
    if ! "$@"; then
        echo "validate: FAILED at step $step_no ($name) after $((SECONDS - started)) s" >&2
        exit 1
    fi
    echo "=== validate $step_no: $name: ok in $((SECONDS - started)) s"
}

sqlglot_redshift() {
    python3 tests/offline/sqlglot_check.py
}

sam_validate() {
    sam validate --lint --template-file "$template" --region "$AWS_REGION"
}

cfn_lint() {
    cfn-lint --regions "$AWS_REGION" -- "$template"
}

run_checkov() {
    local report="$scratch/checkov.json"
    "$tools/checkov-venv/bin/checkov" --file "$template" --framework cloudformation \
        --skip-download --output json --quiet >"$report" || true
    python3 - "$report" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1]))
reports = data if isinstance(data, list) else [data]
summary = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0}
failed = []
for r in reports:
    for k in summary:
        summary[k] += r.get("summary", {}).get(k, 0)
    failed += r.get("results", {}).get("failed_checks", [])
for c in failed:
    print(f"  FAILED {c['check_id']} {c['resource']}: {c['check_name']}")
print(f"  checkov: {summary['passed']} passed, {summary['failed']} failed, "
      f"{summary['skipped']} skipped, {summary['parsing_errors']} parsing errors")
sys.exit(1 if summary["failed"] or summary["parsing_errors"] or not summary["passed"] else 0)
EOF
}

asl_validate() {
    # As written (placeholders), and as deployed: each ${...} replaced by the
    # ARN the template substitutes, which asl-validator's ARN check then
    # verifies.
    local deployed="$scratch/pipeline.deployed.asl.json"
    sed -E -e 's/\$\{(Stage|Load|Quality)FunctionArn\}/arn:aws:lambda:us-east-1:123456789012:function:ovom-\1/g' \
        -e 's/\$\{BackfillArn\}/arn:aws:states:us-east-1:123456789012:stateMachine:ovom-warehouse-backfill/g' \
        "$definition" >"$deployed"
    if grep -q '\${' "$deployed"; then
        echo "  the definition has a placeholder besides the three function ARNs and the backfill's" >&2
        return 1
    fi
    local backfill_deployed="$scratch/backfill.deployed.asl.json"
    sed -E 's/\$\{PipelineArn\}/arn:aws:states:us-east-1:123456789012:stateMachine:ovom-warehouse-pipeline/g' \
        "$backfill" >"$backfill_deployed"
    if grep -q '\${' "$backfill_deployed"; then
        echo "  the backfill has a placeholder besides the daily state machine's ARN" >&2
        return 1
    fi
    local erasure_deployed="$scratch/erasure.deployed.asl.json"
    sed -E -e 's/\$\{PipelineArn\}/arn:aws:states:us-east-1:123456789012:stateMachine:ovom-warehouse-pipeline/g' \
        -e 's/\$\{BackfillArn\}/arn:aws:states:us-east-1:123456789012:stateMachine:ovom-warehouse-backfill/g' \
        -e 's/\$\{EraseFunctionArn\}/arn:aws:lambda:us-east-1:123456789012:function:ovom-erase/g' \
        "$erasure" >"$erasure_deployed"
    if grep -q '\${' "$erasure_deployed"; then
        echo "  the erasure state machine has a placeholder besides the two state machines' ARNs and the erase function's" >&2
        return 1
    fi
    asl-validator --json-path "$erasure" --no-arn-check &&
        asl-validator --json-path "$erasure_deployed" &&
        asl-validator --json-path "$definition" --no-arn-check &&
        asl-validator --json-path "$deployed" &&
        asl-validator --json-path "$backfill" --no-arn-check &&
        asl-validator --json-path "$backfill_deployed"
}

backfill_jsonata() {
    NODE_PATH="$tools/node/node_modules" node tests/offline/backfill_jsonata.js "$backfill"
}

schedule_jsonata() {
    NODE_PATH="$tools/node/node_modules" node tests/offline/schedule_jsonata.js "$definition"
}

sam_build() {
    export CARGO_TARGET_DIR="$tools/lambda-target"
    if [[ -x "$tools/rust/bin/rustc" ]]; then
        # setup.sh's compiler with an aarch64 standard library (see there).
        export RUSTC="$tools/rust/bin/rustc"
    fi
    rm -rf "$tools/sam-build"
    # The deployment's own build command.
    infra/build.sh --build-dir "$tools/sam-build"
}

check_bootstraps() {
    local fn kind path size magic machine
    for fn in Stage Load Quality Erase; do
        kind="$(echo "$fn" | tr '[:upper:]' '[:lower:]')"
        path="$tools/sam-build/${fn}Function/bootstrap"
        if [[ ! -f "$path" ]]; then
            echo "  missing: $path" >&2
            return 1
        fi
        size=$(stat -c %s "$path")
        magic=$(od -An -tx1 -N4 "$path" | tr -d ' \n')
        machine=$(od -An -tu2 -j18 -N2 "$path" | tr -d ' \n')
        if [[ "$magic" != 7f454c46 || "$machine" != 183 ]]; then
            echo "  $fn: not an aarch64 ELF executable (magic $magic, machine $machine)" >&2
            return 1
        fi
        if ((size >= max_bytes)); then
            echo "  $fn: bootstrap is $size bytes, over $max_bytes" >&2
            return 1
        fi
        # The core names its dialects ("duckdb"), so look for what only the
        # engine holds: its catalog functions' names.
        if grep -qaE 'duckdb_(tables|columns|settings|extensions|functions)' "$path"; then
            echo "  $fn: the bootstrap contains DuckDB" >&2
            return 1
        fi
        if cargo tree --quiet --package "ovom-$kind-fn" --edges normal,build --prefix none |
            grep -q '^libduckdb-sys\|^duckdb '; then
            echo "  $fn: ovom-$kind-fn depends on DuckDB" >&2
            return 1
        fi
        awk -v fn="$fn" -v size="$size" \
            'BEGIN { printf "  %-8s bootstrap %9d bytes (%.1f MiB), aarch64, no DuckDB\n", fn, size, size / 1048576 }'
    done
}

step "sqlglot (redshift) on every SQL file" sqlglot_redshift
step "sam validate --lint" sam_validate
step "cfn-lint" cfn_lint
step "checkov" run_checkov
step "asl-validator" asl_validate
step "backfill JSONata (jsonata)" backfill_jsonata
step "schedule JSONata (jsonata)" schedule_jsonata
step "sam build (arm64, cargo-lambda)" sam_build
step "bootstraps" check_bootstraps
echo "validate: all $step_no steps passed in $((SECONDS - total_started)) s"
