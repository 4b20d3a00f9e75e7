#include "tiers/address_space.h"

#include "os/pages.h"
#include "tiers/huge.h"
#include "tiers/node_pool.h"

namespace hakmem::tiers {

bool release_unused_address_space() {
  const std::uint64_t mapped_before = os::os_stats().mapped_bytes.get();
  for (std::uint32_t i = 0; i < node_pool_count(); ++i) node_pool(numa::NodeId{i}).decay(true);
  huge_decay(true);
  return os::os_stats().mapped_bytes.get() < mapped_before;
}

}  // namespace hakmem::tiers
