#!/usr/bin/env bash
# Benchmark of the record kinds (issue #19) against the command-line tools doing the same work,
# on files this script makes, runs interleaved in the same session (which side goes first
# alternates), median of RUNS (photos: at least 7, documents: at least 5):
# - sound: `custodian media transcode` (one decode: the AAC 48 kHz listening copy in an MP4,
#   faststart, and the waveform poster on white) against ffmpeg making the same two files as
#   two commands (copy, then waveform: the file decoded twice, the fair baseline) and as one
#   (asplit: decoded once); `custodian media fingerprint` (decode, continuity and Chromaprint's
#   sound fingerprint) against `ffmpeg -f chromaprint` (the same items, libchromaprint) and,
#   for scale, decode-only `ffmpeg -f null`.
#   Recordings of 60 s and SOUND_LONG s, 44.1 kHz, as M4A (AAC stereo), MP3 (mono) and WAV
#   (mono PCM);
# - photos: `custodian media transcode` (turned upright by EXIF, scaled to at most 720 lines,
#   the drawtext clock, the libass place/device/officer lines, a JPEG and a 240-line
#   thumbnail) against one ffmpeg command making both JPEGs from the same overlay files (our
#   clock.txt and overlay.ass); `custodian media fingerprint`
#   against ffmpeg scaling the photo to 32x32 grey. A 12 MP 4000x3000 JPEG and a 1920x1080
#   one with EXIF orientation 6 (a phone's portrait, shown 1080x1920). Their names have no
#   extension, as the server stores originals: `custodian media` refuses `photo.jpg`, because
#   FFmpeg's image2 demuxer wins the probe by the extension and is not on the whitelist;
# - documents: the workers run Poppler's tools themselves, so there is no "ours": pdfinfo,
#   pdftotext, the first page's 480-pixel thumbnail (as the workers make it) and every page
#   rendered the same way, per call and per page, with a tool's start-up (`pdftoppm -v`) for
#   scale; text PDFs of 1, 10 and 50 pages and a one-page scan (a 300 dpi JPEG).
# Ratio = ours / CLI (goal <= 1.1), wall and CPU (user + system). Peak RSS is the child's
# ru_maxrss. Prints markdown tables.
#   RUNS=3 SOUND_LONG=300 scripts/bench-records.sh
#   CUSTODIAN_BIN=/path/to/custodian scripts/bench-records.sh   # an existing build, no cargo
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
PHOTO_RUNS=$((RUNS > 7 ? RUNS : 7))  # a photo takes a fraction of a second: more runs
DOC_RUNS=$((RUNS > 5 ? RUNS : 5))
LONG=${SOUND_LONG:-300}
FONT="Noto Sans CJK SC"
PLACE="杭州市西湖区文三路"

scripts/setup-system.sh
if [ -n "${CUSTODIAN_BIN:-}" ]; then
  BIN=$CUSTODIAN_BIN
else
  cargo build --release --locked --bin custodian
  BIN="${CARGO_TARGET_DIR:-target}/release/custodian"
fi

WORK=$(mktemp -d /var/tmp/custodian-records-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/r"

# measure.py RESULTS STDERR COMMAND...: appends "wall_seconds peak_rss_kib cpu_seconds" of the
# command (its own rusage: microseconds, where /usr/bin/time rounds to 10 ms).
cat > "$WORK/measure.py" <<'EOF'
import os, subprocess, sys, time
results, errors, command = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(errors, "wb") as stderr:
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
child.returncode = os.waitstatus_to_exitcode(status)
if child.returncode != 0:
    sys.stderr.write(open(errors, errors="replace").read())
    sys.exit(f"exit status {child.returncode}: {' '.join(command)}")
with open(results, "a") as out:
    out.write(f"{wall:.6f} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime:.6f}\n")
EOF
m() { local key=$1; shift; python3 "$WORK/measure.py" "$WORK/r/$key" "$WORK/stderr" "$@"; }
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }

