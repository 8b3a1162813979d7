#!/usr/bin/env bash
# Soak of a DISTRIBUTED deployment: ingest, catalog, a transcoder and a fingerprinter, each its
# own `custodian serve ROLE` process on NATS JetStream (127.0.0.1:4222), Garage
# (scripts/garage.sh) and PostgreSQL (127.0.0.1:5432), with a database, stream, subject prefix
# and bucket of this run's own. The load generator (loadtest/, as scripts/loadtest.sh drives
# it) uploads at a steady rate for SOAK_MINUTES; every SOAK_KILL_EVERY seconds a media worker
# (transcoder and fingerprinter in turn), at a job if it gets one within half the interval, is
# SIGKILLed and a replacement started. When the
# uploads end and every clip has settled, the catalogue and the bucket are checked against the
# receipts, and OUT/soak.md (and soak.json) report:
#   uploads      201 receipts
#   losses       receipted but not catalogued (goal 0; those that ended failed are also counted apart)
#   duplicates   clips catalogued more than once, clips without a receipt, more originals or
#                viewing copies in the bucket than clips (goal 0)
#   orphans      objects in the bucket that no clip accounts for (goal 0)
#   p99          upload → catalogued, from the load generator's report
# It exits non-zero if a goal is missed. Everything listens on and talks to 127.0.0.1 only.
#   SOAK_MINUTES=10 SOAK_RATE=0.5 scripts/soak.sh
# Extra arguments go to custodian-loadtest (e.g. --clip-seconds 6). SOAK_PROFILE=debug uses debug binaries (quicker to build; FFmpeg's own code is optimised
# either way). SOAK_KEEP=1 keeps the database and the bucket's objects for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=${SOAK_MINUTES:-10}
RATE=${SOAK_RATE:-0.5}
KILL_EVERY=${SOAK_KILL_EVERY:-60}
SETTLE=${SOAK_SETTLE_SECONDS:-600}
ACK_WAIT=${SOAK_ACK_WAIT:-15s}
PROFILE=${SOAK_PROFILE:-release}
OUT=${SOAK_OUT:-soak-out}
PORT=${SOAK_BASE_PORT:-18300}
POSTGRES=${SOAK_POSTGRES:-postgres://postgres@127.0.0.1:5432}
NATS=${SOAK_NATS_URL:-nats://127.0.0.1:4222}
TARGET=${CARGO_TARGET_DIR:-target}

command -v ffmpeg >/dev/null || scripts/setup-system.sh
if [ "$PROFILE" = release ]; then
  cargo build --release --locked -p custodian -p custodian-loadtest
  DIR="$TARGET/release"
else
  cargo build --locked -p custodian -p custodian-loadtest
  DIR="$TARGET/debug"
fi
BIN="$DIR/custodian"
LOADTEST="$DIR/custodian-loadtest"

scripts/garage.sh start
eval "$(scripts/garage.sh env)"

RUN="$(date -u +%Y%m%d%H%M%S)$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
DB="custodian_soak_$RUN"
BUCKET="soak-$RUN"
WORK=$(mktemp -d /var/tmp/custodian-soak.XXXXXX)
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT/receipts.txt" "$OUT/soak.md" "$OUT/soak.json"

psql_db() { psql "$POSTGRES/$DB" -v ON_ERROR_STOP=1 -qtAX "$@"; }
s3() {
  AWS_ACCESS_KEY_ID=$CUSTODIAN_TEST_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$CUSTODIAN_TEST_S3_SECRET_ACCESS_KEY \
    AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url "$CUSTODIAN_TEST_S3_ENDPOINT" "$@"
}

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -z "${SOAK_KEEP:-}" ]; then
    s3 s3 rm --recursive --quiet "s3://$BUCKET" >/dev/null 2>&1 || true
    s3 s3api delete-bucket --bucket "$BUCKET" >/dev/null 2>&1 || true
    psql "$POSTGRES/postgres" -qtAX -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

psql "$POSTGRES/postgres" -v ON_ERROR_STOP=1 -qtAX -c "CREATE DATABASE $DB"
export CUSTODIAN_DATABASE_URL="$POSTGRES/$DB"
export CUSTODIAN_S3_ENDPOINT="$CUSTODIAN_TEST_S3_ENDPOINT"
export CUSTODIAN_S3_BUCKET="$BUCKET"
export CUSTODIAN_S3_ACCESS_KEY_ID="$CUSTODIAN_TEST_S3_ACCESS_KEY_ID"
export CUSTODIAN_S3_SECRET_ACCESS_KEY="$CUSTODIAN_TEST_S3_SECRET_ACCESS_KEY"
export CUSTODIAN_S3_CREATE_BUCKET=true
export CUSTODIAN_NATS_URL="$NATS"
export CUSTODIAN_NATS_STREAM="SOAK_$RUN"
export CUSTODIAN_SUBJECT_PREFIX="soak$RUN"
# The run's stream stays on the shared NATS server (no NATS client here to remove it); its
# messages go after an hour, as the tests' do.
export CUSTODIAN_NATS_MAX_AGE=1h
# A killed worker's job goes to another after the ack wait.
export CUSTODIAN_MEDIA_ACK_WAIT="$ACK_WAIT"

# start_role ROLE PORT: starts `custodian serve ROLE` on 127.0.0.1:PORT, waits until ready,
# and leaves its pid in STARTED.
start_role() {
  local role=$1 port=$2
  CUSTODIAN_LISTEN="127.0.0.1:$port" "$BIN" --log-json serve "$role" >"$OUT/$role-$port.log" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
  for _ in $(seq 1 600); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then return 0; fi
    if ! kill -0 "$STARTED" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "soak.sh: $role on port $port did not become ready; its log:" >&2
  tail -n 30 "$OUT/$role-$port.log" >&2
  exit 1
}

start_role ingest "$PORT"
start_role catalog "$((PORT + 1))"
NEXT_PORT=$((PORT + 10))
start_role transcoder "$NEXT_PORT"; TRANSCODER=$STARTED; NEXT_PORT=$((NEXT_PORT + 1))
start_role fingerprinter "$NEXT_PORT"; FINGERPRINTER=$STARTED; NEXT_PORT=$((NEXT_PORT + 1))

TOKENS="$WORK/tokens"
for bureau in soak-east soak-west; do
  token=$("$BIN" admin token create --bureau "$bureau" --bureau-name "soak $bureau" --label soak 2>/dev/null)
  echo "$bureau=$token" >>"$TOKENS"
done

echo "soak.sh: $RATE uploads/s for $MINUTES min, a media worker SIGKILLed every ${KILL_EVERY}s; logs in $OUT/" >&2
"$LOADTEST" --ingest "http://127.0.0.1:$PORT" --catalog "http://127.0.0.1:$((PORT + 1))" \
  --tokens-file "$TOKENS" --rate "$RATE" --duration "${MINUTES}m" --settle-timeout "${SETTLE}s" \
  --out "$OUT" --plain "$@" >"$OUT/loadtest.log" 2>&1 &
LOADER=$!
PIDS+=("$LOADER")

# busy LOG START DONE...: whether the worker writing LOG has started a job it has not ended
# (more START lines than lines of any DONE kind).
busy() {
  local log=$1 start=$2 done=0 n
  shift 2
  for pattern in "$@"; do
    n=$(grep -c "$pattern" "$log" || true)
    done=$((done + n))
  done
  [ "$(grep -c "$start" "$log" || true)" -gt "$done" ]
}

# kill_mid_job PID LOG START DONE...: waits (up to half the kill interval) until the worker is
# at a job, so the kill interrupts one, then SIGKILLs it. Leaves "mid-job" or "idle" in KILLED.
kill_mid_job() {
  local pid=$1 log=$2
  shift 2
  KILLED=idle
  for _ in $(seq 1 $((KILL_EVERY * 10))); do
    if busy "$log" "$@"; then KILLED=mid-job; break; fi
    sleep 0.05
  done
  kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
}

# The nemesis: while uploads are still being made, kill a media worker on schedule, at a job
# if it gets one soon, and start its replacement at once (a pod restarted by Kubernetes).
KILLS=0
MID_JOB=0
TRANSCODER_LOG="$OUT/transcoder-$((PORT + 10)).log"
FINGERPRINTER_LOG="$OUT/fingerprinter-$((PORT + 11)).log"
UPLOADS_END=$(($(date +%s) + MINUTES * 60))
victim=transcoder
while kill -0 "$LOADER" 2>/dev/null && [ "$(($(date +%s) + KILL_EVERY))" -le "$UPLOADS_END" ]; do
  sleep "$KILL_EVERY"
  kill -0 "$LOADER" 2>/dev/null || break
  if [ "$victim" = transcoder ]; then
    kill_mid_job "$TRANSCODER" "$TRANSCODER_LOG" '"transcoding"' 'viewing copy made' 'job failed' 'job given up'
    start_role transcoder "$NEXT_PORT"; TRANSCODER=$STARTED
    TRANSCODER_LOG="$OUT/transcoder-$NEXT_PORT.log"
    victim=fingerprinter
  else
    kill_mid_job "$FINGERPRINTER" "$FINGERPRINTER_LOG" '"fingerprinting"' 'clip fingerprinted' 'job failed' 'job given up'
    start_role fingerprinter "$NEXT_PORT"; FINGERPRINTER=$STARTED
    FINGERPRINTER_LOG="$OUT/fingerprinter-$NEXT_PORT.log"
    victim=transcoder
  fi
  KILLS=$((KILLS + 1))
  if [ "$KILLED" = mid-job ]; then MID_JOB=$((MID_JOB + 1)); fi
  if [ "$victim" = transcoder ]; then killed_role=fingerprinter; else killed_role=transcoder; fi
  echo "$(date -u +%FT%TZ) SIGKILLed the $killed_role ($KILLED), replacement on port $NEXT_PORT" >>"$OUT/kills.log"
  NEXT_PORT=$((NEXT_PORT + 1))
done

loader_status=0
wait "$LOADER" || loader_status=$?
if [ "$loader_status" -ne 0 ]; then
  echo "soak.sh: the load generator failed ($loader_status):" >&2
  tail -n 20 "$OUT/loadtest.log" >&2
  exit "$loader_status"
fi

# The load generator has followed every receipted clip until it settled or its settle
# timeout ran out; now count from the catalogue and the bucket themselves.
psql_db <<SQL >"$WORK/counts"
CREATE TEMP TABLE receipts (id uuid);
\copy receipts FROM '$OUT/receipts.txt'
SELECT
  (SELECT count(*) FROM receipts),
  (SELECT count(DISTINCT id) FROM receipts),
  (SELECT count(*) FROM receipts r JOIN clips c ON c.id = r.id WHERE c.state = 'catalogued'),
  (SELECT count(*) FROM receipts r JOIN clips c ON c.id = r.id WHERE c.state = 'failed'),
  (SELECT count(*) FROM clips c WHERE NOT EXISTS (SELECT 1 FROM receipts r WHERE r.id = c.id)),
  (SELECT count(*) FROM (SELECT clip_id FROM clip_transitions WHERE to_state = 'catalogued'
                         GROUP BY clip_id HAVING count(*) > 1) twice),
  (SELECT count(*) FROM clips),
  (SELECT count(*) FROM clip_media WHERE transcoded_at IS NOT NULL);
SQL
IFS='|' read -r receipted distinct catalogued failed unreceipted twice clips transcoded <"$WORK/counts"
lost=$((receipted - catalogued))
psql_db -c "SELECT object_key FROM clips" | sort >"$WORK/original-keys"

s3 s3api list-objects-v2 --bucket "$BUCKET" --query 'Contents[].Key' --output text \
  | tr '\t' '\n' | grep -v '^None$' | sed '/^$/d' | sort >"$WORK/bucket-keys"
grep '^originals/' "$WORK/bucket-keys" >"$WORK/bucket-originals" || true
originals=$(wc -l <"$WORK/bucket-originals")
views=$(grep -c '/view\.mp4$' "$WORK/bucket-keys" || true)
# An original no clip names, or derived files of a clip the catalogue does not know.
orphan_originals=$(comm -23 "$WORK/bucket-originals" "$WORK/original-keys" | wc -l)
psql_db -c "SELECT 'derived/' || bureau_id || '/' || id || '/' FROM clips" | sort >"$WORK/derived-prefixes"
orphan_derived=$(grep '^derived/' "$WORK/bucket-keys" | sed -E 's#^(derived/[^/]+/[^/]+/).*#\1#' | sort -u \
  | comm -23 - "$WORK/derived-prefixes" | wc -l)
missing_originals=$(comm -13 "$WORK/bucket-originals" "$WORK/original-keys" | wc -l)
orphans=$((orphan_originals + orphan_derived))
duplicates=$((receipted - distinct + twice + unreceipted))
extra_objects=$(( (originals > clips ? originals - clips : 0) + (views > transcoded ? views - transcoded : 0) ))
duplicates=$((duplicates + extra_objects))

p99=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); p=r.get("upload_to_catalogued"); print("%.0f" % p["p99_ms"] if p else "n/a")' "$OUT/report.json")
max=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); p=r.get("upload_to_catalogued"); print("%.0f" % p["max_ms"] if p else "n/a")' "$OUT/report.json")
p50=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); p=r.get("upload_to_catalogued"); print("%.0f" % p["p50_ms"] if p else "n/a")' "$OUT/report.json")
upload_errors=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counts"]["upload_errors"])' "$OUT/report.json")

