#!/usr/bin/env bash
# Backup and restore of a region (art. 19): the catalogue in PostgreSQL and the footage bucket
# (originals, viewing copies, the records beside the originals, the audit anchors).
#
#   region-backup.sh backup  DIR             a new snapshot of the region into DIR
#   region-backup.sh restore DIR [SNAPSHOT]  the newest (or the named) snapshot into an empty
#                                            database and an empty bucket, then audit verify
#
# Both read the region's own settings: CUSTODIAN_DATABASE_URL, CUSTODIAN_S3_ENDPOINT,
# CUSTODIAN_S3_BUCKET, CUSTODIAN_S3_ACCESS_KEY_ID, CUSTODIAN_S3_SECRET_ACCESS_KEY (and
# CUSTODIAN_S3_REGION); for a restore, those of the new database and bucket. restore also
# needs the audit key's public half in CUSTODIAN_AUDIT_PUBLIC_KEY (`custodian audit
# public-key`), and runs the binary at CUSTODIAN_BIN (default: custodian on the PATH).
#
# Order. A backup dumps the catalogue first (pg_dump: one consistent snapshot, taken while
# the region runs), then copies the bucket: every original the dump names was stored and
# verified before it was catalogued, so the copy made after the dump holds it. A restore puts
# the bucket back first and the catalogue second, then verifies every bureau's audit trail
# against the anchors in the restored bucket.
#
# DIR holds snapshots/<UTC time>/ (catalogue.dump, its SHA-256, the bucket's listing at the
# time) and bucket/, one copy of the bucket shared by every snapshot: `aws s3 sync` copies
# only what is new or changed, so a nightly backup costs the day's footage. Nothing is deleted
# from bucket/ (an object a snapshot needs is never lost to a later one): originals purged
# under the retention rules stay in it until removed by hand.
set -euo pipefail

die() { echo "region-backup.sh: $*" >&2; exit 1; }
need() { [ -n "${!1:-}" ] || die "set $1"; }

command -v aws >/dev/null || die "aws (the AWS CLI) is not installed: scripts/setup-system.sh installs it"
command -v pg_dump >/dev/null || die "pg_dump is not installed (postgresql-client)"
for variable in CUSTODIAN_DATABASE_URL CUSTODIAN_S3_ENDPOINT CUSTODIAN_S3_BUCKET \
  CUSTODIAN_S3_ACCESS_KEY_ID CUSTODIAN_S3_SECRET_ACCESS_KEY; do
  need "$variable"
done
export AWS_ACCESS_KEY_ID=$CUSTODIAN_S3_ACCESS_KEY_ID
export AWS_SECRET_ACCESS_KEY=$CUSTODIAN_S3_SECRET_ACCESS_KEY
export AWS_DEFAULT_REGION=${CUSTODIAN_S3_REGION:-us-east-1}
# Garage and other S3 servers do not take the CLI's newer default checksums.
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
s3() { aws --endpoint-url "$CUSTODIAN_S3_ENDPOINT" s3 "$@"; }
bucket="s3://$CUSTODIAN_S3_BUCKET"

backup() {
  local dir=$1 stamp snapshot
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  snapshot="$dir/snapshots/$stamp"
  [ -e "$snapshot" ] && die "$snapshot exists: one snapshot a second"
  mkdir -p "$snapshot" "$dir/bucket"
  chmod 700 "$dir"
  # 1. The catalogue, consistent as of one moment (pg_dump runs in one transaction).
  pg_dump --format=custom --no-owner --no-privileges --file "$snapshot/catalogue.dump" \
    "$CUSTODIAN_DATABASE_URL"
  (cd "$snapshot" && sha256sum catalogue.dump > catalogue.dump.sha256)
  # 2. The bucket, after the dump: everything the dump names is in it.
  s3 ls --recursive "$bucket" | awk '{print $3, $4}' | sort > "$snapshot/objects.txt"
  s3 sync --only-show-errors "$bucket" "$dir/bucket"
  # Every object listed is in the copy with its size (an object written during the copy may
  # be in the copy and not the listing, never the other way round).
  while read -r size key; do
    [ -f "$dir/bucket/$key" ] || die "the copy lacks $key"
    [ "$(stat -c %s "$dir/bucket/$key")" = "$size" ] || die "the copy of $key has the wrong size"
  done < "$snapshot/objects.txt"
  echo "region-backup.sh: snapshot $stamp: catalogue $(stat -c %s "$snapshot/catalogue.dump") bytes, $(wc -l < "$snapshot/objects.txt") objects"
}

restore() {
  local dir=$1 stamp=${2:-} snapshot tables
  [ -d "$dir/snapshots" ] || die "$dir is not a region backup"
  [ -n "$stamp" ] || stamp=$(ls "$dir/snapshots" | sort | tail -n 1)
  snapshot="$dir/snapshots/$stamp"
  [ -f "$snapshot/catalogue.dump" ] || die "no snapshot $stamp in $dir"
  need CUSTODIAN_AUDIT_PUBLIC_KEY
  (cd "$snapshot" && sha256sum --quiet --check catalogue.dump.sha256) || die "the dump of $stamp is damaged"
  # Never over a live region.
  tables=$(psql --no-psqlrc -tA "$CUSTODIAN_DATABASE_URL" \
    -c "select count(*) from information_schema.tables where table_schema = 'public'")
  [ "$tables" = "0" ] || die "the database already holds $tables tables: restore into an empty one"
  [ -z "$(s3 ls "$bucket" 2>/dev/null | head -n 1)" ] || die "the bucket $CUSTODIAN_S3_BUCKET is not empty"
  # 1. The bucket: what the snapshot listed must come back, each object with its size.
  s3 sync --only-show-errors "$dir/bucket" "$bucket"
  s3 ls --recursive "$bucket" | awk '{print $3, $4}' | sort > "$snapshot/restored.txt"
  local missing
  missing=$(comm -23 "$snapshot/objects.txt" "$snapshot/restored.txt" | head -n 5)
  [ -z "$missing" ] || die "objects of the snapshot did not come back: $missing"
  # 2. The catalogue.
  pg_restore --no-owner --no-privileges --exit-on-error --dbname "$CUSTODIAN_DATABASE_URL" \
    "$snapshot/catalogue.dump"
  # 3. Every bureau's trail against its checkpoints and the anchors in the restored bucket,
  # judged as of the snapshot: entries after its last anchor may be as old as the snapshot.
  local taken age_hours
  taken=$(date -u -d "${stamp:0:4}-${stamp:4:2}-${stamp:6:2}T${stamp:9:2}:${stamp:11:2}:${stamp:13:2}Z" +%s)
  age_hours=$(( ($(date -u +%s) - taken) / 3600 + 24 ))
  "${CUSTODIAN_BIN:-custodian}" audit verify --database-url "$CUSTODIAN_DATABASE_URL" \
    --public-key "$CUSTODIAN_AUDIT_PUBLIC_KEY" --max-checkpoint-age "${age_hours}h"
  echo "region-backup.sh: restored snapshot $stamp"
}

case "${1:-}" in
  backup) [ $# -eq 2 ] || die "usage: $0 backup DIR"; backup "$2" ;;
  restore) [ $# -ge 2 ] && [ $# -le 3 ] || die "usage: $0 restore DIR [SNAPSHOT]"; restore "$2" "${3:-}" ;;
  *) die "usage: $0 backup DIR | restore DIR [SNAPSHOT]" ;;
esac
