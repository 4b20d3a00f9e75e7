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

}  // namespace hakmem::tiers
