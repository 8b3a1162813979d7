#!/usr/bin/env bash
# Load test of a local standalone server with its media workers: builds release binaries,
# starts `custodian standalone` on a temporary data directory, creates an officer token for two
# bureaus, runs `custodian-loadtest` (an open model: LOADTEST_RATE uploads/s for
# LOADTEST_SECONDS, each clip followed until catalogued), prints report.md and stops the
# server. Everything listens on and talks to 127.0.0.1 only.
#   LOADTEST_SECONDS=60 LOADTEST_RATE=1 scripts/loadtest.sh
# The default rate is low on purpose: every clip is transcoded and fingerprinted on the same
# machine, and on 2 cores a higher rate measures the backlog, not the pipeline.
# Extra arguments go to custodian-loadtest (e.g. --devices-per-bureau 8 --clips 6).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${LOADTEST_SECONDS:-60}
RATE=${LOADTEST_RATE:-1}
PORT=${LOADTEST_PORT:-18090}
OUT=${LOADTEST_OUT:-loadtest-out}
TARGET=${CARGO_TARGET_DIR:-target}

# ffmpeg makes the clips; the server's build needs FFmpeg's libraries.
command -v ffmpeg >/dev/null || scripts/setup-system.sh
cargo build --release --locked -p custodian -p custodian-loadtest
BIN="$TARGET/release/custodian"
LOADTEST="$TARGET/release/custodian-loadtest"

WORK=$(mktemp -d /var/tmp/custodian-loadtest.XXXXXX)
cleanup() {
  if [ -n "${SERVER_PID:-}" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" standalone --data "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
ready=
for _ in $(seq 1 300); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null; then ready=1; break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "the standalone server did not become ready; its log:" >&2
  cat "$WORK/server.log" >&2
  exit 1
fi

TOKENS="$WORK/tokens"
for bureau in lt-east lt-west; do
  token=$("$BIN" admin token create --bureau "$bureau" --bureau-name "load test $bureau" \
            --label loadtest --data "$WORK/data" 2>/dev/null)
  echo "$bureau=$token" >>"$TOKENS"
done

status=0
"$LOADTEST" --ingest "http://127.0.0.1:$PORT" --catalog "http://127.0.0.1:$PORT" \
  --tokens-file "$TOKENS" --rate "$RATE" --duration "${DURATION}s" --out "$OUT" "$@" \
  >/dev/null || status=$?
if [ "$status" -ne 0 ]; then
  echo "custodian-loadtest failed ($status); server log tail:" >&2
  tail -n 50 "$WORK/server.log" >&2
  exit "$status"
fi
cat "$OUT/report.md"
echo "report.json, report.md and latency.svg are in $OUT/"
