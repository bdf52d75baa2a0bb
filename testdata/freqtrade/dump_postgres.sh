#!/bin/sh
# Builds the fixture trades on PostgreSQL with Freqtrade's own code
# (generate.py) and dumps them to tradesv3.postgres.sql, which the tests load
# (they have no Freqtrade). Needs the venv of README.md and a local PostgreSQL.
set -eu
here=$(dirname "$0")
py=${FREQTRADE_PYTHON:-/work/venvs/freqtrade/bin/python}
db=ft_fixture_dump_$$
createdb -h 127.0.0.1 -U postgres "$db"
trap 'dropdb -h 127.0.0.1 -U postgres "$db"' EXIT
"$py" "$here/generate.py" "postgresql+psycopg2://postgres@127.0.0.1:5432/$db" >/dev/null
pg_dump -h 127.0.0.1 -U postgres --no-owner --no-privileges --inserts "$db" \
  | grep -v '^-- Dumped \|^SET transaction_timeout\|^\\restrict\|^\\unrestrict' > "$here/tradesv3.postgres.sql"