cat >"$OUT/soak.json" <<JSON
{"minutes": $MINUTES, "rate_per_s": $RATE, "kill_every_s": $KILL_EVERY, "kills": $KILLS, "kills_mid_job": $MID_JOB,
 "uploads": $receipted, "upload_errors": $upload_errors, "catalogued": $catalogued, "failed": $failed,
 "losses": $lost, "duplicates": $duplicates, "orphans": $orphans, "missing_originals": $missing_originals,
 "clips_catalogued_twice": $twice, "clips_without_receipt": $unreceipted,
 "bucket_originals": $originals, "bucket_viewing_copies": $views, "clips": $clips,
 "p50_upload_to_catalogued_ms": "$p50", "p99_upload_to_catalogued_ms": "$p99", "max_upload_to_catalogued_ms": "$max"}
JSON
cat >"$OUT/soak.md" <<MD
# Custodian soak, $(date -u +%FT%TZ)

Distributed: ingest, catalog, transcoder, fingerprinter as separate processes on NATS
JetStream, Garage and PostgreSQL. $RATE uploads/s for $MINUTES min ($PROFILE build); a media
worker SIGKILLed every ${KILL_EVERY}s and replaced ($KILLS kills, $MID_JOB of them in the middle
of a job); media ack wait $ACK_WAIT, so an interrupted job is taken up again after it.

| uploads (201) | upload errors | catalogued | failed | losses | duplicates | orphan objects | missing originals | p50 upload → catalogued | p99 upload → catalogued | max |
|---|---|---|---|---|---|---|---|---|---|---|
| $receipted | $upload_errors | $catalogued | $failed | $lost | $duplicates | $orphans | $missing_originals | $p50 ms | $p99 ms | $max ms |

Duplicates count clips catalogued more than once ($twice), clips without a receipt
($unreceipted), repeated receipts ($((receipted - distinct))) and originals or viewing copies
beyond one per clip ($extra_objects; the bucket holds $originals originals and $views viewing
copies for $clips clips, $transcoded transcoded). The load generator's own report is
report.md beside this file; the kills are in kills.log, each process's log in ROLE-PORT.log.
MD
cat "$OUT/soak.md"
[ "$lost" -eq 0 ] && [ "$duplicates" -eq 0 ] && [ "$orphans" -eq 0 ] && [ "$missing_originals" -eq 0 ]