# --- the files -------------------------------------------------------------------------------
echo "making the files" >&2
SOUNDS=()
for len in 60 "$LONG"; do
  # Speech-like: pink noise over a low tone, in bursts of syllables with pauses between.
  ff -f lavfi -i "anoisesrc=color=pink:amplitude=0.3:sample_rate=44100:seed=7:duration=$len" \
    -f lavfi -i "sine=frequency=180:sample_rate=44100:duration=$len" \
    -filter_complex "[0:a][1:a]amix=inputs=2,volume='0.1+0.9*abs(sin(2*PI*1.9*t))*lt(mod(t,6),4.5)':eval=frame,pan=stereo|c0=c0|c1=c0" \
    -c:a pcm_s16le "$WORK/speech.wav"
  ff -i "$WORK/speech.wav" -c:a aac -b:a 128k "$WORK/sound${len}s.m4a"
  ff -i "$WORK/speech.wav" -ac 1 -c:a libmp3lame -b:a 64k "$WORK/sound${len}s.mp3"
  ff -i "$WORK/speech.wav" -ac 1 -c:a pcm_s16le "$WORK/sound${len}s.wav"
  SOUNDS+=("sound${len}s.m4a" "sound${len}s.mp3" "sound${len}s.wav")
done
rm "$WORK/speech.wav"

ff -f lavfi -i "testsrc2=size=4000x3000:rate=1,noise=alls=30:allf=t" -frames:v 1 -q:v 2 \
  -f image2 -c:v mjpeg "$WORK/photo12mp"
ff -f lavfi -i "testsrc2=size=1920x1080:rate=1,noise=alls=30:allf=t" -frames:v 1 -q:v 2 \
  -f image2 -c:v mjpeg "$WORK/landscape.jpg"
PHOTOS=(photo12mp portrait)

python3 - "$WORK" <<'EOF'
import struct, subprocess, sys
work = sys.argv[1]

# The portrait: the landscape JPEG with an EXIF block saying "turn 90° clockwise" (6).
jpeg = open(f"{work}/landscape.jpg", "rb").read()
tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<I", 0)
app1 = b"Exif\x00\x00" + tiff
open(f"{work}/portrait", "wb").write(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:])

# PDFs laid out as crates/platform/src/testing/pdf.rs writes them.
def pdf(objects):
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects):
        offsets.append(len(out))
        out += f"{i + 1} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)

def stream(dictionary, data):
    return f"<< {dictionary} /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"

def text_pdf(pages):
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for page in range(pages):
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * page} 0 R >>".encode())
        lines = [f"BT /F1 14 Tf 72 {700 - 20 * n} Td (Statement page {page + 1} line {n + 1}: "
                 f"the witness saw the vehicle turn left at 09:3{n % 10}.) Tj ET" for n in range(33)]
        objects.append(stream("", "\n".join(lines).encode()))
    return pdf(objects)

for pages in (1, 10, 50):
    open(f"{work}/text{pages}p.pdf", "wb").write(text_pdf(pages))

# The scan: page 1 rendered at 300 dpi as a JPEG, filling a letter page, no text.
subprocess.run(["pdftoppm", "-r", "300", "-jpeg", "-singlefile", f"{work}/text1p.pdf", f"{work}/scan"], check=True)
scan = open(f"{work}/scan.jpg", "rb").read()
width, height = 2550, 3300
open(f"{work}/scan1p.pdf", "wb").write(pdf([
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
    b"/Resources << /XObject << /Im1 4 0 R >> >> /Contents 5 0 R >>",
    stream(f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
           "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode", scan),
    stream("", b"q 612 0 0 792 0 0 cm /Im1 Do Q"),
]))
EOF
DOCS=(text1p.pdf text10p.pdf text50p.pdf scan1p.pdf)

