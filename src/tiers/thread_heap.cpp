// ThreadHeap slow paths: refill, flush, inbox, slab and SuperSlab turnover.
// See thread_heap.h for ownership. Nothing here takes a lock except through
// the node pool (acquiring or releasing a whole SuperSlab).
#include "tiers/thread_heap.h"

#include <algorithm>

#include <cstring>
#include <new>

#include "base/bits.h"
#include "base/build_config.h"
#include "base/check.h"
#include "config/config.h"
#include "numa/placement.h"
#include "os/clock.h"
#include "os/meta_arena.h"
#include "os/pages.h"
#include "os/purge_batch.h"
#include "tiers/allocator.h"
#include "tiers/freed_mark.h"
#include "tiers/node_pool.h"
#include "tiers/slab_pages.h"
#include "tiers/slow_path_hook.h"

namespace hakmem::tiers {

void ThreadHeap::init(numa::NodeId node) {
  node_ = node;
  if (remote_to_node_ == nullptr) {
    // One pair of counters per node, for the per-node statistics; heaps are
    // never freed, so neither are these.
    const std::size_t bytes = sizeof(LocalCounter) * numa::node_count();
    void* blocks = os::meta_alloc(bytes, alignof(LocalCounter));
    void* sizes = blocks == nullptr ? nullptr : os::meta_alloc(bytes, alignof(LocalCounter));
    if (sizes != nullptr) {
      remote_to_node_ = new (blocks) LocalCounter[numa::node_count()];
      remote_bytes_to_node_ = new (sizes) LocalCounter[numa::node_count()];
    }
  }
  // A recycled heap keeps the capacities it has grown to.
  const bool capacities_set = initial_capacity_bytes_[kTinyBudget] != 0;
  for (unsigned c = 0; c < kClassCount; ++c) {
    ClassState& cs = classes_[c];
    const std::size_t bs = block_size(static_cast<SizeClass>(c));
    // Blocks bigger than the budget are not cached at all: each free goes
    // straight back to its slab, so no thread (exited ones included) sits
    // on a megabyte it does not use.
    const std::size_t by_bytes = kBinBudgetBytes / bs;
    cs.max_capacity = static_cast<std::uint32_t>(by_bytes < kBinMaxBlocks ? by_bytes : kBinMaxBlocks);
    const std::size_t by_initial_bytes = bs < kInitialCapacityBytes ? kInitialCapacityBytes / bs : 1;
    const std::uint32_t initial = static_cast<std::uint32_t>(
        std::min<std::size_t>({cs.max_capacity, kInitialCapacity, by_initial_bytes}));
    if (!capacities_set) {
      initial_capacity_bytes_[budget_group(static_cast<SizeClass>(c))] += initial * bs;
      set_capacity(static_cast<SizeClass>(c), initial);
    }
    update_free_limit(static_cast<SizeClass>(c));
  }
  // Never under its limit: every free into it flushes at once.
  bins[kMosaicClass].set_free_limit(-1);
}

std::uint64_t ThreadHeap::cached_blocks(SizeClass c) const {
  const ClassState& cs = classes_[c];
  const Bin& b = bins[c];
  return cs.filled.get() - cs.drained.get() + b.frees.read_racy() - b.allocs.read_racy();
}

void ThreadHeap::update_free_limit(SizeClass c) {
  const ClassState& cs = classes_[c];
  bins[c].set_free_limit(static_cast<std::int64_t>(cs.capacity) - static_cast<std::int64_t>(cs.filled.get() - cs.drained.get()));
}

std::uint32_t ThreadHeap::grown_capacity(std::uint32_t capacity, std::uint32_t max_capacity,
                                         std::size_t block_bytes, std::size_t room_bytes) {
  std::uint32_t step = capacity == 0 ? 1 : capacity;  // doubling
  if (step > max_capacity - capacity) step = max_capacity - capacity;
  if (step > room_bytes / block_bytes) step = static_cast<std::uint32_t>(room_bytes / block_bytes);
  return capacity + step;
}

void ThreadHeap::set_capacity(SizeClass c, std::uint32_t capacity) {
  ClassState& cs = classes_[c];
  const std::size_t bs = block_size(c);
  std::size_t& group_bytes = capacity_bytes_[budget_group(c)];
  group_bytes = group_bytes - cs.capacity * bs + capacity * bs;
  cs.capacity = capacity;
}

void ThreadHeap::note_slow_event() {
  const std::uint64_t epoch = g_flush_epoch.load(std::memory_order_relaxed);
  if (HAKMEM_UNLIKELY(epoch != flush_epoch_answered_.load(std::memory_order_relaxed))) answer_flush_epoch(epoch);
  if (++slow_events_ % kGcEvents == 0) collect_idle_bins();
}

void ThreadHeap::answer_flush_epoch(std::uint64_t epoch) {
  if (remote_pending_) flush_remote_batches();
  flush_all();
  flush_epoch_answered_.store(epoch, std::memory_order_relaxed);
}

void ThreadHeap::collect_idle_bins() {
  for (unsigned i = 0; i < kClassCount; ++i) {
    const auto c = static_cast<SizeClass>(i);
    ClassState& cs = classes_[c];
    const bool idle = idle_since_last_look(c);
    if (idle && cached_blocks(c) > 0) {
      flush(c, 0);
      if (cs.capacity > 1) set_capacity(c, cs.capacity / 2);
      update_free_limit(c);
    }
    cs.idle_at_last_look = idle;
    cs.allocs_at_gc = bins[c].allocs.get();
    cs.refills_at_gc = cs.refills.get();
  }
  if (purge_look_due()) {
    purge_idle_classes();
    purge_quiet_mosaics();
    purge_long_free_units();
  }
}

bool ThreadHeap::purge_look_due() {
  // A program whose size mix shifts every few milliseconds leaves classes
  // idle for a look or two and comes back to them: purging at once would
  // give their pages back only to fault them in again.
  const std::uint64_t delay_ms = config::options().purge_delay_ms.load(std::memory_order_relaxed);
  const std::uint64_t now_ms = os::monotonic_ms();
  if (now_ms - last_purge_look_ms_ < delay_ms / 2) return false;
  last_purge_look_ms_ = now_ms;
  return true;
}

void ThreadHeap::purge_idle_classes() {
  for (unsigned i = 0; i < kClassCount; ++i) {
    const auto c = static_cast<SizeClass>(i);
    ClassState& cs = classes_[c];
    // Frees count as use: a wave of frees is purged when it is over, not
    // part-way through.
    const std::uint64_t uses = bins[c].allocs.get() + cs.refills.get() + bins[c].frees.get();
    if (uses != cs.uses_at_purge_look) {
      cs.uses_at_purge_look = uses;
      cs.quiet_purge_looks = 0;
      cs.idle_pages_purged = false;
      cs.idle_purge_next = nullptr;
      continue;
    }
    if (cs.quiet_purge_looks < kQuietPurgeLooks) ++cs.quiet_purge_looks;
    if (cs.quiet_purge_looks == kQuietPurgeLooks && !cs.idle_pages_purged) cs.idle_pages_purged = purge_idle_class(c);
  }
}

void ThreadHeap::purge_quiet_mosaics() {
  // Mosaics in use keep their pages, as classes in use do: a program moving
  // blocks in and out of one makes no madvise call.
  for (Slab* m = mosaics_.front(); m != nullptr; m = SlabList::next(m)) {
    if (m->parked < kMosaicQuietLooks && ++m->parked == kMosaicQuietLooks) {
      mosaic_purge_free_pages(*SuperSlab::of(m), *m);
    }
  }
}

bool ThreadHeap::refill(SizeClass c) {
  note_slow_event();
  if (remote_pending_) flush_remote_batches();
  drain_inbox();
  ClassState& cs = classes_[c];
  cs.refills.inc();
  const BudgetGroup g = budget_group(c);
  const std::size_t room = capacity_limit_bytes(g) - capacity_bytes_[g];
  set_capacity(c, grown_capacity(cs.capacity, cs.max_capacity, block_size(c), room));
  if (bins[c].head == nullptr) take_blocks(c, cs.capacity / 2 == 0 ? 1 : cs.capacity / 2);
  update_free_limit(c);
  return bins[c].head != nullptr;
}

void ThreadHeap::flush_overflow(SizeClass c) {
  note_slow_event();
  if (c == kMosaicClass) return flush_mosaic_bin();
  classes_[c].flushes.inc();
  flush(c, classes_[c].capacity / 2);
}

void ThreadHeap::take_blocks(SizeClass c, std::uint32_t want) {
  ClassState& cs = classes_[c];
  Bin& b = bins[c];
  const std::size_t bs = block_size(c);
  std::uint32_t got = 0;
  bool mosaics_tried = false;
  while (got < want) {
    Slab* s = cs.partial.front();
    if (s == nullptr) {
      // Holes in other classes' sparse slabs before new memory.
      if (!mosaics_tried) {
        mosaics_tried = true;
        got += carve_from_mosaics(c, want - got);
        continue;
      }
      s = new_slab(c);
      if (s == nullptr) break;
    }
    // Blocks whose pages trim purged come back when the rest are gone.
    if (s->free_list == nullptr && s->parked != 0) unpark_blocks(*SuperSlab::of(s), *s);
    // A slab's whole free list fits the bin: splice it in without walking it
    // (its length is known). Walking a list of blocks freed in random order
    // costs a cache miss per block.
    const std::uint32_t free_blocks = s->listed_free();
    if (b.head == nullptr && free_blocks != 0 && free_blocks <= cs.capacity) {
      b.head = s->free_list;
      s->free_list = nullptr;
      s->used += free_blocks;
      got += free_blocks;
    }
    while (got < want && s->free_list != nullptr) {
      void* p = s->free_list;
      s->free_list = *static_cast<void**>(p);
      *static_cast<void**>(p) = b.head;
      b.head = p;
      ++s->used;
      ++got;
    }
    if (got < want && s->carved < s->capacity) {
      const std::uint32_t room = s->capacity - s->carved;
      const std::uint32_t n = want - got < room ? want - got : room;
      const SuperSlab& ss = *SuperSlab::of(s);
      char* begin = ss.slab_begin(*s);
      // Linked from the last in carve order back, so the bin hands them out
      // in that order (in address order but where the carve wraps).
      std::uint32_t block = ss.carved_block(*s, s->carved + n - 1);
      for (std::uint32_t i = n; i-- > 0; block = block == 0 ? s->capacity - 1 : block - 1) {
        void* p = begin + std::size_t{block} * bs;
        *static_cast<void**>(p) = b.head;
        b.head = p;
      }
      s->carved += n;
      s->used += n;
      got += n;
    }
    if (!s->has_free_block()) {
      cs.partial.remove(s);
      cs.full.push_back(s);
      s->on_full_list = true;
    }
  }
  cs.filled.add(got);
}

void ThreadHeap::flush(SizeClass c, std::uint32_t keep) {
  ClassState& cs = classes_[c];
  Bin& b = bins[c];
  // Give back the most recently freed blocks, from the front: their first
  // lines are still in cache, so the walk costs little. The older blocks
  // stay for the next allocations, which touch them anyway. (Walking past
  // `keep` cold blocks to give back the oldest cost a cache miss a block.)
  const std::uint64_t cached = cached_blocks(c);
  const std::uint64_t give = cached > keep ? cached - keep : 0;
  void* p = b.head;
  std::uint64_t n = 0;
  while (n < give && p != nullptr) {
    // Blocks leave and come back to the bin in runs from one slab unit (a
    // refill hands out a slab's blocks together, a program frees them
    // together): a run goes back in one splice, its slab looked up once.
    void* first = p;
    void* last = p;
    std::uint32_t run = 1;
    const std::uintptr_t unit = reinterpret_cast<std::uintptr_t>(p) >> kSlabUnitShift;
    p = *static_cast<void**>(p);
    while (n + run < give && p != nullptr && reinterpret_cast<std::uintptr_t>(p) >> kSlabUnitShift == unit) {
      last = p;
      p = *static_cast<void**>(p);
      ++run;
    }
    return_run(first, last, run);
    n += run;
  }
  b.head = p;
  cs.drained.add(n);
  update_free_limit(c);
}

void ThreadHeap::return_run(void* first, void* last, std::uint32_t count) {
  Slab& head = SuperSlab::head_slab(first);
  if (head.owner != this || head.size_class == kMosaicClass) {
    // One block at a time: to their owner's batch, or to their mosaic.
    for (std::uint32_t i = 0; i < count; ++i) {
      void* next = *static_cast<void**>(first);
      if (head.owner != this) {
        send_home(head.owner, first);
      } else {
        return_to_mosaic(head, first);
      }
      first = next;
    }
    return;
  }
  HAKMEM_ASSERT(head.state == Slab::State::kHead && head.used >= count);
  *static_cast<void**>(last) = head.free_list;
  head.free_list = first;
  head.used -= count;
  ClassState& cs = classes_[head.size_class];
  if (head.on_full_list) {
    cs.full.remove(&head);
    head.on_full_list = false;
    cs.partial.push_back(&head);
  }
  // Keep a small-block class's last slab even when empty: a class that
  // empties and refills in a loop must not give units back and take them
  // again on every turn. Large slabs (up to 320 KiB of units) go back at once.
  if (head.used == 0 && (cs.partial.size() > 1 || tier_of(head.size_class) == Tier::kLarge)) release_slab(head);
}

void ThreadHeap::drain_inbox() {
  if (inbox_.load(std::memory_order_relaxed) == nullptr) return;
  void* list = inbox_.exchange(nullptr, std::memory_order_acquire);
  // Blocks come back straight into the thread cache, ready for reuse: they
  // are this heap's own, and a round trip through their slabs would touch
  // each one twice more. Bins that overflow give their oldest half back.
  std::uint32_t added[kClassCount] = {};
  std::uint64_t n = 0;
  while (list != nullptr) {
    void* next = *static_cast<void**>(list);
    Slab& unit = SuperSlab::unit_slab(list);
    const SizeClass c = unit.size_class;
    HAKMEM_ASSERT(unit.owner == this);
    if (c == kMosaicClass) {
      // Its freeing thread counted the free; the block goes home at once.
      return_to_mosaic(unit, list);
      list = next;
      ++n;
      continue;
    }
    *static_cast<void**>(list) = bins[c].head;
    bins[c].head = list;
    ++added[c];
    list = next;
    ++n;
  }
  // A bin may now hold more than its capacity; the next local free of the
  // class, or the idle check, trims it.
  for (unsigned i = 0; i < kClassCount; ++i) {
    if (added[i] == 0) continue;
    const auto c = static_cast<SizeClass>(i);
    classes_[c].filled.add(added[i]);
    update_free_limit(c);
  }
  remote_received.add(n);
}

void ThreadHeap::free_remote(ThreadHeap* owner, void* block, SizeClass c) {
  if (remote_to_node_ != nullptr) {
    remote_to_node_[owner->node().value].inc();
    remote_bytes_to_node_[owner->node().value].add(block_size(c));
  }
  ClassState& cs = classes_[c];
  // Kept while the bin is less than half full: a thread that allocates the
  // class takes them back out, one that only frees it (a consumer) sends
  // them home without a flush for every few frees. (The bin's room is its
  // capacity less its cached blocks.)
  Bin& b = bins[c];
  if (b.room > static_cast<std::int64_t>(cs.capacity - cs.capacity / 2) &&
      SuperSlab::unit_slab(block).size_class != kMosaicClass && SuperSlab::of(block)->node() == node_) {
    cs.foreign_kept.inc();
    *static_cast<void**>(block) = b.head;
    b.head = block;
    if (b.count_free_over_capacity()) flush_overflow(c);
    return;
  }
  cs.remote_frees.inc();
  send_home(owner, block);
}

void ThreadHeap::send_home(ThreadHeap* owner, void* block) {
  remote_pending_ = true;
  const auto slot = (reinterpret_cast<std::uintptr_t>(owner) / alignof(ThreadHeap)) % kRemoteBatchSlots;
  RemoteBatch& batch = remote_batches_[slot];
  if (batch.owner != owner) {
    hand_over(batch);
    batch.owner = owner;
  }
  *static_cast<void**>(block) = batch.first;
  if (batch.first == nullptr) batch.last = block;
  batch.first = block;
  if (++batch.blocks == kRemoteBatchBlocks) hand_over(batch);
}

void ThreadHeap::hand_over(RemoteBatch& batch) {
  if (batch.blocks != 0) batch.owner->push_remote(batch.first, batch.last);
  batch = RemoteBatch();
}

void ThreadHeap::flush_remote_batches() {
  for (RemoteBatch& batch : remote_batches_) hand_over(batch);
  remote_pending_ = false;
}

Slab* ThreadHeap::new_slab(SizeClass c) {
  const unsigned units = units_per_slab(c);
  const std::size_t bs = block_size(c);
  int first = -1;
  SuperSlab* ss = room_.find(units, bs, &first);
  if (ss == nullptr) {
    ss = node_pool(numa::superslab_node(numa::placement(), node_)).acquire(this, tier_of(c));
    if (ss == nullptr) return nullptr;
    superslabs_acquired.inc();
    first = ss->find_free_run(units, bs);
    HAKMEM_ASSERT(first >= 0);
  }
  Slab& head = ss->carve_slab(static_cast<unsigned>(first), units, c, this);
  room_.update(ss);
  collapse_if_dense(*ss);
  ClassState& cs = classes_[c];
  cs.partial.push_front(&head);
  cs.slabs_carved.inc();
  return &head;
}

void ThreadHeap::release_slab(Slab& head) {
  ClassState& cs = classes_[head.size_class];
  HAKMEM_ASSERT(!head.on_full_list);
  // An idle purge that was to resume here resumes at the next slab.
  if (cs.idle_purge_next == &head) {
    cs.idle_purge_next = SlabList::next(&head);
    if (cs.idle_purge_next == nullptr) cs.idle_pages_purged = true;
  }
  cs.partial.remove(&head);
  cs.slabs_released.inc();
  SuperSlab* ss = SuperSlab::of(&head);
  ss->release_slab(head);
  return_units(*ss);
}

void ThreadHeap::return_units(SuperSlab& ss) {
  if (ss.all_units_free()) {
    room_.remove(&ss);
    superslabs_returned.inc();
    node_pool(ss.node()).release(&ss);
    return;
  }
  room_.update(&ss);
}

void ThreadHeap::purge_long_free_units() {
  os::PurgeBatch batch;
  room_.for_each([this, &batch](SuperSlab* ss) {
    if (ss->backing() == os::Backing::kHugetlb) return;
    const std::uint32_t due = ss->take_units_free_across_looks();
    if (due == 0) return;
    dirty_units_purged.add(static_cast<unsigned>(__builtin_popcount(due)));
    purge_free_units(*ss, due, batch);
  });
  batch.submit();
}

std::uint32_t ThreadHeap::carve_from_mosaics(SizeClass c, std::uint32_t want) {
  if (!mosaic_class(c)) return 0;
  void** list = &bins[c].head;
  // Resident holes first, in the mosaics there are and then in new ones;
  // only then holes whose pages a purge returned, which cost a page fault
  // and a page of RSS each, as a new slab would.
  const bool aligned = classes_[c].mosaic_blocks_aligned;
  std::uint32_t got = carve_from_known_mosaics(c, want, {.into_purged = false, .natural_alignment = aligned}, list);
  while (got < want) {
    Slab* m = make_new_mosaic();
    if (m == nullptr) break;
    got += mosaic_carve(*SuperSlab::of(m), *m, c, want - got, {.into_purged = false, .natural_alignment = aligned},
                        list);
  }
  if (got < want) {
    got += carve_from_known_mosaics(c, want - got, {.into_purged = true, .natural_alignment = aligned}, list);
  }
  if constexpr (kChecked) {
    // Blocks in the thread cache carry the freed mark, so that a free of
    // one no allocation handed out is caught (a mosaic's map counts it live).
    std::uint32_t i = 0;
    for (void* p = *list; i < got; p = *static_cast<void**>(p), ++i) set_freed_mark(p, this);
  }
  return got;
}

std::uint32_t ThreadHeap::carve_from_known_mosaics(SizeClass c, std::uint32_t want, MosaicCut cut, void** list) {
  std::uint32_t got = 0;
  // A mosaic that cannot give all that is asked goes to the back: refills
  // take turns over the mosaics, and one that is full is not looked at
  // first again and again.
  const std::size_t look = mosaics_.size() < kMosaicsPerRefill ? mosaics_.size() : kMosaicsPerRefill;
  for (std::size_t i = 0; i < look && got < want; ++i) {
    Slab* m = mosaics_.front();
    got += mosaic_carve(*SuperSlab::of(m), *m, c, want - got, cut, list);
    if (got < want && mosaics_.size() > 1) {
      mosaics_.remove(m);
      mosaics_.push_back(m);
    }
  }
  return got;
}

Slab* ThreadHeap::make_new_mosaic() {
  for (unsigned i = 0; i < kClassCount; ++i) {
    const auto c = static_cast<SizeClass>(i);
    if (!mosaic_source_class(c)) continue;
    Slab* s = mosaic_candidate_of(c);
    if (s == nullptr) continue;
    MosaicMap* map = maps_.take();
    if (map == nullptr) return nullptr;
    ClassState& cs = classes_[c];
    if (cs.idle_purge_next == s) cs.idle_purge_next = SlabList::next(s);
    cs.partial.remove(s);
    make_mosaic(*SuperSlab::of(s), *s, map);
    mosaics_.push_front(s);
    mosaics_made.inc();
    return s;
  }
  return nullptr;
}

bool ThreadHeap::idle_since_last_look(SizeClass c) const {
  const ClassState& cs = classes_[c];
  return bins[c].allocs.get() == cs.allocs_at_gc && cs.refills.get() == cs.refills_at_gc;
}

namespace {

// The first of up to `count` slabs from `s` on, each step by `step`
// (SlabList::next or prev), that may become a mosaic; null if none.
Slab* first_mosaic_candidate(Slab* s, unsigned count, Slab* (*step)(const Slab*)) {
  for (unsigned looked = 0; s != nullptr && looked < count; ++looked, s = step(s)) {
    if (mosaic_candidate(*s)) return s;
  }
  return nullptr;
}

}  // namespace

Slab* ThreadHeap::mosaic_candidate_of(SizeClass c) {
  ClassState& cs = classes_[c];
  // Idle for a whole look's interval and since (right after a look every
  // class would pass the second test alone). Sparse slabs are found near
  // the front: after a wave of frees every slab is, and an idle purge moves
  // them there.
  if (cs.idle_at_last_look && idle_since_last_look(c)) {
    return first_mosaic_candidate(cs.partial.front(), kSlabsLookedAt, SlabList::next);
  }
  // A class in use keeps its slabs: its own refills fill their holes, and
  // its frees stay on the fast path. But one that allocates next to nothing
  // for the room its partial slabs hold (a wave of frees left hundreds of
  // sparse ones, and the class now takes a block now and then) will not
  // reach the back of its list for long: sparse slabs there may go.
  const std::uint64_t allocs_since_look = bins[c].allocs.get() - cs.allocs_at_gc;
  const std::uint64_t slab_blocks = kSlabUnitBytes / block_size(c);
  if (cs.partial.size() <= kSlabsKeptInUse ||
      (allocs_since_look + 1) * kQuietClassShare > cs.partial.size() * slab_blocks) {
    return nullptr;
  }
  return first_mosaic_candidate(cs.partial.back(), kSlabsLookedAt, SlabList::prev);
}

void ThreadHeap::return_to_mosaic(Slab& head, void* block) {
  mosaic_free(head, block);
  if (head.used == 0) release_mosaic(head);
}

void ThreadHeap::flush_mosaic_bin() {
  Bin& mb = bins[kMosaicClass];
  // Every free into the bin flushes it (its limit is -1), so it holds the
  // block just freed and no other. The link that free stored is not read
  // back: the load would wait for the block's cache line, which the store
  // alone did not.
  void* p = mb.head;
  if (p == nullptr) return;
  HAKMEM_ASSERT(*static_cast<void**>(p) == nullptr);
  mb.head = nullptr;
  free_mosaic_block(p);
}

void ThreadHeap::free_mosaic_block(void* p) {
  Slab& head = SuperSlab::head_slab(p);
  // The free counts for the block's own class. While that class's bin has
  // room, the block waits there for the class's next malloc, as the blocks
  // a carve puts there do (the map counts it live all the while): a
  // program whose blocks come from mosaics then takes no slow path per
  // block. Otherwise it leaves the class's bin at once, so it counts as
  // drained from it too, and goes back to its mosaic; so does a block cut
  // off its natural alignment once the class keeps it (aligned allocation
  // passes such blocks back, allocate_aligned_past).
  const SizeClass c = mosaic_block_class(head, p);
  Bin& b = bins[c];
  const bool over_capacity = b.count_free_over_capacity();
  const bool fits_bin = !classes_[c].mosaic_blocks_aligned || mosaic_block_naturally_aligned(c, p);
  if (fits_bin && !over_capacity) {
    *static_cast<void**>(p) = b.head;
    b.head = p;
    return;
  }
  classes_[c].drained.inc();
  update_free_limit(c);
  return_to_mosaic(head, p);
}

void ThreadHeap::release_mosaic(Slab& head) {
  mosaics_.remove(&head);
  maps_.give(head.mosaic);
  mosaics_released.inc();
  SuperSlab& ss = *SuperSlab::of(&head);
  ss.release_slab(head);
  return_units(ss);
}

void ThreadHeap::flush_all() {
  for (unsigned c = 0; c < kClassCount; ++c) {
    if (bins[c].head != nullptr) flush(static_cast<SizeClass>(c), 0);
  }
  // Other heaps' blocks the bins held go home now, not at a next refill
  // that an idle heap may never make.
  if (remote_pending_) flush_remote_batches();
}

std::size_t ThreadHeap::purge_class_free_pages(SizeClass c) {
  // Slabs hold blocks of one class for good, so without this the pages of
  // a block freed among live neighbours stay resident until its whole slab
  // empties: programs that free most of a phase's blocks at random keep
  // most of that phase's memory.
  std::size_t purged = 0;
  for (Slab* s = classes_[c].partial.front(); s != nullptr; s = SlabList::next(s)) purged += park_free_pages(*SuperSlab::of(s), *s);
  return purged;
}

namespace {

// Whether an idle class's slab is worth a purge scan. For blocks of a page
// or less, a page is free only when each of the k blocks on it is, which
// for a slab with a share u of its blocks in use is about (1 - u)^k, or
// e^(-uk), of its pages: scanning where that is under about 1/8 (uk > 2)
// walks the free list for next to nothing (a page of 64-byte blocks with
// one in ten still live is almost never free). A bigger free block always
// has pages of its own, so half the blocks free is enough.
bool worth_purging(const Slab& s) {
  if (s.carved == 0 || s.used == s.carved) return false;
  const std::size_t bs = block_size(s.size_class);
  if (bs > kOsPageBytes) return 2 * std::uint64_t{s.used} <= s.carved;
  const std::uint64_t blocks_per_page = kOsPageBytes / bs + 1;  // one more straddles a page edge
  return s.used * blocks_per_page <= 2 * std::uint64_t{s.carved};
}

}  // namespace

bool ThreadHeap::purge_idle_class(SizeClass c) {
  ClassState& cs = classes_[c];
  std::uint64_t budget = kIdlePurgeBlocksPerLook;
  Slab* s = cs.idle_purge_next != nullptr ? cs.idle_purge_next : cs.partial.front();
  cs.idle_purge_next = nullptr;
  while (s != nullptr) {
    if (budget == 0) {
      cs.idle_purge_next = s;
      return false;
    }
    budget -= budget < s->carved ? budget : s->carved;
    Slab* next = SlabList::next(s);
    // The empty slab a class keeps for its next turn: an idle class has no
    // turn coming.
    if (s->used == 0) {
      release_slab(*s);
    } else {
      if (worth_purging(*s)) park_free_pages(*SuperSlab::of(s), *s);
      // Ready to become a mosaic when another class needs room.
      if (mosaic_candidate(*s) && s != cs.partial.front()) {
        cs.partial.remove(s);
        cs.partial.push_front(s);
      }
    }
    s = next;
  }
  return true;
}

std::size_t ThreadHeap::release_free_memory(bool purge) {
  // Empty slabs kept as each class's last one go now.
  for (unsigned c = 0; c < kClassCount; ++c) {
    ClassState& cs = classes_[c];
    for (Slab* s = cs.partial.front(); s != nullptr;) {
      Slab* next = SlabList::next(s);
      if (s->used == 0) release_slab(*s);
      s = next;
    }
  }
  // The free units go at once: in a heap that is being collected or
  // trimmed, no purge look is coming.
  std::size_t purged = purge_dirty_free_units();
  if (!purge) return purged;
  for (Slab* m = mosaics_.front(); m != nullptr; m = SlabList::next(m)) purged += mosaic_purge_free_pages(*SuperSlab::of(m), *m);
  purged += maps_.purge_free_pages();
  for (unsigned c = 0; c < kClassCount; ++c) purged += purge_class_free_pages(static_cast<SizeClass>(c));
  return purged;
}

std::size_t ThreadHeap::purge_dirty_free_units() {
  std::size_t queued = 0;
  os::PurgeBatch batch;
  room_.for_each([&](SuperSlab* ss) { queued += purge_free_units(*ss, ss->dirty_unit_mask(), batch); });
  batch.submit();
  return queued;
}

std::size_t ThreadHeap::purge_free_units(SuperSlab& ss, std::uint32_t mask, os::PurgeBatch& batch) {
  // Purging pieces of a hugetlb page is not possible; its pages stay.
  if (ss.backing() == os::Backing::kHugetlb) return 0;
  std::size_t purged = 0;
  while (mask != 0) {
    // Each run of consecutive units is one range.
    const unsigned first = static_cast<unsigned>(__builtin_ctz(mask));
    unsigned end = first;
    while (end < kUnitsPerSuperSlab && ((mask >> end) & 1u) != 0) ++end;
    char* from = ss.purgeable_begin(first);
    char* to = ss.purgeable_end(end - 1);
    if (batch.full()) batch.submit();
    batch.add(from, static_cast<std::size_t>(to - from));
    purged += static_cast<std::size_t>(to - from);
    const std::uint32_t run = (end - first >= 32 ? 0xffffffffu : ((1u << (end - first)) - 1)) << first;
    ss.mark_units_purged(run);
    mask &= ~run;
  }
  return purged;
}

bool ThreadHeap::check_invariants() const {
  for (unsigned c = 0; c < kClassCount; ++c) {
    const ClassState& cs = classes_[c];
    for (int pass = 0; pass < 2; ++pass) {
      const SlabList& list = pass == 0 ? cs.partial : cs.full;
      for (const Slab* s = list.front(); s != nullptr; s = SlabList::next(s)) {
        if (s->owner != this || s->state != Slab::State::kHead || s->size_class != c) return false;
        if (s->used + s->parked > s->carved || s->carved > s->capacity) return false;
        if (s->parked != count_blocks_on_purged_pages(*SuperSlab::of(s), *s)) return false;
        std::uint32_t free_blocks = 0;
        for (void* p = s->free_list; p != nullptr; p = *static_cast<void**>(p)) {
          if (&SuperSlab::head_slab(p) != s) return false;
          if (block_is_parked(p)) return false;
          if (++free_blocks > s->capacity) return false;
        }
        if (free_blocks != s->listed_free()) return false;
        if (s->on_full_list != (pass == 1) || s->on_full_list == s->has_free_block()) return false;
      }
    }
    std::uint64_t cached = 0;
    for (void* p = bins[c].head; p != nullptr; p = *static_cast<void**>(p)) {
      const Slab& unit = SuperSlab::unit_slab(p);
      // Another heap's block (FOREIGN BLOCKS): of this class, on this node.
      if (unit.owner != this) {
        if (unit.size_class != c || SuperSlab::of(p)->node() != node_) return false;
        ++cached;
        continue;
      }
      if (unit.size_class == kMosaicClass ? !mosaic_block_live(unit, p) || mosaic_block_class(unit, p) != c
                                          : unit.size_class != c) {
        return false;
      }
      ++cached;
    }
    if (cached != cached_blocks(static_cast<SizeClass>(c))) return false;
  }
  if (bins[kMosaicClass].head != nullptr) return false;
  for (const Slab* m = mosaics_.front(); m != nullptr; m = SlabList::next(m)) {
    if (m->owner != this || m->state != Slab::State::kHead || !mosaic_check(*SuperSlab::of(m), *m)) return false;
  }
  return true;
}

}  // namespace hakmem::tiers
