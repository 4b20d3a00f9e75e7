// Sets HAKMEM_PURGE_DELAY_MS's runtime knob for the length of a scope, for
// the tests of the pages idle classes and quiet mosaics give back: with 0
// every idle look is a purge look, so a burst of slow-path events brings
// purges round without the test waiting out the default delay.
#pragma once

#include <cstdint>

#include "config/options.h"
#include "tiers/heap_registry.h"

namespace hakmem::tiers {

class ScopedPurgeDelay {
 public:
  // The allocator's init reads the environment into the options: it runs
  // first, so that the value set here is the one in force.
  explicit ScopedPurgeDelay(std::uint64_t ms) : saved_((ensure_initialized(), knob().load())) { knob().store(ms); }
  ~ScopedPurgeDelay() { knob().store(saved_); }
  ScopedPurgeDelay(const ScopedPurgeDelay&) = delete;
  ScopedPurgeDelay& operator=(const ScopedPurgeDelay&) = delete;

 private:
  static std::atomic<std::uint64_t>& knob() { return config::mutable_options().purge_delay_ms; }
  std::uint64_t saved_;
};

}  // namespace hakmem::tiers