# --- sound ------------------------------------------------------------------------------------
WAVE="aformat=channel_layouts=mono,showwavespic=s=960x240:colors=0x1d4ed8:scale=sqrt:draw=full,format=rgba[wave];color=c=white:s=960x240:r=1:d=1[paper];[paper][wave]overlay=format=auto"
sound_ours() {
  rm -rf "$WORK/out"; mkdir "$WORK/out"
  m "$1.ours" "$BIN" media transcode "$WORK/$1" --out-dir "$WORK/out" --place "$PLACE" \
    --device DSJ-0001 --officer 031234
}
sound_cli() {
  local rate=128k
  [ "$(ffprobe -v error -select_streams a:0 -show_entries stream=channels -of csv=p=0 "$WORK/$1")" = 1 ] && rate=64k
  m "$1.copy" ffmpeg -hide_banner -loglevel error -y -i "$WORK/$1" -vn -af aresample=48000:async=1 \
    -c:a aac -b:a "$rate" -movflags +faststart "$WORK/cli.mp4"
  m "$1.wave" ffmpeg -hide_banner -loglevel error -y -i "$WORK/$1" -filter_complex "$WAVE" \
    -frames:v 1 -q:v 3 -update 1 "$WORK/cli-wave.jpg"
  m "$1.one" ffmpeg -hide_banner -loglevel error -y -i "$WORK/$1" \
    -filter_complex "[0:a]asplit[copy][drawn];[copy]aresample=48000:async=1[sound];[drawn]$WAVE[picture]" \
    -map "[sound]" -c:a aac -b:a "$rate" -movflags +faststart "$WORK/cli.mp4" \
    -map "[picture]" -frames:v 1 -q:v 3 -update 1 "$WORK/cli-wave.jpg"
}

# --- photos -----------------------------------------------------------------------------------
# Once, unmeasured (it also brings the executables into the page cache): our copy's size and
# turn, and its overlay files, which the CLI then draws from on every run.
for photo in "${PHOTOS[@]}"; do
  mkdir -p "$WORK/$photo-overlay"
  "$BIN" media transcode "$WORK/$photo" --out-dir "$WORK/$photo-overlay" --place "$PLACE" \
    --device DSJ-0001 --officer 031234 > "$WORK/$photo-overlay/report.json"
  # A photo's lines are one second of text: the baseline must draw them too.
  grep -q '^Dialogue:' "$WORK/$photo-overlay/overlay.ass" ||
    { echo "$photo: overlay.ass has no lines to draw" >&2; exit 1; }
  # The filters of crates/media/src/transcode.rs (video_graph, write_jpeg), the clock sized
  # as ClockLayout::sized in crates/core/src/media/overlay.rs does it.
  python3 - "$WORK/$photo-overlay" "$FONT" > "$WORK/$photo-overlay/filters" <<'EOF'
