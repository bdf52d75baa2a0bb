#!/bin/sh
# Builds the fixture rows on PostgreSQL with Hummingbot's own code
# (generate.py) and dumps them to hummingbot.postgres.sql, which the tests
# load (they have no Hummingbot). Needs the venv and unpacked sdist of
# README.md and a local PostgreSQL.
set -eu
here=$(dirname "$0")
py=${HUMMINGBOT_PYTHON:-/work/venvs/hummingbot/bin/python}
db=hb_fixture_dump_$$
createdb -h 127.0.0.1 -U postgres "$db"
trap 'dropdb -h 127.0.0.1 -U postgres "$db"' EXIT
"$py" -B "$here/generate.py" "postgresql+psycopg2://postgres@127.0.0.1:5432/$db" >/dev/null
pg_dump -h 127.0.0.1 -U postgres --no-owner --no-privileges --inserts "$db" \
  | grep -v '^-- Dumped \|^SET transaction_timeout\|^\\restrict\|^\\unrestrict' > "$here/hummingbot.postgres.sql"
