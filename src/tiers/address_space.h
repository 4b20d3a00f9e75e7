// Address space under a limit: when a mapping is refused (RLIMIT_AS, a
// container's or systemd's limit, overcommit refusing), the allocator gives
// back what it maps but does not use, and the caller retries with the
// smallest mapping that serves its request.
//
// Layer: tiers. Any thread holding no lock of rank kNodePool or above.
#pragma once

namespace hakmem::tiers {

// Unmaps the node pools' reserves and free SuperSlabs and the huge cache's
// free spans. True if that gave any address space back.
bool release_unused_address_space();

}  // namespace hakmem::tiers
