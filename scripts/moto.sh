#!/usr/bin/env bash
# moto's S3 emulator on 127.0.0.1, for the one thing Garage lacks: Object Lock (COMPLIANCE
# retention, legal holds, refused deletes). It is an API emulator, not a store: it checks
# neither signatures nor checksums, so every other S3 test runs against Garage.
#   scripts/moto.sh start | stop | env
set -euo pipefail

PORT=${MOTO_PORT:-3950}
STATE=${CUSTODIAN_MOTO_DIR:-/var/tmp/custodian-moto}
TOOLS=${CUSTODIAN_TOOLS:-/var/cache/custodian}
VENV="$TOOLS/moto-venv"

healthy() { curl -fsS -o /dev/null "http://127.0.0.1:$PORT/moto-api/" 2>/dev/null; }

start() {
  if [ ! -x "$VENV/bin/moto_server" ]; then
    echo "moto.sh: installing moto[server] into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet 'moto[server]>=5,<6' >&2
  fi
  mkdir -p "$STATE"
  if healthy; then return; fi
  setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$STATE/moto.log" 2>&1 < /dev/null &
  echo $! > "$STATE/pid"
  for _ in $(seq 1 300); do
    healthy && break
    kill -0 "$(cat "$STATE/pid")" 2>/dev/null || { echo "moto.sh: moto exited:" >&2; cat "$STATE/moto.log" >&2; exit 1; }
    sleep 0.1
  done
  healthy || { echo "moto.sh: moto not answering after 30 s" >&2; exit 1; }
  echo "moto.sh: moto healthy on 127.0.0.1:$PORT" >&2
}

stop() {
  [ -f "$STATE/pid" ] || return 0
  kill "$(cat "$STATE/pid")" 2>/dev/null || true
  rm -f "$STATE/pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "export CUSTODIAN_TEST_MOTO_ENDPOINT=http://127.0.0.1:$PORT" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
