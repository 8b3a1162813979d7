#!/usr/bin/env bash
# Benchmark of the media workers against the ffmpeg command line, on a 60 s 1080p30 H.264 +
# AAC clip this script makes, runs interleaved in the same session, median of RUNS:
# - transcoder: `custodian media transcode` (decode, scale to 720p, drawtext clock, libass
#   place/identity, libx264 veryfast crf 28, AAC, faststart) against ffmpeg producing the same
#   output from the same overlay files; ratio = ours / ffmpeg wall time (goal <= 1.0);
# - fingerprinter: `custodian media fingerprint` against decode-only `ffmpeg -f null`;
#   realtime factor = clip seconds / wall seconds, per core = divided by the cores in use.
# - the sandbox: the same two jobs with --sandbox (in the workers' confined child process, as
#   the workers run them) against in process; ratio = sandboxed / in process, wall and CPU
#   time (user + system, the child's included; goal <= 1.03).
# Peak RSS of each from /usr/bin/time.
#   RUNS=3 SECONDS_LONG=60 scripts/bench-media.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
LENGTH=${SECONDS_LONG:-60}
TARGET=${CARGO_TARGET_DIR:-target}
CORES=$(nproc)

scripts/setup-system.sh
cargo build --release --locked --bin custodian
BIN="$TARGET/release/custodian"

WORK=$(mktemp -d /var/tmp/custodian-media-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
CLIP="$WORK/clip.mp4"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$LENGTH" \
  -f lavfi -i "sine=frequency=440:duration=$LENGTH" \
  -c:v libx264 -preset veryfast -g 30 -pix_fmt yuv420p -c:a aac \
  -metadata creation_time=2026-02-14T01:30:00Z -metadata location=+30.2741+120.1551/ "$CLIP"

measure() { # prints "wall_seconds peak_rss_kib cpu_seconds" of the command
  /usr/bin/time -f "%e %M %U %S" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr" >&2; exit 1; }
  awk '{print $1, $2, $3 + $4}' "$WORK/time"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

: > "$WORK/ours"; : > "$WORK/cli"; : > "$WORK/fp"; : > "$WORK/decode"; : > "$WORK/ours-sb"; : > "$WORK/fp-sb"
for run in $(seq 1 "$RUNS"); do
  rm -rf "$WORK/out"; mkdir -p "$WORK/out"
  measure "$BIN" media transcode "$CLIP" --out-dir "$WORK/out" --place "杭州市西湖区文三路" \
    --device DSJ-0001 --officer 031234 >> "$WORK/ours"
  measure ffmpeg -hide_banner -loglevel error -y -i "$CLIP" \
    -vf "scale=1280:720,setsar=1,format=yuv420p,drawtext=textfile=$WORK/out/clock.txt:font='Noto Sans CJK SC':fontsize=30:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=7:x=15:y=15,subtitles=filename=$WORK/out/overlay.ass" \
    -c:v libx264 -preset veryfast -crf 28 -c:a aac -ar 48000 -b:a 128k -movflags +faststart "$WORK/cli.mp4" >> "$WORK/cli"
  rm -rf "$WORK/out-sb"; mkdir -p "$WORK/out-sb"
  measure "$BIN" media transcode --sandbox "$CLIP" --out-dir "$WORK/out-sb" --place "杭州市西湖区文三路" \
    --device DSJ-0001 --officer 031234 >> "$WORK/ours-sb"
  measure "$BIN" media fingerprint "$CLIP" >> "$WORK/fp"
  measure "$BIN" media fingerprint --sandbox "$CLIP" >> "$WORK/fp-sb"
  measure ffmpeg -hide_banner -loglevel error -i "$CLIP" -map 0:v -f null - >> "$WORK/decode"
  echo "run $run done" >&2
done

col() { awk "{print \$$2}" "$WORK/$1" | median; }
ours=$(col ours 1); cli=$(col cli 1); fp=$(col fp 1); decode=$(col decode 1)
echo "| job | custodian (s) | ffmpeg CLI (s) | ratio | custodian peak RSS (MiB) | ffmpeg peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
printf "| transcode %ss 1080p30 → 720p + overlay | %.1f | %.1f | %.2f (ours/CLI) | %.0f | %.0f |\n" "$LENGTH" \
  "$ours" "$cli" "$(echo "$ours / $cli" | bc -l)" "$(echo "$(col ours 2) / 1024" | bc -l)" "$(echo "$(col cli 2) / 1024" | bc -l)"
printf "| fingerprint vs decode-only | %.1f (%.0f× realtime, %.0f× per core) | %.1f (%.0f× realtime) | %.2f (ours/CLI) | %.0f | %.0f |\n" \
  "$fp" "$(echo "$LENGTH / $fp" | bc -l)" "$(echo "$LENGTH / $fp / $CORES" | bc -l)" \
  "$decode" "$(echo "$LENGTH / $decode" | bc -l)" "$(echo "$fp / $decode" | bc -l)" \
  "$(echo "$(col fp 2) / 1024" | bc -l)" "$(echo "$(col decode 2) / 1024" | bc -l)"
echo
echo "| job (sandbox) | in process wall / CPU (s) | sandboxed wall / CPU (s) | ratio wall | ratio CPU |"
echo "|---|---|---|---|---|"
for job in "transcode ours ours-sb" "fingerprint fp fp-sb"; do
  set -- $job
  printf "| %s | %.2f / %.2f | %.2f / %.2f | %.3f | %.3f |\n" "$1" "$(col "$2" 1)" "$(col "$2" 3)" \
    "$(col "$3" 1)" "$(col "$3" 3)" "$(echo "$(col "$3" 1) / $(col "$2" 1)" | bc -l)" \
    "$(echo "$(col "$3" 3) / $(col "$2" 3)" | bc -l)"
done
