#!/bin/sh
# Run once by compose's s3-setup service (the MinIO image, which has mc) before any role
# starts: makes the buckets (the archive with Object Lock) and one user per role with a policy
# of its own (policies/ROLE.json), so a role holds only the rights it uses. The root key stays
# with this job and MinIO; no role gets it. Every secret comes from the environment.
set -eu
mc alias set custodian http://s3:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing custodian/custodian-footage
mc mb --ignore-existing --with-lock custodian/custodian-archive
for role in ingest catalog retention custody transcoder fingerprinter; do
  # S3_SECRET_INGEST, S3_SECRET_CATALOG, ...
  secret=$(printenv "S3_SECRET_$(echo "$role" | tr 'a-z' 'A-Z')")
  mc admin policy create custodian "custodian-$role" "/policies/$role.json"
  mc admin user add custodian "custodian-$role" "$secret"
  # Attaching fails on a second run, when the policy is attached already: check that it is.
  mc admin policy attach custodian "custodian-$role" --user "custodian-$role" 2>/dev/null \
    || mc admin user info custodian "custodian-$role" | grep -q "custodian-$role"
done
echo "s3-setup: buckets and per-role users ready"
