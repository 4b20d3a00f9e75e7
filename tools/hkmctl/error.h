// hkmctl's exit codes and the one exception every failure travels as.
//
// Layer: tools/hkmctl. main() catches CtlError, prints "hkmctl: <what>" on
// one line and exits with its code, so every command reports failure the same
// way (CONTROL.md, "hkmctl").
#pragma once

#include <stdexcept>
#include <string>

namespace hakmem::hkmctl {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,
  kExitUsage = 2,
  kExitNoProcess = 3,    // no such process, or its block is stale
  kExitPermission = 4,
  kExitIncompatible = 5, // another ABI major version
  kExitTimeout = 6,
  kExitRefused = 7,      // the process answered with an error status
};

class CtlError : public std::runtime_error {
 public:
  CtlError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

[[noreturn]] inline void usage_error(const std::string& what) { throw CtlError(kExitUsage, what); }

}  // namespace hakmem::hkmctl
