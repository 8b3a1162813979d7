#!/usr/bin/env bash
# Builds the container image around the binary the tests ran, and runs it with podman:
# 1. the runtime's base, made from Debian's packages with mmdebstrap (no registry is reachable
#    here), cached under $CUSTODIAN_TOOLS/image;
# 2. the image: deploy/Dockerfile's target `prebuilt` (its runtime stage around a stripped
#    copy of the given binary), so that what CI tests is what ships; its size is printed;
# 3. `custodian standalone` in it as uid 10001, read-only root, the data on a volume, on host
#    networking; a clip and a PDF uploaded from the host are catalogued, the viewing copy
#    plays on the host (FFmpeg, fonts and Poppler work inside the image);
# 4. every role of a region as its own container against the host's NATS, PostgreSQL and
#    Garage (a database, buckets and stream of this run's own): each reaches ready, and a clip
#    uploaded to ingest is catalogued by the media workers;
# 5. the same region as the Kubernetes dev overlay's Deployments, with `podman kube play`:
#    each role reaches ready and a clip is catalogued.
# Everything it made (containers, pods, podman secrets and volumes, data, database, buckets,
# stream) goes on every exit path; the images stay, as the build's cache.
# Usage: scripts/image.sh [CUSTODIAN_BINARY]
#
# Podman as found here (Debian's 4.3, as root): the `runc` runtime (crun fails on these hybrid
# cgroups), explicit ulimits (the defaults exceed the sandbox's) and host networking
# (docs/operations.md#the-image-in-ci-podman). Every server binds 127.0.0.1 only.
set -euo pipefail
# The binary as given, relative to where the script was started.
given=${1:+$(realpath "$1")}
cd "$(dirname "$0")/.."

BIN=${given:-${CARGO_TARGET_DIR:-target}/debug/custodian}
TOOLS=${CUSTODIAN_TOOLS:-/var/cache/custodian}
CACHE="$TOOLS/image"
IMAGE=localhost/custodian:ci
SUITE=bookworm
# How long a clip may take to be catalogued.
CATALOGUE_WITHIN=${IMAGE_CATALOGUE_WITHIN:-120}

[ -x "$BIN" ] || { echo "image.sh: no binary at $BIN (build it first: cargo build)" >&2; exit 1; }
for tool in podman mmdebstrap ffmpeg ffprobe python3 curl psql openssl kubectl; do
  command -v "$tool" >/dev/null || { echo "image.sh: $tool not found (scripts/setup-system.sh installs it)" >&2; exit 1; }
done

podman=(podman --runtime runc)
# What every container and build step needs here (see the top).
run_flags=(--ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --network host)

# --- timings, failure reports and clean-up ------------------------------------------------------
started=$(date +%s%N)
step_started=$started
STEP="start"
step() { # the next step's name; prints how long the last one took
  local now; now=$(date +%s%N)
  [ "$STEP" = start ] || printf 'image.sh: %-58s %6.1f s\n' "$STEP" "$(((now - step_started) / 1000000))e-3" >&2
  STEP=$1
  step_started=$now
}
fail() { echo "image.sh: FAILED: $STEP: $*" >&2; exit 1; }

