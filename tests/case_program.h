// The command line of a program of named cases (tests/misuse, tests/limits):
// `PROGRAM NAME` runs case NAME, `PROGRAM --list` prints the names. Each
// case is run by a process of its own, so that one that kills its process
// (a misuse report) or fills its address space (a limit) leaves the others
// alone.
#pragma once

#include <cstdio>
#include <string_view>

namespace hakmem::test_cases {

// Cases is an array of structs with a `name`; run(c) runs one.
template <typename Case, std::size_t N, typename Run>
int case_program_main(int argc, char** argv, const Case (&cases)[N], Run run) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s NAME | --list\n", argv[0]);
    return 2;
  }
  const std::string_view wanted = argv[1];
  for (const Case& c : cases) {
    if (wanted == "--list") {
      std::printf("%s\n", c.name);
    } else if (wanted == c.name) {
      run(c);
      return 0;
    }
  }
  if (wanted == "--list") return 0;
  std::fprintf(stderr, "%s: no case named '%s' (see --list)\n", argv[0], argv[1]);
  return 2;
}

}  // namespace hakmem::test_cases
