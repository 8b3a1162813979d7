#!/usr/bin/env bash
# Everything the test suite needs, then the suite: system packages, the S3 server (Garage,
# built once per machine), PostgreSQL and NATS, then every test of the workspace.
# Extra arguments go to `cargo test` (e.g. a test name).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-system.sh
scripts/services.sh
scripts/garage.sh start
eval "$(scripts/garage.sh env)"
scripts/moto.sh start
eval "$(scripts/moto.sh env)"
# The tus clients other projects wrote (tuspy, tus-js-client), which tests/tus_clients.rs drives.
scripts/tus-clients.sh

# Databases earlier test runs made; each test makes its own.
psql -h 127.0.0.1 -U postgres -d postgres -tAc \
  "select 'DROP DATABASE ' || quote_ident(datname) || ';' from pg_database where datname like 'custodian_t_%'" \
  | psql -q -h 127.0.0.1 -U postgres -d postgres >/dev/null 2>&1 || true
# And the roles a test of the runtime role's rights made and could not drop.
psql -h 127.0.0.1 -U postgres -d postgres -tAc \
  "select 'DROP ROLE ' || quote_ident(rolname) || ';' from pg_roles where rolname like 'custodian_t_%'" \
  | psql -q -h 127.0.0.1 -U postgres -d postgres >/dev/null 2>&1 || true

# The code as rustfmt lays it out (cheap, and first: a misformatted tree fails in seconds),
# and as clippy reads it: no warning, in tests included.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

# The alert rules operators get: valid, and firing when they should.
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml
# The Kubernetes manifests: every overlay renders and every object is valid.
scripts/check-k8s.sh

log=$(mktemp /tmp/custodian-test.XXXXXX.log)
cargo test --workspace --locked "$@" 2>&1 | tee "$log"

# The rules article by article, from the results of the run above (its scenarios are tests of
# the suite); a filtered run leaves scenarios out, so only a full run is judged.
if (($# == 0)); then
  scripts/conformance.sh --results "$log"
fi

# The deployment files: Prometheus configurations, compose file, systemd units, and the
# Dockerfile's FFmpeg libraries against what the binary the tests ran links.
scripts/check-deploy.sh "${CARGO_TARGET_DIR:-target}/debug/custodian"
# The container image around that binary (deploy/Dockerfile's runtime stage), run with podman:
# standalone from a read-only root, and a region's roles against the services above.
scripts/image.sh "${CARGO_TARGET_DIR:-target}/debug/custodian"

# The HTTP API fuzzed from its own OpenAPI document: no 5xx, every response as documented.
scripts/schemathesis.sh "${CARGO_TARGET_DIR:-target}/debug/custodian"

# The parsers that take untrusted input, fuzzed for a bounded time each (cargo-fuzz, nightly).
scripts/fuzz.sh
