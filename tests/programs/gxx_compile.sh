#!/bin/bash
# g++ under LD_PRELOAD: the driver, cc1plus, as, collect2 and ld all run on
# hakmem. The object file must be byte-identical to the one compiled
# without preload, and the linked program (run in the same mode) must print
# the same output.
# Usage: gxx_compile.sh LIBHAKMEM SOURCE_DIR
. "$(dirname "$0")/lib.sh"
programs_init "$1"
SOURCE_DIR=${2:?usage: $0 LIBHAKMEM SOURCE_DIR}
require_tool g++
require_tool sha256sum

# Both compiles read the same source from the same path, so the objects can
# be compared byte for byte.
cp "$SOURCE_DIR/sample_program.cpp" "$WORK/sample_program.cpp"

scenario() {
  step g++ -std=c++20 -O2 -Wall -Wextra -c "$WORK/sample_program.cpp" -o sample_program.o
  echo "object: $(sha256sum <sample_program.o)"
  step g++ sample_program.o -o sample_program
  [ -x sample_program ] && echo "compile and link succeeded"
  step ./sample_program
}
compare_runs gxx scenario
