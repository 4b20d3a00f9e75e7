#!/bin/bash
# Redis under LD_PRELOAD, with its own benchmark client: a server on a
# loopback port, redis-benchmark with 8 clients over sets, gets, lists and
# hashes, then the data the server holds. Debian's redis-server links
# libjemalloc: under the preload its malloc and free bind to hakmem while
# its mallctl calls still reach jemalloc, so the test also checks that INFO
# memory and MEMORY STATS answer, and that nothing mixed the two heaps (the
# server survives DEBUG RELOAD and FLUSHALL and shuts down cleanly).
# Usage: redis_benchmark.sh LIBHAKMEM
. "$(dirname "$0")/lib.sh"
programs_init "$1"
require_tool redis-server
require_tool redis-cli
require_tool redis-benchmark

port_for() { echo $((20000 + ($$ % 5000) + $1)); }

scenario() {
  local port
  port=$(port_for "$1")
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --enable-debug-command local --dir "$PWD" >server.log 2>&1 &
  local server=$!
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  # Random keys: what the benchmark leaves differs by run, so only its status counts.
  step redis-benchmark -p "$port" -c 8 -n 20000 -r 10000 -d 200 -t set,get,lpush,lpop,hset -q >/dev/null
  redis-cli -p "$port" flushall
  for i in $(seq 1 300); do echo "SET key:$i $(printf 'v%.0s' $(seq 1 $((i % 50 + 1))))"; done | redis-cli -p "$port" >/dev/null
  redis-cli -p "$port" get key:42
  redis-cli -p "$port" strlen key:299
  redis-cli -p "$port" info memory | grep -qE '^used_memory:[0-9]+' && echo "info memory answers"
  redis-cli -p "$port" memory stats | grep -q 'peak.allocated' && echo "memory stats answers"
  redis-cli -p "$port" debug reload
  redis-cli -p "$port" dbsize
  redis-cli -p "$port" flushall
  redis-cli -p "$port" dbsize
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
  wait "$server"
  echo "server exit status $?"
}
compare_runs redis scenario 1
