#!/bin/bash
# PostgreSQL under LD_PRELOAD: initdb, a server on a loopback port,
# `pgbench -i` and a pgbench run of 4 clients over a fixed number of
# transactions, then queries that check the bank stays balanced (every
# account, branch and teller total equals the history's). Run as the
# postgres user (the server refuses root). Timings are left out of what is
# compared.
# Usage: postgres_pgbench.sh LIBHAKMEM
. "$(dirname "$0")/lib.sh"
programs_init "$1"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pgbench" ]; then
  echo "SKIP: PostgreSQL is not installed (postgresql)"
  exit 77
fi
id postgres >/dev/null 2>&1 || { echo "SKIP: no postgres user"; exit 77; }
chmod 755 "$WORK"

# as_postgres COMMAND...: COMMAND as the postgres user, LD_PRELOAD passed on.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- env LD_PRELOAD="${LD_PRELOAD:-}" LC_ALL=C TZ=UTC "$@"
  else
    "$@"
  fi
}

scenario() {
  local port=$((25000 + ($$ % 5000) + $1))
  local dir="$PWD/data"
  chown postgres "$PWD" 2>/dev/null
  as_postgres "$bin/initdb" -D "$dir" -A trust -U bench --no-sync >initdb.log 2>&1 && echo "initdb ok"
  as_postgres "$bin/pg_ctl" -D "$dir" -l server.log -w -o "-p $port -k $PWD -c listen_addresses=127.0.0.1 -c fsync=off" start \
    >/dev/null && echo "server started"
  as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U bench bench && echo "createdb ok"
  as_postgres "$bin/pgbench" -h 127.0.0.1 -p "$port" -U bench -i -s 2 -q bench >init.log 2>&1 && echo "pgbench -i ok"
  as_postgres "$bin/pgbench" -h 127.0.0.1 -p "$port" -U bench -c 4 -j 2 -t 500 bench 2>&1 |
    grep -E '^(number of (transactions actually processed|failed transactions)|number of clients|scaling factor)'
  as_postgres "$bin/psql" -h 127.0.0.1 -p "$port" -U bench -At bench -c "
    SELECT count(*) FROM pgbench_accounts;
    SELECT count(*) FROM pgbench_history;
    SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history)
       AND (SELECT sum(bbalance) FROM pgbench_branches) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history)
       AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history);"
  as_postgres "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null && echo "server stopped"
}
compare_runs postgres scenario 1