import json, math, sys
d, font = sys.argv[1], sys.argv[2]
report = json.load(open(f"{d}/report.json"))
w, h = report["width"], report["height"]
video = report["media"]["video"]
two_lines = "\n" in open(f"{d}/clock.txt").read()
margin = max(h // 48, 4)
border = margin // 2
ems = 0.62 * len("09:30:01.040 (UTC+8)" if two_lines else "2026-02-14 09:30:01.040 (UTC+8)")
fits = math.floor(max(w - 2 * margin - 2 * border, 0) / ems)
size = max(min(max(h // 24, 12), fits), 6)
chain = {90: ["transpose=cclock"], 180: ["hflip,vflip"], 270: ["transpose=clock"]}.get(video["rotation"], [])
chain += ["hflip"] if video["mirrored"] else []
chain += [f"scale={w}:{h}", "setsar=1", "format=yuv420p",
          f"drawtext=textfile={d}/clock.txt:font='{font}':fontsize={size}:fontcolor=white:box=1:"
          f"boxcolor=black@0.55:boxborderw={border}:line_spacing={border}:x={margin}:y={margin}",
          f"subtitles=filename={d}/overlay.ass", "split[view][small]"]
th = min(h, 240) & ~1
tw = max(w * th // h, 2) & ~1
print("[0:v]" + ",".join(chain) + f";[small]scale={tw}:{th}:flags=bilinear[thumbnail]")
EOF
  ff -noautorotate -i "$WORK/$photo" -filter_complex "$(cat "$WORK/$photo-overlay/filters")" \
    -map "[view]" -frames:v 1 -q:v 3 -update 1 "$WORK/cli-view.jpg" \
    -map "[thumbnail]" -frames:v 1 -q:v 3 -update 1 "$WORK/cli-thumbnail.jpg"
done
photo_ours() {
  rm -rf "$WORK/out"; mkdir "$WORK/out"
  m "$1.ours" "$BIN" media transcode "$WORK/$1" --out-dir "$WORK/out" --place "$PLACE" \
    --device DSJ-0001 --officer 031234
}
photo_cli() {
  # -noautorotate: the turn is in the filters, as in ours (the CLI would otherwise add it).
  m "$1.cli" ffmpeg -hide_banner -loglevel error -y -noautorotate -i "$WORK/$1" \
    -filter_complex "$(cat "$WORK/$1-overlay/filters")" \
    -map "[view]" -frames:v 1 -q:v 3 -update 1 "$WORK/cli-view.jpg" \
    -map "[thumbnail]" -frames:v 1 -q:v 3 -update 1 "$WORK/cli-thumbnail.jpg"
}

# --- the runs ---------------------------------------------------------------------------------
for run in $(seq 1 "$RUNS"); do
  for sound in "${SOUNDS[@]}"; do
    if [ $((run % 2)) = 1 ]; then sound_ours "$sound"; sound_cli "$sound"
    else sound_cli "$sound"; sound_ours "$sound"; fi
    m "$sound.fp" "$BIN" media fingerprint "$WORK/$sound"
    m "$sound.decode" ffmpeg -hide_banner -loglevel error -i "$WORK/$sound" -f null -
    m "$sound.print" ffmpeg -hide_banner -loglevel error -i "$WORK/$sound" -f chromaprint \
      -fp_format raw -
  done
  echo "sound run $run done" >&2
done
for run in $(seq 1 "$PHOTO_RUNS"); do
  m start.ours "$BIN" --version
  m start.cli ffmpeg -hide_banner -version
  for photo in "${PHOTOS[@]}"; do
    if [ $((run % 2)) = 1 ]; then photo_ours "$photo"; photo_cli "$photo"
    else photo_cli "$photo"; photo_ours "$photo"; fi
    m "$photo.fp" "$BIN" media fingerprint "$WORK/$photo"
    m "$photo.decode" ffmpeg -hide_banner -loglevel error -i "$WORK/$photo" \
      -vf scale=32:32,format=gray -f null -
  done
done
for run in $(seq 1 "$DOC_RUNS"); do
  m start pdftoppm -v
  for doc in "${DOCS[@]}"; do
    rm -rf "$WORK/pages"; mkdir "$WORK/pages"
    m "$doc.info" pdfinfo -enc UTF-8 -- "$WORK/$doc"
    m "$doc.text" pdftotext -enc UTF-8 -q -- "$WORK/$doc" -
    m "$doc.thumb" pdftoppm -f 1 -l 1 -jpeg -scale-to 480 -singlefile -- "$WORK/$doc" "$WORK/pages/first"
    m "$doc.all" pdftoppm -jpeg -scale-to 480 -- "$WORK/$doc" "$WORK/pages/page"
  done
done

# --- the tables -------------------------------------------------------------------------------
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { awk "{print \$$2}" "$WORK/r/$1" | median; }                    # KEY COLUMN
sum2() { paste -d' ' "$WORK/r/$1" "$WORK/r/$2" | awk "{print \$$3 + \$($3 + 3)}" | median; }
mib() { awk -v k="$1" 'BEGIN {printf "%.0f", k / 1024}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
ms() { awk -v s="$1" -v n="${2:-1}" 'BEGIN {printf "%.1f", 1000 * s / n}'; }

echo "| recording | custodian wall / CPU (s) | CLI, 2 commands wall / CPU (s) | CLI, 1 command wall / CPU (s) | ours / 2 commands (wall, CPU) | ours / 1 command (wall, CPU) | peak RSS ours / CLI (MiB) |"
echo "|---|---|---|---|---|---|---|"
for sound in "${SOUNDS[@]}"; do
  ow=$(col "$sound.ours" 1); oc=$(col "$sound.ours" 3)
  tw=$(sum2 "$sound.copy" "$sound.wave" 1); tc=$(sum2 "$sound.copy" "$sound.wave" 3)
  sw=$(col "$sound.one" 1); sc=$(col "$sound.one" 3)
  printf "| %s | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | %s, %s | %s, %s | %s / %s |\n" "$sound" \
    "$ow" "$oc" "$tw" "$tc" "$sw" "$sc" "$(div "$ow" "$tw")" "$(div "$oc" "$tc")" \
    "$(div "$ow" "$sw")" "$(div "$oc" "$sc")" "$(mib "$(col "$sound.ours" 2)")" "$(mib "$(col "$sound.one" 2)")"
done
echo
printf "Photos: median of %s. Start-up (custodian --version; ffmpeg -version): %s; %s ms wall, %s; %s ms CPU.\n" \
  "$PHOTO_RUNS" "$(ms "$(col start.ours 1)")" "$(ms "$(col start.cli 1)")" "$(ms "$(col start.ours 3)")" "$(ms "$(col start.cli 3)")"
echo
echo "| photo | custodian wall / CPU (s) | CLI wall / CPU (s) | ours / CLI (wall, CPU) | peak RSS ours / CLI (MiB) |"
echo "|---|---|---|---|---|"
for photo in "${PHOTOS[@]}"; do
  printf "| %s | %.3f / %.3f | %.3f / %.3f | %s, %s | %s / %s |\n" "$photo" \
    "$(col "$photo.ours" 1)" "$(col "$photo.ours" 3)" "$(col "$photo.cli" 1)" "$(col "$photo.cli" 3)" \
    "$(div "$(col "$photo.ours" 1)" "$(col "$photo.cli" 1)")" "$(div "$(col "$photo.ours" 3)" "$(col "$photo.cli" 3)")" \
    "$(mib "$(col "$photo.ours" 2)")" "$(mib "$(col "$photo.cli" 2)")"
done
echo
echo "| fingerprint | custodian wall / CPU (s) | ffmpeg -f chromaprint wall / CPU (s) | ffmpeg decode only wall / CPU (s) | ours / chromaprint (wall, CPU) | ours / decode only (wall, CPU) | peak RSS ours / chromaprint / decode (MiB) |"
echo "|---|---|---|---|---|---|---|"
for file in "${SOUNDS[@]}" "${PHOTOS[@]}"; do
  if [ -e "$WORK/r/$file.print" ]; then
    print=$(printf "%.3f / %.3f" "$(col "$file.print" 1)" "$(col "$file.print" 3)")
    ratio="$(div "$(col "$file.fp" 1)" "$(col "$file.print" 1)"), $(div "$(col "$file.fp" 3)" "$(col "$file.print" 3)")"
    rss=$(mib "$(col "$file.print" 2)")
  else
    print="–"; ratio="–"; rss="–"
  fi
  printf "| %s | %.3f / %.3f | %s | %.3f / %.3f | %s | %s, %s | %s / %s / %s |\n" "$file" \
    "$(col "$file.fp" 1)" "$(col "$file.fp" 3)" "$print" "$(col "$file.decode" 1)" "$(col "$file.decode" 3)" \
    "$ratio" "$(div "$(col "$file.fp" 1)" "$(col "$file.decode" 1)")" "$(div "$(col "$file.fp" 3)" "$(col "$file.decode" 3)")" \
    "$(mib "$(col "$file.fp" 2)")" "$rss" "$(mib "$(col "$file.decode" 2)")"
done
echo
printf "Poppler, median of %s; a tool's start-up (pdftoppm -v): %s ms wall, %s ms CPU.\n\n" "$DOC_RUNS" \
  "$(ms "$(col start 1)")" "$(ms "$(col start 3)")"
echo "| document | pages | size (KiB) | pdfinfo (ms) | pdftotext (ms; per page) | first-page thumbnail (ms; CPU) | every page at 480 px (ms; per page) | peak RSS thumbnail / all pages (MiB) |"
echo "|---|---|---|---|---|---|---|---|"
for doc in "${DOCS[@]}"; do
  pages=$(pdfinfo "$WORK/$doc" | awk '/^Pages:/ {print $2}')
  printf "| %s | %s | %s | %s | %s; %s | %s; %s | %s; %s | %s / %s |\n" "$doc" "$pages" \
    "$(( $(stat -c %s "$WORK/$doc") / 1024 ))" "$(ms "$(col "$doc.info" 1)")" \
    "$(ms "$(col "$doc.text" 1)")" "$(ms "$(col "$doc.text" 1)" "$pages")" \
    "$(ms "$(col "$doc.thumb" 1)")" "$(ms "$(col "$doc.thumb" 3)")" \
    "$(ms "$(col "$doc.all" 1)")" "$(ms "$(col "$doc.all" 1)" "$pages")" \
    "$(mib "$(col "$doc.thumb" 2)")" "$(mib "$(col "$doc.all" 2)")"
done
