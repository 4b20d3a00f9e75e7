#include "base/check.h"

#include <cstdlib>

#include "base/format.h"

namespace hakmem {

void fatal(const char* what, const char* file, int line) {
  Formatter f;
  f.str("hakmem: ").str(what).str(" at ").str(file).ch(':').dec(static_cast<unsigned>(line)).ch('\n');
  f.write_to(2);
  std::abort();
}

}  // namespace hakmem
