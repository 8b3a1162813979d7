#!/usr/bin/env bash
# Benchmark of resumable (tus) ingest against `aws s3 cp`: the same random file to the same
# Garage server, runs interleaved in the same session (taking turns going first), median of
# RUNS. The tus side is the collection-station agent (`custodian upload`, CHUNK per PATCH,
# each with its Upload-Checksum) against `custodian serve ingest` on PostgreSQL and NATS, so
# its time includes the agent's own hashing of the file, the progress commits, the read-back
# verification and the clip's record. Ratio = aws time / tus time (goal >= 0.85). Peak RSS is
# the ingest process's VmHWM over all runs of a size.
#   SIZES_MIB=1024 RUNS=6 CHUNK=8MiB scripts/bench-tus.sh
# Everything listens on and talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES_MIB=${SIZES_MIB:-1024}
RUNS=${RUNS:-6}
CHUNK=${CHUNK:-8MiB}
PORT=${BENCH_PORT:-18081}

BENCH_NAME=bench-tus
. scripts/bench-common.sh

echo "| file | chunk | aws s3 cp (s) | custodian upload over tus (s) | throughput ratio (aws/tus) | ingest peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
for size in $SIZES_MIB; do
  "$BIN" serve ingest >"$WORK/ingest.log" 2>&1 &
  INGEST_PID=$!
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break; sleep 0.1; done

  : > "$WORK/aws.times"; : > "$WORK/tus.times"
  for run in $(seq 1 "$RUNS"); do
    # A GA/T 947 name per run: the agent reads device, officer and time from it.
    file="$WORK/BENCH-1_000001_20260214_0930$(printf '%02d' "$run").mp4"
    head -c "$((size * 1024 * 1024))" /dev/urandom > "$file"
    # Each transfer starts with nothing left to write back from the one before, and the two
    # take turns going first: the first transfer after the file is made runs slower.
    if [ $((run % 2)) = 1 ]; then order="aws tus"; else order="tus aws"; fi
    for who in $order; do
      sync
      t0=$(now)
      if [ "$who" = aws ]; then
        aws --endpoint-url "$CUSTODIAN_TEST_S3_ENDPOINT" s3 cp --quiet "$file" "s3://$BUCKET/aws/$size-$run.bin"
        aws_took=$(echo "$(now) - $t0" | bc -l)
      else
        "$BIN" upload --server "http://127.0.0.1:$PORT" --state "$WORK/state-$run.json" \
          --chunk-size "$CHUNK" "$file" 2>"$WORK/agent.log" \
          || { echo "agent failed: $(tail -5 "$WORK/agent.log")" >&2; exit 1; }
        tus_took=$(echo "$(now) - $t0" | bc -l)
      fi
    done
    echo "$aws_took" >> "$WORK/aws.times"
    echo "$tus_took" >> "$WORK/tus.times"
    printf 'bench-tus.sh: %s MiB run %s (%s first): aws %.2f s, tus %.2f s\n' "$size" "$run" "${order%% *}" "$aws_took" "$tus_took" >&2
    # Objects are removed only on exit: Garage collects deleted blocks in the background,
    # which would slow whichever transfer came next.
    rm -f "$file"
  done
  peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$INGEST_PID/status")
  # Where a tus second goes: the server's own time per request (PATCHes and creations).
  curl -fsS "http://127.0.0.1:$PORT/metrics" | awk '/^custodian_upload_duration_seconds_(sum|count)/ {v[$1]=$2}
    END {c=v["custodian_upload_duration_seconds_count"]; if (c) printf "bench-tus.sh: %d requests, %.1f ms of server time each\n", c, 1000*v["custodian_upload_duration_seconds_sum"]/c > "/dev/stderr"}' || true
  kill "$INGEST_PID"; wait "$INGEST_PID" || true; INGEST_PID=

  aws_s=$(median < "$WORK/aws.times"); tus_s=$(median < "$WORK/tus.times")
  printf '| %s MiB | %s | %.2f | %.2f | %.2f | %.0f |\n' "$size" "$CHUNK" "$aws_s" "$tus_s" "$(echo "$aws_s / $tus_s" | bc -l)" "$(echo "$peak_kib / 1024" | bc -l)"
done
