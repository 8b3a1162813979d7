#!/usr/bin/env bash
# Makes sure PostgreSQL and NATS JetStream answer on 127.0.0.1, starting them if they do not.
# On a machine without them, installs Debian's packages first.
set -euo pipefail

wait_for() { # name, command
  for _ in $(seq 1 150); do
    if eval "$2" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "services.sh: $1 does not answer after 30 s" >&2
  return 1
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }

if ! command -v pg_ctlcluster >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
if ! pg_up; then
  echo "services.sh: starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
wait_for PostgreSQL pg_up
# Tests connect as postgres over TCP without a password (trust on loopback), as on this
# project's machines; say so plainly if this machine differs.
psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null \
  || { echo "services.sh: cannot connect as postgres@127.0.0.1 without a password; set CUSTODIAN_TEST_POSTGRES_URL" >&2; exit 1; }

if ! command -v nats-server >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >&2
fi
if ! nats_up; then
  echo "services.sh: starting NATS with JetStream" >&2
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
wait_for NATS nats_up
