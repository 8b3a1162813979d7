#!/usr/bin/env bash
# Builds Custodian and runs `custodian demo`: the standalone server in a temporary directory,
# a generated sample clip uploaded through the HTTP API, and its catalogued record printed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-system.sh
cargo build --release --locked --bin custodian
# --serve: after the sample's record, the web console's address and a sign-in; Ctrl-C stops it.
exec "${CARGO_TARGET_DIR:-target}/release/custodian" demo --serve --listen 127.0.0.1:8080 "$@"
