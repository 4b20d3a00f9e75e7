#!/bin/bash
# sqlite3 on a million-row script under LD_PRELOAD: a table filled by a
# recursive query, an index, grouped aggregates, a join, updates and
# deletes, in an on-disk database with a small page cache (so pages come and
# go) and again in memory. What the queries print must match the run
# without preload.
# Usage: sqlite_million_rows.sh LIBHAKMEM
. "$(dirname "$0")/lib.sh"
programs_init "$1"
require_tool sqlite3

cat >"$WORK/script.sql" <<'SQL'
PRAGMA cache_size = -2000;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, pad BLOB);
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 1000000)
INSERT INTO t SELECT i, (i * 7919) % 1000, printf('name-%d-%s', i, substr('abcdefghij', 1 + i % 10)),
                     zeroblob(i % 200) FROM seq;
CREATE INDEX t_k ON t(k);
SELECT count(*), sum(k), max(length(name)), sum(length(pad)) FROM t;
SELECT k, count(*), min(id), max(id) FROM t WHERE k < 5 GROUP BY k ORDER BY k;
CREATE TABLE u AS SELECT k, group_concat(id % 97) AS ids FROM t WHERE id % 1000 = 0 GROUP BY k;
SELECT count(*), sum(length(ids)) FROM u;
SELECT count(*) FROM t JOIN u USING (k) WHERE t.id % 10 = 3;
UPDATE t SET name = upper(name), pad = zeroblob(300) WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(length(name)), sum(length(pad)) FROM t;
SELECT name FROM t ORDER BY name DESC LIMIT 3;
SQL

scenario() {
  step sqlite3 disk.db <"$WORK/script.sql"
  step sqlite3 :memory: <"$WORK/script.sql"
}
compare_runs sqlite scenario
