#!/usr/bin/env bash
# A throw-away single-node Garage (S3-compatible server) on 127.0.0.1 for tests and local runs.
#   scripts/garage.sh start   install if missing, start if not running, wait until healthy
#   scripts/garage.sh stop    stop it and wait for it to exit
#   scripts/garage.sh env     print the CUSTODIAN_TEST_S3_* variables for tests
# Keys are made at random on first start and kept in the state directory (mode 600), never in
# the repository. Ports: S3 3900, RPC 3901, admin 3903 (override with GARAGE_*_PORT).
set -euo pipefail

GARAGE_VERSION=2.5.0
TOOLS=${CUSTODIAN_TOOLS:-/var/cache/custodian}
STATE=${CUSTODIAN_GARAGE_DIR:-/var/tmp/custodian-garage}
S3_PORT=${GARAGE_S3_PORT:-3900}
RPC_PORT=${GARAGE_RPC_PORT:-3901}
ADMIN_PORT=${GARAGE_ADMIN_PORT:-3903}
BIN="$TOOLS/garage/bin/garage"

install_garage() {
  if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then return; fi
  echo "garage.sh: building Garage $GARAGE_VERSION (once per machine, ~20 min on 2 cores)" >&2
  # Only the SQLite metadata engine: fewer crates to build, and all a test node needs.
  cargo install --locked garage --version "$GARAGE_VERSION" --no-default-features \
    --features bundled-libs,sqlite --root "$TOOLS/garage" >&2
}

write_config() {
  mkdir -p "$STATE/meta" "$STATE/data"
  chmod 700 "$STATE"
  if [ ! -f "$STATE/secrets" ]; then
    umask 077
    {
      echo "RPC_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
      echo "ACCESS_KEY=GK$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
      echo "SECRET_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
    } > "$STATE/secrets"
  fi
  # shellcheck disable=SC1091
  . "$STATE/secrets"
  umask 077
  cat > "$STATE/garage.toml" <<TOML
metadata_dir = "$STATE/meta"
data_dir = "$STATE/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$RPC_SECRET"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.localhost"

[admin]
api_bind_addr = "127.0.0.1:$ADMIN_PORT"
TOML
}

healthy() { curl -fsS -o /dev/null "http://127.0.0.1:$ADMIN_PORT/health" 2>/dev/null; }

start() {
  install_garage
  write_config
  if healthy; then return; fi
  # shellcheck disable=SC1091
  . "$STATE/secrets"
  GARAGE_DEFAULT_ACCESS_KEY="$ACCESS_KEY" GARAGE_DEFAULT_SECRET_KEY="$SECRET_KEY" GARAGE_DEFAULT_BUCKET=custodian \
    RUST_LOG=warn setsid "$BIN" -c "$STATE/garage.toml" server --single-node --default-bucket \
    >"$STATE/garage.log" 2>&1 < /dev/null &
  echo $! > "$STATE/pid"
  for _ in $(seq 1 300); do
    if healthy; then break; fi
    if ! kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
      echo "garage.sh: Garage exited; its log:" >&2; cat "$STATE/garage.log" >&2; exit 1
    fi
    sleep 0.1
  done
  healthy || { echo "garage.sh: Garage not healthy after 30 s; log in $STATE/garage.log" >&2; exit 1; }
  # Tests make a bucket each.
  "$BIN" -c "$STATE/garage.toml" key allow --create-bucket "$ACCESS_KEY" >/dev/null
  echo "garage.sh: Garage $GARAGE_VERSION healthy on 127.0.0.1:$S3_PORT" >&2
}

stop() {
  [ -f "$STATE/pid" ] || return 0
  local pid; pid=$(cat "$STATE/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$STATE/pid"
}

print_env() {
  # shellcheck disable=SC1091
  . "$STATE/secrets"
  echo "export CUSTODIAN_TEST_S3_ENDPOINT=http://127.0.0.1:$S3_PORT"
  echo "export CUSTODIAN_TEST_S3_ACCESS_KEY_ID=$ACCESS_KEY"
  echo "export CUSTODIAN_TEST_S3_SECRET_ACCESS_KEY=$SECRET_KEY"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
