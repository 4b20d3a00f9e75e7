#include "tiers/room_index.h"

namespace hakmem::tiers {

void RoomIndex::update(SuperSlab* ss) {
  const unsigned run = ss->longest_free_run();
  if (run == ss->room_run()) return;
  remove(ss);
  if (run == 0) return;
  lists_[run].push_front(ss);
  ss->set_room_run(run);
}

void RoomIndex::remove(SuperSlab* ss) {
  if (ss->room_run() == 0) return;
  lists_[ss->room_run()].remove(ss);
  ss->set_room_run(0);
}

SuperSlab* RoomIndex::find(unsigned units, std::size_t block_bytes, int* first) const {
  for (unsigned run = units; run <= kUnitsPerSuperSlab; ++run) {
    // Nearly always the first one fits; it does not when its only long
    // enough run starts at unit 0 and this class may not use unit 0.
    for (SuperSlab* ss = lists_[run].front(); ss != nullptr; ss = SuperSlabList::next(ss)) {
      const int at = ss->find_free_run(units, block_bytes);
      if (at >= 0) {
        *first = at;
        return ss;
      }
    }
  }
  return nullptr;
}

}  // namespace hakmem::tiers
