#!/usr/bin/env bash
# Benchmark of the ingest role against `aws s3 cp`, same file, same Garage server, runs
# interleaved in the same session. For each size: the wall time of each (median of RUNS), the
# throughput ratio (aws time / ingest time; 1.0 = as fast as the AWS CLI) and the ingest
# process's peak RSS (a fresh process per size, so the peaks are comparable).
#   SIZES_MIB="256 1024" RUNS=3 scripts/bench-ingest.sh
# Everything listens on and talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES_MIB=${SIZES_MIB:-"256 1024"}
RUNS=${RUNS:-3}
PORT=${BENCH_PORT:-18080}

BENCH_NAME=bench
. scripts/bench-common.sh

echo "| file | aws s3 cp (s) | custodian ingest (s) | throughput ratio (aws/ingest) | ingest peak RSS (MiB) |"
echo "|---|---|---|---|---|"
for size in $SIZES_MIB; do
  file="$WORK/clip-$size.bin"
  head -c "$((size * 1024 * 1024))" /dev/urandom > "$file"
  digest=$(openssl dgst -sha256 -binary "$file" | base64)

  "$BIN" serve ingest >"$WORK/ingest.log" 2>&1 &
  INGEST_PID=$!
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break; sleep 0.1; done

  : > "$WORK/aws.times"; : > "$WORK/ingest.times"
  for run in $(seq 1 "$RUNS"); do
    t0=$(now)
    aws --endpoint-url "$CUSTODIAN_TEST_S3_ENDPOINT" s3 cp --quiet "$file" "s3://$BUCKET/aws/$size-$run.bin"
    t1=$(now)
    status=$(curl -sS -o "$WORK/receipt.json" -w '%{http_code}' -T "$file" \
      -H "Authorization: Bearer $CUSTODIAN_TOKEN" -H "Content-Digest: sha-256=:$digest:" \
      "http://127.0.0.1:$PORT/v1/uploads?device=BENCH-1&officer=1&recorded_at=2026-02-14T09:30:00%2B08:00&file_name=bench-$size-$run.mp4")
    t2=$(now)
    [ "$status" = 201 ] || { echo "ingest answered $status: $(cat "$WORK/receipt.json")" >&2; exit 1; }
    echo "$t1 - $t0" | bc -l >> "$WORK/aws.times"
    echo "$t2 - $t1" | bc -l >> "$WORK/ingest.times"
    aws --endpoint-url "$CUSTODIAN_TEST_S3_ENDPOINT" s3 rm --quiet --recursive "s3://$BUCKET/" >/dev/null
  done
  peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$INGEST_PID/status")
  kill "$INGEST_PID"; wait "$INGEST_PID" || true; INGEST_PID=

  aws_s=$(median < "$WORK/aws.times"); ingest_s=$(median < "$WORK/ingest.times")
  printf '| %s MiB | %.2f | %.2f | %.2f | %.0f |\n' "$size" "$aws_s" "$ingest_s" "$(echo "$aws_s / $ingest_s" | bc -l)" "$(echo "$peak_kib / 1024" | bc -l)"
  rm -f "$file"
done
