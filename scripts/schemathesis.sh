#!/usr/bin/env bash
# Fuzzes the HTTP API from its own OpenAPI document with schemathesis (PyPI) against a
# standalone instance on 127.0.0.1: no request may get a 5xx, and every response must match
# the schema the document gives for it. Usage: scripts/schemathesis.sh [CUSTODIAN_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-${CARGO_TARGET_DIR:-target}/debug/custodian}
TOOLS=${CUSTODIAN_TOOLS:-/var/cache/custodian}
VENV="$TOOLS/schemathesis-venv"
VERSION=4.32.5
PORT=${SCHEMATHESIS_PORT:-18090}
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-20}

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$VERSION"
fi

DATA=$(mktemp -d /var/tmp/custodian-schemathesis.XXXXXX)
cleanup() {
  [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT
# An admin of one bureau: every route is reachable, so every route is exercised.
TOKEN=$("$BIN" admin token create --bureau b1 --role admin --data "$DATA" 2>/dev/null)
"$BIN" standalone --data "$DATA" --listen "127.0.0.1:$PORT" >"$DATA/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" || { cat "$DATA/server.log" >&2; exit 1; }

"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" \
  -H "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "$EXAMPLES" --no-color
