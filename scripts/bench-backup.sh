#!/usr/bin/env bash
# Benchmark of `custodian backup` and `custodian restore` (issue #25) against what an operator
# would do by hand for the same guarantee, in the same run, interleaved, median of RUNS:
# - backup (first) against `cp -a DATA/blobs` plus `sha256sum` of every copied file (a copy
#   and the hashes to check it by; the catalogue's copy, a few MB beside the footage, is
#   left out of the baseline);
# - backup (incremental, one new clip in the repository's snapshot) against the same;
# - restore against `cp -a` of the copy back plus `sha256sum -c`;
# - `custodian catalogue rebuild` of the restored directory with its catalogue deleted,
#   against `sha256sum` of its originals (the rebuild reads and hashes each one too).
# A standalone server runs on a temporary data directory while the backups are taken; the
# footage is COUNT random files of SIZE_MB each uploaded through the API.
#   COUNT=20 SIZE_MB=25 RUNS=3 scripts/bench-backup.sh
#   CUSTODIAN_BIN=/path/to/custodian scripts/bench-backup.sh   # an existing build, no cargo
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
COUNT=${COUNT:-20}
SIZE_MB=${SIZE_MB:-25}
PORT=${PORT:-18931}

if [ -n "${CUSTODIAN_BIN:-}" ]; then
  BIN=$CUSTODIAN_BIN
else
  cargo build --release --locked --bin custodian
  BIN="${CARGO_TARGET_DIR:-target}/release/custodian"
fi

WORK=$(mktemp -d /var/tmp/custodian-backup-bench.XXXXXX)
cleanup() {
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
DATA=$WORK/data

"$BIN" standalone --data "$DATA" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
deadline=$((SECONDS + 60))
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
  ((SECONDS < deadline)) || { cat "$WORK/server.log"; echo "bench-backup.sh: the server did not start" >&2; exit 1; }
  kill -0 "$SERVER_PID" || { cat "$WORK/server.log"; exit 1; }
  sleep 0.2
done
TOKEN=$("$BIN" admin token create --bureau bench --data "$DATA" 2>/dev/null)

upload() {  # upload N: one random clip of SIZE_MB
  local file=$WORK/clip-$1
  head -c "$((SIZE_MB << 20))" /dev/urandom >"$file"
  local digest
  digest=$(openssl dgst -sha256 -binary "$file" | base64)
  curl -sf -T "$file" -H "Authorization: Bearer $TOKEN" -H "Content-Digest: sha-256=:$digest:" \
    "http://127.0.0.1:$PORT/v1/uploads?device=DSJ-0001&officer=031234&recorded_at=2026-02-14T09:30:00%2B08:00&file_name=c$1.mp4" >/dev/null
  rm -f "$file"
}
for i in $(seq 1 "$COUNT"); do upload "$i"; done
echo "footage: $COUNT clips of $SIZE_MB MiB"
# The custody role writes each original's record beside it within seconds.
deadline=$((SECONDS + 60))
until [ "$(find "$DATA/blobs/records" -type f 2>/dev/null | wc -l)" -ge "$COUNT" ]; do
  ((SECONDS < deadline)) || { echo "bench-backup.sh: the records were not written" >&2; exit 1; }
  sleep 0.5
done

# seconds COMMAND...: wall-clock seconds of the command.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
baseline_copy() {  # baseline_copy TO: the blobs copied and hashed
  cp -a "$DATA/blobs" "$1" && find "$1" -type f -print0 | xargs -0 sha256sum >"$1.sha256"
}
baseline_restore() {  # baseline_restore FROM TO
  cp -a "$1" "$2" && (cd "$2" && sed "s#$1#.#" "$1.sha256" | sha256sum -c --quiet)
}

: >"$WORK/first" >"$WORK/first-base" >"$WORK/incr" >"$WORK/restore" >"$WORK/restore-base" >"$WORK/rebuild" >"$WORK/rebuild-base"
for run in $(seq 1 "$RUNS"); do
  repo=$WORK/repo-$run base=$WORK/base-$run
  if ((run % 2)); then
    seconds "$BIN" backup --data "$DATA" --to "$repo" >>"$WORK/first"
    seconds baseline_copy "$base" >>"$WORK/first-base"
  else
    seconds baseline_copy "$base" >>"$WORK/first-base"
    seconds "$BIN" backup --data "$DATA" --to "$repo" >>"$WORK/first"
  fi
  upload "extra-$run"
  seconds "$BIN" backup --data "$DATA" --to "$repo" >>"$WORK/incr"
  seconds "$BIN" restore --from "$repo" --data "$WORK/restored-$run" >>"$WORK/restore"
  seconds baseline_restore "$base" "$WORK/base-restored-$run" >>"$WORK/restore-base"
  rm -f "$WORK/restored-$run"/catalogue.db*
  seconds "$BIN" catalogue rebuild --data "$WORK/restored-$run" >>"$WORK/rebuild"
  seconds sh -c "find '$WORK/restored-$run/blobs/originals' -type f -print0 | xargs -0 sha256sum" >>"$WORK/rebuild-base"
  rm -rf "$repo" "$base" "$base.sha256" "$WORK/restored-$run" "$WORK/base-restored-$run"
done

first=$(median <"$WORK/first") first_base=$(median <"$WORK/first-base")
incr=$(median <"$WORK/incr")
restore=$(median <"$WORK/restore") restore_base=$(median <"$WORK/restore-base")
rebuild=$(median <"$WORK/rebuild") rebuild_base=$(median <"$WORK/rebuild-base")
echo
echo "| step | custodian (s) | cp -a + sha256sum (s) | ratio |"
echo "|---|---|---|---|"
printf '| backup, first | %.2f | %.2f | %.2f |\n' "$first" "$first_base" "$(echo "$first / $first_base" | bc -l)"
printf '| backup, incremental (one new clip) | %.2f | %.2f | %.2f |\n' "$incr" "$first_base" "$(echo "$incr / $first_base" | bc -l)"
printf '| restore (every hash, receipt and the audit trail checked) | %.2f | %.2f | %.2f |\n' "$restore" "$restore_base" "$(echo "$restore / $restore_base" | bc -l)"
printf '| catalogue rebuild from the store (against sha256sum of the originals) | %.2f | %.2f | %.2f |\n' "$rebuild" "$rebuild_base" "$(echo "$rebuild / $rebuild_base" | bc -l)"
