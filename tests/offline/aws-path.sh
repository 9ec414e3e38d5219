#!/usr/bin/env bash
# Load a data root through the AWS path, offline: the state machine over the
# Lambda functions' code, against a Data API test server on PostgreSQL and
# moto's S3 (crates/awspath). Arguments: see `--help`.
#
#   tests/offline/aws-path.sh --data DIR [--date D | --from D1 --to D2 [--range | --backfill [--days-per-execution N]]] [--keep PGDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ovom-target}"
exec cargo run --quiet --release --bin aws-path -- "$@"
