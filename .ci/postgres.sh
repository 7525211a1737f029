#!/usr/bin/env bash
# Start a throwaway PostgreSQL 15 on 127.0.0.1 for the dbt portability test.
# Prints the MEDTOWER_PG_* variables to export. initdb refuses root, so it runs as user postgres.
set -euo pipefail
PORT="${MEDTOWER_PG_PORT:-55432}"
ROOT="${MEDTOWER_PG_ROOT:-/tmp/medtower-pg}"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$PGBIN" ]; then
  echo "postgresql is not installed (apt-get install postgresql)" >&2
  exit 1
fi
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
if ! as_pg "$PGBIN/pg_ctl" -D "$ROOT/data" status >/dev/null 2>&1; then
  rm -rf "$ROOT" && mkdir -p "$ROOT" && chown postgres "$ROOT" 2>/dev/null || true
  as_pg "$PGBIN/initdb" -D "$ROOT/data" -A trust -U postgres >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$ROOT/data" -l "$ROOT/server.log" -w \
    -o "-p $PORT -k $ROOT -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
fi
psql -h 127.0.0.1 -p "$PORT" -U postgres -tAc "select 1 from pg_database where datname = 'medtower'" | grep -q 1 \
  || psql -h 127.0.0.1 -p "$PORT" -U postgres -qc "create database medtower"
echo "export MEDTOWER_PG_HOST=127.0.0.1 MEDTOWER_PG_PORT=$PORT MEDTOWER_PG_USER=postgres MEDTOWER_PG_DATABASE=medtower"
