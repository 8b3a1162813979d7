#!/usr/bin/env bash
# Conformance to the recording rules, article by article: runs every scenario that
# conformance/articles.toml names against the real services on 127.0.0.1 and prints one table
# (article | requirement | scenario | result), also written to docs/conformance.md.
# Exits non-zero when a scenario fails or did not run, or an article from 5 to 25 has no row.
#
#   scripts/conformance.sh                  set up the services, run the scenarios, report
#   scripts/conformance.sh --results LOG    report from the log of a `cargo test` run that
#                                           already ran them (scripts/test.sh does this)
#   --strict                                an article Custodian does not support yet fails too
set -euo pipefail
cd "$(dirname "$0")/.."

log="" strict=()
while (($#)); do
  case "$1" in
    --results) log="$2"; shift 2 ;;
    --strict) strict=(--strict); shift ;;
    *) echo "conformance.sh: unknown argument $1 (use --results LOG, --strict)" >&2; exit 2 ;;
  esac
done

if [[ -z "$log" ]]; then
  scripts/setup-system.sh
  scripts/services.sh
  scripts/garage.sh start
  eval "$(scripts/garage.sh env)"
  scripts/moto.sh start
  eval "$(scripts/moto.sh env)"
  # Each test binary the map names once, with the exact scenario names as filters.
  mapfile -t cargo_args < <(python3 conformance/report.py --cargo-args conformance/articles.toml)
  log=$(mktemp /tmp/conformance.XXXXXX.log)
  # A failing scenario must still reach the table, so the run's own status is not fatal here.
  cargo test --workspace --locked "${cargo_args[@]}" >"$log" 2>&1 || true
fi

exec python3 conformance/report.py "${strict[@]}" --markdown docs/conformance.md \
  conformance/articles.toml "$log"
