#!/bin/sh
# Builds the fixture trades on MariaDB with Freqtrade's own code
# (generate.py; pymysql in the venv) and dumps them to tradesv3.mysql.sql,
# which the tests load. Needs the venv of README.md and a local MariaDB.
set -eu
here=$(dirname "$0")
py=${FREQTRADE_PYTHON:-/work/venvs/freqtrade/bin/python}
db=ft_fixture_dump_$$
mariadb -h 127.0.0.1 -u root -e "CREATE DATABASE $db"
trap 'mariadb -h 127.0.0.1 -u root -e "DROP DATABASE $db"' EXIT
"$py" "$here/generate.py" "mysql+pymysql://root@127.0.0.1:3306/$db" >/dev/null
{
  echo "SET FOREIGN_KEY_CHECKS=0;"
  mariadb-dump -h 127.0.0.1 -u root --skip-comments --skip-dump-date --compact "$db" | grep -v '^/\*M!999999'
  echo "SET FOREIGN_KEY_CHECKS=1;"
} > "$here/tradesv3.mysql.sql"