RUN_ID=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
WORK=$(mktemp -d /var/tmp/custodian-image.XXXXXX)
CONTAINERS=()
DATABASE=""
BUCKETS=()
STREAM=""
SECRETS=()
VOLUMES=()
KUBE_PLAYED=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e  # clean up everything, whatever fails
  if [ "$status" -ne 0 ]; then
    echo "image.sh: FAILED at step \"$STEP\" (exit $status)" >&2
    for c in "${CONTAINERS[@]}"; do
      "${podman[@]}" container exists "$c" || continue
      echo "image.sh: ---- the log of container $c (last 60 lines) ----" >&2
      "${podman[@]}" logs --tail 60 "$c" >&2 2>&1 || true
    done
  fi
  if [ -n "$KUBE_PLAYED" ]; then
    env CONTAINERS_CONF="$WORK/kube/containers.conf" podman kube down "$WORK/kube/play.yaml" >/dev/null 2>&1
    # What kube down leaves when kube play stopped half-way.
    for role in "${ROLES[@]}"; do "${podman[@]}" pod rm -f -i "custodian-$role-$RUN_ID-pod-0" >/dev/null 2>&1; done
    [ ! -f "$WORK/kube/play.yaml.volumes" ] || mapfile -t -O "${#VOLUMES[@]}" VOLUMES < "$WORK/kube/play.yaml.volumes"
  fi
  # All at once (podman stops them in parallel), each given 5 s after SIGTERM.
  [ ${#CONTAINERS[@]} -eq 0 ] || "${podman[@]}" rm -f -i -t 5 "${CONTAINERS[@]}" >/dev/null 2>&1
  for s in "${SECRETS[@]}"; do "${podman[@]}" secret rm "$s" >/dev/null 2>&1 || true; done
  for v in "${VOLUMES[@]}"; do "${podman[@]}" volume rm -f "$v" >/dev/null 2>&1 || true; done
  if [ -n "$DATABASE" ]; then
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" >/dev/null 2>&1 \
      || echo "image.sh: could not drop database $DATABASE" >&2
  fi
  for b in "${BUCKETS[@]}"; do s3_delete_bucket "$b" || echo "image.sh: could not delete bucket $b" >&2; done
  [ -z "$STREAM" ] || nats_delete_stream "$STREAM" || echo "image.sh: could not delete NATS stream $STREAM" >&2
  rm -rf "$WORK"
  if [ "$status" -eq 0 ]; then
    step done
    printf 'image.sh: passed in %.1f s\n' "$((($(date +%s%N) - started) / 1000000))e-3" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- small helpers ------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json() { python3 -c 'import json, sys; v = json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$1"; }
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# Polls URL until it answers 200, while the container is running, for at most $3 seconds.
wait_ready() { # url container seconds
  local deadline=$(($(date +%s) + $3))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ "$("${podman[@]}" container inspect -f '{{.State.Running}}' "$2" 2>/dev/null)" = true ] \
      || fail "container $2 exited before $1 answered 200"
    [ "$(date +%s)" -lt "$deadline" ] || fail "$1 did not answer 200 within $3 s"
    sleep 0.2
  done
}

# PUTs a file to /v1/uploads; prints the clip id. base token file query
upload() {
  local digest status
  digest=$(openssl dgst -sha256 -binary "$3" | base64)
  status=$(curl -sS -o "$WORK/receipt.json" -w '%{http_code}' -T "$3" \
    -H "Authorization: Bearer $2" -H "Content-Digest: sha-256=:$digest:" "$1/v1/uploads?$4")
  [ "$status" = 201 ] || fail "upload of $(basename "$3") answered $status: $(cat "$WORK/receipt.json")"
  json clip_id < "$WORK/receipt.json"
}

# Polls GET /v1/clips/ID until its state is catalogued; prints the record. base token id
wait_catalogued() {
  local deadline=$(($(date +%s) + CATALOGUE_WITHIN)) state=""
  while :; do
    curl -fsS -o "$WORK/clip.json" -H "Authorization: Bearer $2" "$1/v1/clips/$3" || fail "GET /v1/clips/$3 failed"
    state=$(json state < "$WORK/clip.json")
    [ "$state" = catalogued ] && break
    [ "$state" = failed ] && fail "clip $3 failed: $(cat "$WORK/clip.json")"
    [ "$(date +%s)" -lt "$deadline" ] || fail "clip $3 not catalogued within $CATALOGUE_WITHIN s (state $state): $(cat "$WORK/clip.json")"
    sleep 0.5
  done
  cat "$WORK/clip.json"
}

# Fetches the clip's viewing copy and poster and decodes both on the host. base token id name
check_view() {
  local view="$WORK/$4-view.mp4" poster="$WORK/$4-poster.jpg" streams errors
  curl -fsS -o "$view" -H "Authorization: Bearer $2" "$1/v1/clips/$3/view" || fail "GET /v1/clips/$3/view failed"
  curl -fsS -o "$poster" -H "Authorization: Bearer $2" "$1/v1/clips/$3/poster" || fail "GET /v1/clips/$3/poster failed"
  streams=$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$view" | sort | tr '\n' ' ')
  [ "$streams" = "aac h264 " ] || fail "the viewing copy of $3 has streams '$streams', not H.264 + AAC"
  errors=$(ffmpeg -nostdin -v error -i "$view" -f null - 2>&1) || fail "the viewing copy of $3 does not decode: $errors"
  [ -z "$errors" ] || fail "decoding the viewing copy of $3: $errors"
  errors=$(ffmpeg -nostdin -v error -i "$poster" -f null - 2>&1) || fail "the poster of $3 does not decode: $errors"
  echo "$(stat -c %s "$view") bytes, $(ffprobe -v error -show_entries format=duration -of csv=p=0 "$view") s"
}

# S3 on Garage with curl's SigV4 (no S3 client is needed on the host).
s3() { # method path [curl args...]
  local method=(-X "$1") path=$2; shift 2
  [ "${method[1]}" != HEAD ] || method=(--head)  # -X HEAD would wait for a body
  curl -fsS "${method[@]}" --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    --user "$CUSTODIAN_TEST_S3_ACCESS_KEY_ID:$CUSTODIAN_TEST_S3_SECRET_ACCESS_KEY" \
    "$CUSTODIAN_TEST_S3_ENDPOINT$path" "$@"
}
s3_delete_bucket() { # a bucket and every object in it (they were written by this run)
  local key
  s3 HEAD "/$1" -o /dev/null 2>/dev/null || return 0
  while :; do
    mapfile -t keys < <(s3 GET "/$1?list-type=2" | grep -o '<Key>[^<]*</Key>' | sed -E 's|</?Key>||g')
    [ ${#keys[@]} -gt 0 ] || break
    for key in "${keys[@]}"; do
      s3 DELETE "/$1/$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$key")" -o /dev/null
    done
  done
  s3 DELETE "/$1" -o /dev/null
}

# Deletes a JetStream stream (and its consumers) with the NATS protocol's text commands.
nats_delete_stream() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", 4222), timeout=5)
s.recv(4096)  # INFO
s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.image 1\r\n'
          b'PUB $JS.API.STREAM.DELETE.%s _INBOX.image 0\r\n\r\n' % sys.argv[1].encode())
reply = b""
while b'"success"' not in reply and b'"error"' not in reply:
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
# Deleted, or never made (the run stopped before a role made it).
sys.exit(0 if b'"success":true' in reply or b'"err_code":10059' in reply else 1)
PY
}

# --- 1. the base: Debian's runtime packages, from Debian's mirror ---------------------------------
step "base image (mmdebstrap, cached)"
# The runtime stage's package list, read from the Dockerfile so that there is one.
PACKAGES=$(sed -n '/^ARG RUNTIME_PACKAGES=/,/"$/p' deploy/Dockerfile | sed -e 's/^ARG RUNTIME_PACKAGES=//' | tr -d '"\\' | xargs)
[ -n "$PACKAGES" ] || fail "no ARG RUNTIME_PACKAGES in deploy/Dockerfile"
# As debian:bookworm-slim is made: no manuals, translations or documentation but the licences
# (which the GPL asks to ship), and no apt caches (80 MB that apt-get update would otherwise
# leave in the runtime stage's layer); the settings stay in the image for that stage's apt.
mmdebstrap_opts=(--variant=minbase
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --aptopt='Dir::Cache::pkgcache ""' --aptopt='Dir::Cache::srcpkgcache ""')
# Keyed by what goes in, and by the month, so that security updates come in at least monthly.
KEY=$(printf '%s\n' "$SUITE" "$PACKAGES" "${mmdebstrap_opts[@]}" "$(date +%Y-%m)" | sha256sum | cut -c1-16)
TARBALL="$CACHE/base-$KEY.tar"
# The image's configuration, as debian:bookworm-slim's says (an imported tarball has none, not
# even a PATH).
import_changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["bash"]')
BASE=localhost/custodian-base:$(printf '%s\n' "$KEY" "${import_changes[@]}" | sha256sum | cut -c1-16)
mkdir -p "$CACHE"
if ! "${podman[@]}" image exists "$BASE"; then
  if [ ! -s "$TARBALL" ]; then
    echo "image.sh: making the base with mmdebstrap ($SUITE: $PACKAGES); about 1-3 min" >&2
    # Included here rather than left to the Dockerfile's apt-get, so that the build needs no
    # mirror once this is cached.
    mmdebstrap --format=tar "${mmdebstrap_opts[@]}" --include="${PACKAGES// /,}" "$SUITE" "$TARBALL.part" \
      > "$WORK/mmdebstrap.log" 2>&1 || { cat "$WORK/mmdebstrap.log" >&2; fail "mmdebstrap"; }
    mv "$TARBALL.part" "$TARBALL"
    # Bases of earlier package lists or months.
    find "$CACHE" -maxdepth 1 -name 'base-*.tar*' ! -name "base-$KEY.tar" -delete
  fi
  "${podman[@]}" import -q "${import_changes[@]}" "$TARBALL" "$BASE" >/dev/null
fi

# --- 2. the image: the Dockerfile's runtime stage around the tested binary --------------------
step "image build (deploy/Dockerfile --target prebuilt)"
mkdir "$WORK/context"
# A copy: the tests' binary stays as it is. Debug information off, symbols kept (backtraces),
# as the Dockerfile's build stage does.
strip --strip-debug -o "$WORK/context/custodian" "$BIN"
chmod 0755 "$WORK/context/custodian"
previous=$("${podman[@]}" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
"${podman[@]}" build --pull=never --layers "${run_flags[@]}" -f deploy/Dockerfile --target prebuilt \
  --build-arg BASE="$BASE" -t "$IMAGE" "$WORK/context" > "$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log" >&2; fail "podman build"; }
current=$("${podman[@]}" image inspect --format '{{.Id}}' "$IMAGE")
# The image of the last run, now untagged; its binary's layer is the only thing it holds alone.
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then "${podman[@]}" rmi "$previous" >/dev/null 2>&1 || true; fi
# Then the bases of earlier package lists or months, which nothing is built on any more.
for old in $("${podman[@]}" images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/custodian-base:' | grep -vx "$BASE"); do
  "${podman[@]}" rmi "$old" >/dev/null 2>&1 || true
done
SIZE=$("${podman[@]}" image inspect --format '{{.Size}}' "$IMAGE")
echo "image.sh: $IMAGE: $((SIZE / 1000000)) MB (base $(($("${podman[@]}" image inspect --format '{{.Size}}' "$BASE") / 1000000)) MB, binary $(($(stat -c %s "$WORK/context/custodian") / 1000000)) MB stripped, from $(($(stat -c %s "$BIN") / 1000000)) MB)" >&2
# Every shared library the binary links is in the image.
missing=$("${podman[@]}" run --rm "${run_flags[@]}" --entrypoint ldd "$IMAGE" /usr/local/bin/custodian | grep 'not found' || true)
[ -z "$missing" ] || fail "libraries missing from the image: $missing"

# --- 3. standalone: read-only root, uid 10001, the data on a volume -------------------------------
step "standalone: start, /readyz 200"
mkdir "$WORK/data"
chown 10001:10001 "$WORK/data"
PORT=$(free_port)
STANDALONE=custodian-image-$RUN_ID-standalone
CONTAINERS+=("$STANDALONE")
"${podman[@]}" run -d --name "$STANDALONE" "${run_flags[@]}" --user 10001:10001 --read-only --tmpfs /tmp \
  -v "$WORK/data:/data" -e CUSTODIAN_DATA=/data -e CUSTODIAN_LISTEN="127.0.0.1:$PORT" \
  "$IMAGE" standalone >/dev/null
BASE_URL="http://127.0.0.1:$PORT"
wait_ready "$BASE_URL/readyz" "$STANDALONE" 60
[ "$("${podman[@]}" exec "$STANDALONE" id -u)" = 10001 ] || fail "the server does not run as uid 10001"
if "${podman[@]}" exec "$STANDALONE" touch /usr/local/bin/x 2>/dev/null; then fail "the root file system is writable"; fi

step "standalone: token (podman exec), clip and PDF uploaded"
TOKEN=$("${podman[@]}" exec "$STANDALONE" custodian admin token create --bureau b1 --role admin --data /data 2>"$WORK/token.log") \
  || fail "admin token create: $(cat "$WORK/token.log")"
# A 3 s H.264 + AAC clip, as a body camera records, and a one-page PDF with a text layer.
ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=640x360:rate=25:duration=3" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=3" \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$WORK/a.mp4"
python3 - "$WORK/a.pdf" <<'PY'
import sys
text = b"BT /F1 24 Tf 72 720 Td (Custodian image test) Tj ET"
objects = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
    b" /Resources << /Font << /F1 5 0 R >> >> >>",
    b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
]
out, offsets = bytearray(b"%PDF-1.4\n"), []
for n, body in enumerate(objects, 1):
    offsets.append(len(out))
    out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
xref = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
open(sys.argv[1], "wb").write(out)
PY
PLACE=$(urlencode "青岛市黄岛区长江中路")
QUERY="device=DSJ-0001&officer=031234&recorded_at=2026-02-14T09%3A30%3A00%2B08%3A00&place=$PLACE"
CLIP=$(upload "$BASE_URL" "$TOKEN" "$WORK/a.mp4" "$QUERY&file_name=a.mp4")
DOC=$(upload "$BASE_URL" "$TOKEN" "$WORK/a.pdf" "$QUERY&file_name=a.pdf")

step "standalone: both catalogued"
record=$(wait_catalogued "$BASE_URL" "$TOKEN" "$CLIP")
kind=$(echo "$record" | json kind)
[ "$kind" = video ] || fail "clip $CLIP catalogued as '$kind', not video"
# A document is read by Poppler's tools, run as child processes: this proves they are there.
record=$(wait_catalogued "$BASE_URL" "$TOKEN" "$DOC")
kind=$(echo "$record" | json kind)
[ "$kind" = document ] || fail "the PDF $DOC catalogued as '$kind', not document: $record"
# pdfinfo counted its pages, pdftotext read its words (search finds it by them), pdftoppm drew
# its poster.
pages=$(echo "$record" | json media.page_count)
[ "$pages" = 1 ] || fail "the PDF $DOC has media.page_count '$pages', not 1: $record"
curl -fsS -H "Authorization: Bearer $TOKEN" "$BASE_URL/v1/clips?q=Custodian" | grep -q "$DOC" \
  || fail "a search for the PDF's words does not find it"
curl -fsS -o "$WORK/doc-poster.jpg" -H "Authorization: Bearer $TOKEN" "$BASE_URL/v1/clips/$DOC/poster" \
  || fail "the PDF's poster cannot be fetched"
errors=$(ffmpeg -nostdin -v error -i "$WORK/doc-poster.jpg" -f null - 2>&1) && [ -z "$errors" ] \
  || fail "the PDF's poster does not decode: $errors"

step "standalone: viewing copy decodes, and equals the host's"
echo "image.sh: viewing copy $(check_view "$BASE_URL" "$TOKEN" "$CLIP" standalone)" >&2
# The burned-in text (the clock, and the place in Chinese) as the tested binary draws it on
# the host, where the suite checks it: the image's copy must be the same picture. The same
# libraries give identical frames (inf); another font (tofu, a Latin-only fallback) costs
# some 25 dB. The bar sits between, leaving room for a host upgraded since the base was made.
"$BIN" media transcode --place "青岛市黄岛区长江中路" --device DSJ-0001 --officer 031234 \
  --recorded-at 2026-02-14T09:30:00+08:00 --out-dir "$WORK/host" "$WORK/a.mp4" > "$WORK/host.log" 2>&1 \
  || { cat "$WORK/host.log" >&2; fail "custodian media transcode on the host"; }
psnr=$(ffmpeg -nostdin -i "$WORK/host/view.mp4" -i "$WORK/standalone-view.mp4" -lavfi psnr -f null - 2>&1 \
  | sed -nE 's/.*PSNR .*average:([0-9.inf]+).*/\1/p') || fail "comparing the viewing copies with ffmpeg's psnr"
echo "image.sh: the image's viewing copy against the host's: PSNR $psnr dB" >&2
[ "$psnr" = inf ] || awk -v p="$psnr" 'BEGIN { exit !(p >= 32) }' \
  || fail "the image's viewing copy differs from the host's (PSNR ${psnr:-?} dB): fonts or FFmpeg differ"

# --- 4. a region: every role its own container, on the host's NATS, PostgreSQL and Garage -------
step "region: database, bucket, migrate"
if [ -z "${CUSTODIAN_TEST_S3_ENDPOINT:-}" ]; then
  scripts/services.sh
  scripts/garage.sh start
  eval "$(scripts/garage.sh env)"
fi
DATABASE=custodian_image_$RUN_ID
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $DATABASE" >/dev/null
FOOTAGE=custodian-image-$RUN_ID
ARCHIVE=custodian-image-$RUN_ID-archive
BUCKETS+=("$FOOTAGE" "$ARCHIVE")
for b in "${BUCKETS[@]}"; do s3 PUT "/$b" -o /dev/null || fail "creating bucket $b on $CUSTODIAN_TEST_S3_ENDPOINT"; done
STREAM=CUSTODIAN_IMAGE_$RUN_ID
# The custody role's audit signing key: a file only uid 10001 reads, mounted read-only.
mkdir "$WORK/secrets"
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$WORK/secrets/audit.key"
chown -R 10001:10001 "$WORK/secrets"
chmod 700 "$WORK/secrets"
chmod 400 "$WORK/secrets/audit.key"
region_env=(
  -e CUSTODIAN_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DATABASE"
  -e CUSTODIAN_DATABASE_MIGRATE=false
  -e CUSTODIAN_NATS_URL=nats://127.0.0.1:4222
  -e CUSTODIAN_NATS_STREAM="$STREAM"
  -e CUSTODIAN_SUBJECT_PREFIX="custodian-image-$RUN_ID"
  -e CUSTODIAN_S3_ENDPOINT="$CUSTODIAN_TEST_S3_ENDPOINT"
  -e CUSTODIAN_S3_BUCKET="$FOOTAGE"
  -e CUSTODIAN_ARCHIVE_BUCKET="$ARCHIVE"
  -e CUSTODIAN_S3_ACCESS_KEY_ID="$CUSTODIAN_TEST_S3_ACCESS_KEY_ID"
  -e CUSTODIAN_S3_SECRET_ACCESS_KEY="$CUSTODIAN_TEST_S3_SECRET_ACCESS_KEY"
  -e CUSTODIAN_AUDIT_KEY_FILE=/run/secrets/audit.key
)
region_run() { # name, then the container's arguments
  local name=custodian-image-$RUN_ID-$1; shift
  CONTAINERS+=("$name")
  "${podman[@]}" run -d --name "$name" "${run_flags[@]}" --user 10001:10001 --read-only --tmpfs /tmp \
    -v "$WORK/secrets:/run/secrets:ro" "${region_env[@]}" "$@" >/dev/null
}
# The schema once, as the compose file's and the Kubernetes manifests' one-shot migrate does;
# the roles then start with CUSTODIAN_DATABASE_MIGRATE=false.
region_run migrate -e CUSTODIAN_MIGRATE_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DATABASE" "$IMAGE" migrate
status=$("${podman[@]}" wait "custodian-image-$RUN_ID-migrate")
[ "$status" = 0 ] || fail "custodian migrate exited with $status"

step "region: six roles, each /readyz 200"
ROLES=(ingest catalog retention custody transcoder fingerprinter)
declare -A ROLE_URL
for role in "${ROLES[@]}"; do
  port=$(free_port)
  ROLE_URL[$role]="http://127.0.0.1:$port"
  region_run "$role" -e CUSTODIAN_LISTEN="127.0.0.1:$port" "$IMAGE" serve "$role"
done
for role in "${ROLES[@]}"; do
  wait_ready "${ROLE_URL[$role]}/readyz" "custodian-image-$RUN_ID-$role" 60
done

step "region: a clip uploaded to ingest, catalogued"
TOKEN=$("${podman[@]}" exec "custodian-image-$RUN_ID-catalog" custodian admin token create --bureau b1 --role admin 2>"$WORK/token.log") \
  || fail "admin token create: $(cat "$WORK/token.log")"
CLIP=$(upload "${ROLE_URL[ingest]}" "$TOKEN" "$WORK/a.mp4" "$QUERY&file_name=a.mp4")
record=$(wait_catalogued "${ROLE_URL[catalog]}" "$TOKEN" "$CLIP")
kind=$(echo "$record" | json kind)
[ "$kind" = video ] || fail "clip $CLIP catalogued as '$kind', not video"
echo "image.sh: region viewing copy $(check_view "${ROLE_URL[catalog]}" "$TOKEN" "$CLIP" region)" >&2

# --- 5. the same region from the Kubernetes manifests, with `podman kube play` ---------------------
# The dev overlay as rendered, changed only where one host with podman 4.3 is not a cluster
# (the comments below say what and why), on the same database, buckets and stream.
step "kube play: the dev overlay's Deployments, each /readyz 200"
"${podman[@]}" rm -f -t 5 "${ROLES[@]/#/custodian-image-$RUN_ID-}" >/dev/null
mkdir "$WORK/kube"
kubectl kustomize k8s/overlays/dev > "$WORK/kube/rendered.yaml"
# kube play takes no --ulimit or --runtime: they come from a containers.conf of this run's own.
cat > "$WORK/kube/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
kube=(env CONTAINERS_CONF="$WORK/kube/containers.conf" podman)
# Podman 4.3 takes no Secret object: each Secret is a podman secret, whose content is JSON of
# base64 values for envFrom, and for a volume a Secret object whose `data` it takes as is, not
# base64-decoded (4.3's VolumeFromSecret). Such a volume becomes a podman volume of the
# secret's name, which `kube down` leaves: the clean-up removes it.
b64() { printf '%s' "$1" | base64 -w0; }
kube_secret() { # name content
  SECRETS+=("$1-$RUN_ID")
  printf '%s' "$2" | "${podman[@]}" secret create "$1-$RUN_ID" - >/dev/null
}
kube_secret custodian-secrets "{\"CUSTODIAN_DATABASE_URL\": \"$(b64 "postgres://postgres@127.0.0.1:5432/$DATABASE")\"}"
for role in "${ROLES[@]}"; do
  kube_secret "custodian-s3-$role" "{\"CUSTODIAN_S3_ACCESS_KEY_ID\": \"$(b64 "$CUSTODIAN_TEST_S3_ACCESS_KEY_ID")\", \"CUSTODIAN_S3_SECRET_ACCESS_KEY\": \"$(b64 "$CUSTODIAN_TEST_S3_SECRET_ACCESS_KEY")\"}"
done
kube_secret custodian-audit-key "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": \"custodian-audit-key\"}, \"data\": {\"audit-signing.key\": \"$(cat "$WORK/secrets/audit.key")\"}}"
VOLUMES+=("custodian-audit-key-$RUN_ID")
declare -A KUBE_URL KUBE_OPS
for role in "${ROLES[@]}"; do
  KUBE_URL[$role]="http://127.0.0.1:$(free_port)"
  KUBE_OPS[$role]="http://127.0.0.1:$(free_port)"
done
settings=$(python3 -c 'import json, sys; print(json.dumps(dict(a.split("=", 1) for a in sys.argv[1:])))' \
  CUSTODIAN_NATS_URL=nats://127.0.0.1:4222 CUSTODIAN_NATS_STREAM="$STREAM" \
  CUSTODIAN_SUBJECT_PREFIX="custodian-image-$RUN_ID" CUSTODIAN_S3_ENDPOINT="$CUSTODIAN_TEST_S3_ENDPOINT" \
  CUSTODIAN_S3_BUCKET="$FOOTAGE" CUSTODIAN_ARCHIVE_BUCKET="$ARCHIVE")
listen=$(for role in "${ROLES[@]}"; do echo "$role ${KUBE_URL[$role]#http://} ${KUBE_OPS[$role]#http://}"; done)
python3 - "$WORK/kube/rendered.yaml" "$WORK/kube/play.yaml" "$RUN_ID" "$IMAGE" "$settings" "$listen" <<'PYTHON'
import json, sys, yaml
rendered, out, run_id, image, settings, listen = sys.argv[1:]
listen = {role: (api, ops) for role, api, ops in (line.split() for line in listen.splitlines())}
played, left = [], []
volumes = open(out + ".volumes", "w")
for doc in yaml.safe_load_all(open(rendered)):
    kind = doc["kind"]
    if kind == "ConfigMap":
        # The cluster's service names become the host's services, with this run's own names.
        doc["data"].update(json.loads(settings))
    elif kind == "Deployment":
        doc["metadata"]["name"] += "-" + run_id
        spec = doc["spec"]["template"]["spec"]
        for c in spec["containers"]:
            role = c["args"][1]
            c["image"] = image
            # Host networking refuses port mappings, and every role would bind the same two
            # ports: each gets two of its own on 127.0.0.1, as arguments (podman 4.3 lets
            # envFrom override env, the other way round from Kubernetes). The probes name the
            # ports taken away; this script polls /readyz itself.
            for key in ("ports", "startupProbe", "livenessProbe", "readinessProbe"):
                c.pop(key, None)
            c["args"] += ["--listen", listen[role][0], "--ops-listen", listen[role][1]]
            for ref in c.get("envFrom", []):
                if "secretRef" in ref:
                    ref["secretRef"]["name"] += "-" + run_id
        # Podman 4.3 makes an emptyDir a podman volume of the volume's name, which every pod
        # naming it would share: each pod's gets a name of its own, which the clean-up removes.
        renamed = {}
        for volume in spec.get("volumes", []):
            if "emptyDir" in volume:
                renamed[volume["name"]] = volume["name"] = f"{doc['metadata']['name']}-{volume['name']}"
                print(volume["name"], file=volumes)
        for c in spec["containers"]:
            for mount in c.get("volumeMounts", []):
                mount["name"] = renamed.get(mount["name"], mount["name"])
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                volume["secret"]["secretName"] += "-" + run_id
                # 4.3 dereferences `optional` without looking whether it is there.
                volume["secret"].setdefault("optional", False)
    else:
        # Services, PodDisruptionBudgets and NetworkPolicies mean nothing to podman; the migrate
        # Job (not a kind kube play takes) is step 4's one-shot migrate.
        left.append(kind)
        continue
    played.append(doc)
yaml.safe_dump_all(played, open(out, "w"), sort_keys=False)
print("image.sh: kube play leaves out " + ", ".join(sorted(set(left))), file=sys.stderr)
PYTHON
KUBE_PLAYED=1
# From a directory holding no directory named like the image: kube play would build one from it.
(cd "$WORK/kube" && "${kube[@]}" kube play --network host --build=false play.yaml > "$WORK/kube/play.log" 2>&1) \
  || { cat "$WORK/kube/play.log" >&2; fail "podman kube play"; }
for role in "${ROLES[@]}"; do
  CONTAINERS+=("custodian-$role-$RUN_ID-pod-0-$role")
done
for role in "${ROLES[@]}"; do
  wait_ready "${KUBE_OPS[$role]}/readyz" "custodian-$role-$RUN_ID-pod-0-$role" 60
done

step "kube play: a clip uploaded to ingest, catalogued"
CLIP=$(upload "${KUBE_URL[ingest]}" "$TOKEN" "$WORK/a.mp4" "$QUERY&file_name=b.mp4")
record=$(wait_catalogued "${KUBE_URL[catalog]}" "$TOKEN" "$CLIP")
kind=$(echo "$record" | json kind)
[ "$kind" = video ] || fail "clip $CLIP catalogued as '$kind', not video"

step "clean-up"
# (the EXIT trap cleans up and prints the total)
