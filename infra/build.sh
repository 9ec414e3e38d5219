#!/usr/bin/env bash
# Builds the four Lambda functions for deployment: `sam build` of
# template.yaml (arm64, with cargo-lambda and zig), the release profile
# optimised for size. The functions spend their time waiting on S3 and the
# Redshift Data API, not computing; a smaller bootstrap loads faster at a cold
# start. Then `sam deploy` (samconfig.toml has the defaults).
#
# Extra arguments go to `sam build` (e.g. --build-dir DIR). Needs cargo,
# cargo-lambda and zig on PATH (tests/offline/setup.sh installs the last two).
#
# The four functions share one cargo target folder (CARGO_TARGET_DIR, by
# default .aws-sam/cargo-target here), so the dependencies they share build
# once instead of once per function. SAM's cargo-lambda builder (pinned
# aws-sam-cli 1.170.0) takes each bootstrap from cargo-lambda's output in that
# folder: tests/offline/validate.sh builds this way and checks the bootstraps.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/.aws-sam/cargo-target}"
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-z}"
export SAM_CLI_BETA_RUST_CARGO_LAMBDA=1
exec sam build --template-file template.yaml --beta-features "$@"
