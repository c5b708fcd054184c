#!/usr/bin/env bash
# Runs once, when the PostgreSQL data volume is first initialised (docker-entrypoint-initdb.d).
# One database and one owning role per concern, so that neither service can touch the other's
# tables and each can be backed up and restored on its own:
#   personamap  the customer table and personamap's own tables (migrated by `personamap db upgrade`)
#   mlflow      the MLflow tracking and registry store (migrated by the MLflow server)
# plus personamap_reader, a read-only login for the SQL UI (CloudBeaver) and analysts.
# Passwords come from the environment (deploy/.env), never from this file.
set -euo pipefail

: "${PERSONAMAP_DB_PASSWORD:?PERSONAMAP_DB_PASSWORD is not set}"
: "${PERSONAMAP_READER_DB_PASSWORD:?PERSONAMAP_READER_DB_PASSWORD is not set}"
: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is not set}"

psql --no-psqlrc --set ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  --set personamap_password="$PERSONAMAP_DB_PASSWORD" \
  --set reader_password="$PERSONAMAP_READER_DB_PASSWORD" \
  --set mlflow_password="$MLFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE personamap LOGIN PASSWORD :'personamap_password';
CREATE ROLE personamap_reader LOGIN PASSWORD :'reader_password';
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';

CREATE DATABASE personamap OWNER personamap;
CREATE DATABASE mlflow OWNER mlflow;

-- Only the owners (and the reader, for personamap) may connect.
REVOKE ALL ON DATABASE personamap FROM PUBLIC;
REVOKE ALL ON DATABASE mlflow FROM PUBLIC;
GRANT CONNECT ON DATABASE personamap TO personamap_reader;

\connect personamap
-- Tables created later by personamap's migrations are readable by the reader, never writable.
GRANT USAGE ON SCHEMA public TO personamap_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE personamap IN SCHEMA public
  GRANT SELECT ON TABLES TO personamap_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE personamap IN SCHEMA public
  GRANT SELECT ON SEQUENCES TO personamap_reader;
SQL
