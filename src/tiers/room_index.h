// The SuperSlabs a heap owns that have free units, filed by their longest
// run of free units, so that a new slab of n units is cut from the
// SuperSlab whose longest run fits it most tightly (best fit) without
// walking every SuperSlab the heap owns. Long runs stay whole for slabs of
// big blocks, and finding a place costs the same with 5 SuperSlabs or 500.
//
// Layer: tiers. Owned by one ThreadHeap; written only by its owner.
#pragma once

#include <cstddef>

#include "base/constants.h"
#include "base/intrusive_list.h"
#include "tiers/superslab.h"

namespace hakmem::tiers {

class RoomIndex {
  using SuperSlabList = IntrusiveList<SuperSlab, &SuperSlab::links>;

 public:
  // Files ss under its longest free run now, moving it if it was filed
  // under another; takes it out if it has no free unit left.
  void update(SuperSlab* ss);
  // Takes ss out (it is about to leave the heap).
  void remove(SuperSlab* ss);

  // A SuperSlab with a run of `units` free units where a slab of
  // `block_bytes` blocks may start, and that run's first unit; null if
  // none has one.
  SuperSlab* find(unsigned units, std::size_t block_bytes, int* first) const;

  template <typename F>
  void for_each(F&& f) const {
    for (const SuperSlabList& list : lists_) {
      for (SuperSlab* ss = list.front(); ss != nullptr; ss = SuperSlabList::next(ss)) f(ss);
    }
  }

 private:
  // By longest free run, 1 to kUnitsPerSuperSlab (index 0 stays empty).
  SuperSlabList lists_[kUnitsPerSuperSlab + 1];
};

}  // namespace hakmem::tiers
