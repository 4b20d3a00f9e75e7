#!/bin/bash
# Node.js and a JVM under LD_PRELOAD: node_workload.js (objects, JSON,
# zlib, worker threads) and JavaWorkload.java run as a single-file program
# (collections, a parallel stream, a thread pool). Each prints digests that
# must match the run without preload.
# Usage: node_and_java.sh LIBHAKMEM SOURCE_DIR
. "$(dirname "$0")/lib.sh"
programs_init "$1"
src=${2:?usage: $0 LIBHAKMEM SOURCE_DIR}
require_tool node
require_tool java

scenario() {
  step node "$src/node_workload.js"
  step java -Xmx256m "$src/JavaWorkload.java"
}
compare_runs node_and_java scenario
