# Sourced by the ingest benchmarks (bench-ingest.sh, bench-tus.sh): the set-up both share.
# Installs and starts what they need, builds the release binary, and gives the run its own
# work directory, PostgreSQL database, NATS stream and Garage bucket, all removed on exit;
# ingest's settings are exported for `custodian serve ingest` on 127.0.0.1:$PORT, and
# CUSTODIAN_TOKEN is a token of the bureau "bench". Expects BENCH_NAME (a lowercase word)
# and PORT; defines BIN, WORK, BUCKET, now and median.

scripts/setup-system.sh
scripts/services.sh
scripts/garage.sh start
eval "$(scripts/garage.sh env)"
command -v aws >/dev/null || pip install --quiet awscli
cargo build --release --locked --bin custodian
BIN="${CARGO_TARGET_DIR:-target}/release/custodian"

WORK=$(mktemp -d "/var/tmp/custodian-$BENCH_NAME.XXXXXX")
DB=custodian_${BENCH_NAME//-/_}_$$
BUCKET=$BENCH_NAME-$$-$(date +%s)
cleanup() {
  [ -n "${INGEST_PID:-}" ] && kill "$INGEST_PID" 2>/dev/null || true
  aws --endpoint-url "$CUSTODIAN_TEST_S3_ENDPOINT" s3 rm --quiet --recursive "s3://$BUCKET" >/dev/null 2>&1 || true
  aws --endpoint-url "$CUSTODIAN_TEST_S3_ENDPOINT" s3 rb "s3://$BUCKET" >/dev/null 2>&1 || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=$CUSTODIAN_TEST_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$CUSTODIAN_TEST_S3_SECRET_ACCESS_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_REQUEST_CHECKSUM_CALCULATION=when_required
aws --endpoint-url "$CUSTODIAN_TEST_S3_ENDPOINT" s3 mb "s3://$BUCKET" >/dev/null
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $DB"

stream=${BENCH_NAME//-/}
export CUSTODIAN_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
export CUSTODIAN_S3_ENDPOINT=$CUSTODIAN_TEST_S3_ENDPOINT CUSTODIAN_S3_BUCKET=$BUCKET
export CUSTODIAN_S3_ACCESS_KEY_ID=$CUSTODIAN_TEST_S3_ACCESS_KEY_ID CUSTODIAN_S3_SECRET_ACCESS_KEY=$CUSTODIAN_TEST_S3_SECRET_ACCESS_KEY
export CUSTODIAN_NATS_STREAM=${stream^^}_$$ CUSTODIAN_SUBJECT_PREFIX=$stream$$ CUSTODIAN_LISTEN=127.0.0.1:$PORT
CUSTODIAN_TOKEN=$("$BIN" admin token create --bureau bench 2>/dev/null)
export CUSTODIAN_TOKEN

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
