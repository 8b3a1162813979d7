#!/bin/sh
# Run by the postgres image once, when it initialises an empty volume
# (/docker-entrypoint-initdb.d): the schema owner, which `custodian migrate` connects as, and
# the runtime role the services connect as, which `migrate --grant-runtime` gives only what
# they need (no schema changes; the audit trail append-only). Neither is a superuser.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$DB_OWNER_PASSWORD" -v app_password="$DB_APP_PASSWORD" <<'SQL'
CREATE ROLE custodian_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE custodian_app LOGIN PASSWORD :'app_password';
CREATE DATABASE custodian OWNER custodian_owner;
REVOKE ALL ON DATABASE custodian FROM PUBLIC;
GRANT CONNECT ON DATABASE custodian TO custodian_owner, custodian_app;
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname custodian <<'SQL'
ALTER SCHEMA public OWNER TO custodian_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
