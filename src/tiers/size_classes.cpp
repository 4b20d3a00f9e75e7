#include "tiers/size_classes.h"

namespace hakmem::tiers {

const char* tier_name(Tier t) {
  switch (t) {
    case Tier::kTiny: return "tiny";
    case Tier::kMid: return "mid";
    case Tier::kLarge: return "large";
    case Tier::kHuge: return "huge";
  }
  return "?";
}

SizeClass aligned_class_of(std::size_t n, std::size_t alignment) {
  if (n > kMaxSlabBlock) return kClassCount;
  for (unsigned c = class_of(n); c < kClassCount; ++c) {
    if (kClassInfo[c].block_bytes % alignment == 0) return static_cast<SizeClass>(c);
  }
  return kClassCount;
}

}  // namespace hakmem::tiers
