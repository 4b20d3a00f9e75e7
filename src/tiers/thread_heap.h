// ThreadHeap: one thread's allocator state. Its bins are the thread cache
// (free blocks per size class, popped and pushed by the fast path); behind
// them, the slabs and SuperSlabs the heap owns; beside them, the inbox where
// other threads return the heap's blocks.
//
// Layer: tiers.
//
// OWNERSHIP AND SYNCHRONISATION
//   - Everything except `inbox_` is written only by the heap's owner: the
//     thread it is attached to, or, while the heap is idle (its thread has
//     exited), whoever holds the heap-registry lock.
//   - Bin::allocs / Bin::frees are FastCounters and the ClassState counters
//     LocalCounters: written by the owner, read (relaxed) by stats summation.
//   - inbox_ is a lock-free stack: any thread pushes (release, in
//     push_remote); the owner takes the whole stack (acquire, in
//     drain_inbox). A heap is never freed, only recycled, so a push can never
//     reach freed memory.
//
// CAPACITY (thread-cache adaptation, no fixed cap): each class starts with a
// small capacity; every refill (the bin ran dry: the class is hot) doubles
// it, up to a byte budget per class and while the capacities of its budget
// group's classes together stay within the group's budget per heap; every kGcEvents slow-path events,
// a class neither allocated from nor refilled since the last look (idle) is
// flushed entirely and its capacity halved, which makes room in the heap's
// budget for the classes in use. A bin over its capacity flushes its oldest
// half back to the slabs.
//
// IDLE CLASSES GIVE PAGES BACK: looks that come at least half the purge
// delay (HAKMEM_PURGE_DELAY_MS) after the previous such look are purge
// looks. A tiny or mid class unused (neither allocated from, refilled nor
// freed into) across kQuietPurgeLooks purge looks, so for at least the
// purge delay, purges the pages of its slabs that hold only free blocks,
// once per idle spell. A program that frees most of a phase's blocks and
// moves on to other sizes thus returns that memory while it runs, not only
// at malloc_trim; a class that goes idle and comes back within the delay
// keeps its pages, so a program whose size mix keeps shifting makes no
// madvise call and takes no page fault for it. A purge look scans at most
// kIdlePurgeBlocksPerLook blocks' worth of slabs and resumes at the next.
//
// FOREIGN BLOCKS: a thread that frees another heap's block of a slab class
// keeps it in its own bin when the block's memory is on its node: the block
// is in this core's cache now (the program just used it), and the thread's
// next allocation of the class reuses it there, where sending it home costs
// its owner a cache miss to take it back. The owner's slab still counts it
// in use. A flush sends foreign blocks home in batches, as any remote free
// (return_run), so a bin never holds more than its capacity of them, and
// a heap that goes idle or is trimmed gives them back with its own. Blocks
// of mosaics, and of other nodes, always go home.
//
// MOSAICS (mosaic.h): the one-unit slabs of an idle class with at most a
// quarter of their blocks live go to the front of its partial list at the
// purge; when a tiny or mid class needs a new slab, it first cuts blocks
// from the heap's mosaics, then turns such a slab into a new one. Mosaic
// blocks the program frees land in the bin of kMosaicClass, whose flush
// returns them. A mosaic left alone for kMosaicQuietLooks purge looks
// purges its free pages.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/attributes.h"
#include "base/counter.h"
#include "base/intrusive_list.h"
#include "numa/topology.h"
#include "tiers/huge.h"
#include "tiers/mosaic.h"
#include "tiers/mosaic_map_pool.h"
#include "tiers/room_index.h"
#include "tiers/size_classes.h"
#include "tiers/superslab.h"

namespace hakmem::os {
class PurgeBatch;
}

namespace hakmem::tiers {

// The fast-path half of a size class's thread cache: 32 bytes.
struct Bin {
  void* head = nullptr;   // free blocks, linked through their first word
  FastCounter allocs;     // blocks handed to the program from this bin, ever
  FastCounter frees;      // blocks the program freed into this bin, ever
  // Frees the bin takes before it is over capacity: the slow paths' limit
  // (capacity - (filled - drained)) less the blocks freed into the bin and
  // not taken back (frees - allocs). Both fast paths keep it, so that a
  // free tests one field.
  std::int64_t room = 0;

  HAKMEM_FAST_PATH void count_alloc() {
    allocs.inc();
    ++room;
  }
  // Counts a free into the bin; true when the bin is then over capacity.
  HAKMEM_FAST_PATH bool count_free_over_capacity() {
    frees.inc();
    return --room < 0;
  }
  void set_free_limit(std::int64_t limit) { room = limit - static_cast<std::int64_t>(frees.get() - allocs.get()); }
};

using SlabList = IntrusiveList<Slab, &Slab::links>;
using SuperSlabList = IntrusiveList<SuperSlab, &SuperSlab::links>;

// The slow-path half of a size class: capacity, slabs, counters.
struct ClassState {
  LocalCounter filled;          // blocks moved into the bin by refills, ever
  LocalCounter drained;         // blocks moved out of the bin by flushes, ever
  std::uint32_t capacity = 0;   // adaptive (see CAPACITY)
  std::uint32_t max_capacity = 0;
  std::uint64_t allocs_at_gc = 0;   // Bin::allocs at the last idle check
  std::uint64_t refills_at_gc = 0;  // refills at the last idle check
  // Bin::allocs + refills + Bin::frees at the last purge look: any use of
  // the class changes the sum.
  std::uint64_t uses_at_purge_look = 0;
  // Purge looks in a row that found the class unused (saturates).
  std::uint8_t quiet_purge_looks = 0;
  SlabList partial;             // slabs with a free block; refills take the front
  SlabList full;                // slabs without one
  LocalCounter remote_frees;    // blocks of this class this thread sent to other heaps
  LocalCounter foreign_kept;    // other heaps' blocks this thread freed into its own bin
  LocalCounter refills;
  LocalCounter flushes;
  LocalCounter slabs_carved;
  LocalCounter slabs_released;
  // The class's free pages were purged at its current idle spell (see
  // purge_idle_classes); cleared when the class is used again.
  bool idle_pages_purged = false;
  // The last look found the class idle (neither allocated from nor
  // refilled since the look before).
  bool idle_at_last_look = false;
  // Where an idle purge cut short by its budget resumes at the next purge
  // look (a slab on the partial list); null: at the front.
  Slab* idle_purge_next = nullptr;
  // An aligned allocation met a block of this class that a mosaic cut off
  // its natural alignment: mosaics cut the class at it from then on.
  bool mosaic_blocks_aligned = false;
};

class ThreadHeap {
 public:
  // kShared: the heap of exiting threads (heap_registry.h), used under a lock.
  enum class State : std::uint8_t { kUnattached, kActive, kIdle, kDead, kShared };

  // A bin holds at most this many bytes of free blocks, and at most
  // kBinMaxBlocks blocks: enough for a program cycling through a thousand
  // blocks of one class (up to 2 KiB each) to stay in the thread cache,
  // without letting a class of tiny blocks hoard tens of thousands.
  static constexpr std::size_t kBinBudgetBytes = 2 * 1024 * 1024;
  static constexpr std::uint32_t kBinMaxBlocks = 1024;
  // Bytes of capacity (capacity x block size, summed over classes) a heap
  // may add to its initial capacities, per budget group: bounds what one
  // thread keeps cached, whatever the mix. The tiny classes (up to 1 KiB)
  // and the bigger ones draw on separate budgets: a byte budget that lets a
  // mid class cache a useful count of 16-32 KiB blocks would let tiny
  // classes hoard thousands of blocks each (more RSS for no gain), and one
  // sized for tiny blocks leaves mid classes a few blocks each, so that a
  // program cycling through a thousand mid blocks refills and flushes all
  // the time and gets back cold blocks (random mid: 10% slower).
  enum BudgetGroup : std::uint8_t { kTinyBudget, kBigBudget, kBudgetGroups };
  static constexpr std::size_t kHeapBudgetBytes[kBudgetGroups] = {2 * 1024 * 1024, 8 * 1024 * 1024};
  static BudgetGroup budget_group(SizeClass c) { return tier_of(c) == Tier::kTiny ? kTinyBudget : kBigBudget; }
  // A class starts with this many blocks of capacity, or with as many as
  // fill kInitialCapacityBytes where that is fewer (at least one): a refill
  // links every block it takes into the bin, which writes one word in each,
  // so a short program's first 4 KiB malloc would otherwise fault in
  // sixteen pages for one block. A hot class doubles its capacity at each
  // refill, so it reaches its working size in a few refills either way.
  static constexpr std::uint32_t kInitialCapacity = 16;
  static constexpr std::size_t kInitialCapacityBytes = 4096;
  static constexpr std::uint32_t kGcEvents = 256;
  // Purge looks a class must stay unused across before its pages go: with
  // purge looks at least half the delay apart, it was idle for the delay.
  static constexpr std::uint8_t kQuietPurgeLooks = 2;
  // Blocks of slabs an idle look may scan: bounds the pause a look adds to
  // the slow path it runs on (a heap of many sparse slabs is done over
  // several looks).
  static constexpr std::uint64_t kIdlePurgeBlocksPerLook = 64 * 1024;

  constexpr ThreadHeap() = default;
  ThreadHeap(const ThreadHeap&) = delete;
  ThreadHeap& operator=(const ThreadHeap&) = delete;

  void init(numa::NodeId node);

  // The thread cache; the fast path reads and writes it directly. The last
  // bin, kMosaicClass's, is always over capacity (see MOSAICS).
  Bin bins[kBinCount];
  // By bin: the multiplier that tests a block's start (size_classes.h). A
  // copy in the heap, so that the free fast path finds it beside the bins.
  std::array<std::uint64_t, kBinCount> block_start_multipliers = kBlockStartMultiplier;
  // Huge blocks this heap's thread resized lately (realloc's lock-free case).
  HugeHints huge_hints;

  // --- owner-only slow paths ------------------------------------------------
  // Fills the bin of class c; returns false when no memory could be had.
  HAKMEM_SLOW_PATH bool refill(SizeClass c);
  // The bin of class c went over capacity: give its oldest half back (for
  // kMosaicClass: every block in it, to its mosaic).
  HAKMEM_SLOW_PATH void flush_overflow(SizeClass c);
  // Returns every block of every bin to its slab.
  void flush_all();
  std::uint64_t flush_epoch_answered() const { return flush_epoch_answered_.load(std::memory_order_relaxed); }
  // An aligned allocation of class c met a block off its natural alignment
  // (mosaic.h): mosaics cut the class at that alignment from now on.
  void keep_mosaic_alignment(SizeClass c) { classes_[c].mosaic_blocks_aligned = true; }
  // Returns blocks other threads freed to their slabs.
  void drain_inbox();
  // Releases empty slabs and SuperSlabs and purges the pages of the free
  // units in SuperSlabs the heap keeps; with `purge`, also the pages of its
  // slabs and mosaics that hold only free blocks. Returns bytes purged.
  std::size_t release_free_memory(bool purge);
  // The pages of class c's partial slabs that hold only free blocks, those
  // blocks parked (slab_pages.h). Returns bytes purged.
  std::size_t purge_class_free_pages(SizeClass c);
  // Blocks currently in the bin of class c.
  std::uint64_t cached_blocks(SizeClass c) const;
  // Walks every slab and checks the invariants in superslab.h; false on the
  // first violation. For tests and expensive debug checks.
  bool check_invariants() const;

  // Frees `block`, a block of `owner` (another heap), of class c. A block
  // on this heap's node stays in this thread's bin, to serve its next
  // allocations (see FOREIGN BLOCKS); others join this heap's outgoing
  // batch for their owner, which is handed over whole (one CAS for
  // kRemoteBatchBlocks blocks) when full, or at this heap's next refill,
  // trim or exit.
  void free_remote(ThreadHeap* owner, void* block, SizeClass c);
  // Hands every outgoing batch to its owner.
  void flush_remote_batches();

  // --- any thread -------------------------------------------------------------
  // Returns the chain first..last (linked through their first words; blocks
  // of this heap's slabs) to this heap.
  void push_remote(void* first, void* last) {
    void* old = inbox_.load(std::memory_order_relaxed);
    do {
      *static_cast<void**>(last) = old;
    } while (!inbox_.compare_exchange_weak(old, first, std::memory_order_release, std::memory_order_relaxed));
  }
  bool inbox_empty() const { return inbox_.load(std::memory_order_relaxed) == nullptr; }

  // A hot class's next capacity: doubled, but no more than its maximum and
  // no more than `room_bytes` of blocks added.
  static std::uint32_t grown_capacity(std::uint32_t capacity, std::uint32_t max_capacity,
                                      std::size_t block_bytes, std::size_t room_bytes);
  // Sum over a budget group's classes of capacity x block size, and what it
  // may grow to.
  std::size_t capacity_bytes(BudgetGroup g) const { return capacity_bytes_[g]; }
  std::size_t capacity_limit_bytes(BudgetGroup g) const { return initial_capacity_bytes_[g] + kHeapBudgetBytes[g]; }
  ClassState& class_state(SizeClass c) { return classes_[c]; }
  const ClassState& class_state(SizeClass c) const { return classes_[c]; }
  numa::NodeId node() const { return node_; }
  State state() const { return state_; }
  void set_state(State s) { state_ = s; }
  // Idle and already stripped of its free memory (heap registry only).
  bool collected() const { return collected_; }
  void set_collected(bool v) { collected_ = v; }

  // Remote frees this heap made, by the node of the heap that owned the
  // block: blocks and bytes (node_count() entries each; null if the metadata
  // arena had no room, and then not counted).
  const LocalCounter* remote_frees_to_node() const { return remote_to_node_; }
  const LocalCounter* remote_bytes_to_node() const { return remote_bytes_to_node_; }

  // Counters of the heap as a whole.
  LocalCounter remote_received;     // blocks other threads returned through the inbox
  LocalCounter superslabs_acquired;
  LocalCounter superslabs_returned;
  LocalCounter mosaics_made;
  LocalCounter mosaics_released;
  LocalCounter dirty_units_purged;  // free units purged once unused for the purge delay
  std::size_t mosaic_count() const { return mosaics_.size(); }

  ListLinks<ThreadHeap> registry_links;  // all heaps (registry lock)
  ListLinks<ThreadHeap> idle_links;      // idle heaps (registry lock)

 private:
  void take_blocks(SizeClass c, std::uint32_t want);
  void flush(SizeClass c, std::uint32_t keep);
  // Returns the chain first..last of `count` blocks of one slab unit,
  // linked through their first words, to their slab (another heap's: to
  // their owner; a mosaic's: to it).
  void return_run(void* first, void* last, std::uint32_t count);
  Slab* new_slab(SizeClass c);
  void release_slab(Slab& head);
  // After a slab or mosaic of ss was released into its free set: a wholly
  // free SuperSlab goes back to its node pool, others stay in the room index.
  void return_units(SuperSlab& ss);
  // At a purge look: free units left unused across kQuietPurgeLooks purge
  // looks are purged (SuperSlab::take_units_free_across_looks). A heap
  // keeps the rest with their pages: a program that drops a large
  // structure and builds the next at once reuses them without a fault.
  void purge_long_free_units();
  // Blocks of class c cut from mosaics, old ones first, then new ones made
  // from idle classes' sparse slabs; at most `want`, pushed on the bin.
  std::uint32_t carve_from_mosaics(SizeClass c, std::uint32_t want);
  // One turn over the mosaics at the front of mosaics_ (kMosaicsPerRefill).
  std::uint32_t carve_from_known_mosaics(SizeClass c, std::uint32_t want, MosaicCut cut, void** list);
  // A sparse slab made a mosaic (at the front of mosaics_), or null when
  // there is none or no page for its map.
  Slab* make_new_mosaic();
  // A slab of class c that may become a mosaic now, or null: a sparse one
  // near the front of the partial list of an idle class, or near the back
  // of that of a quiet one (kQuietClassShare).
  Slab* mosaic_candidate_of(SizeClass c);
  // Neither allocated from nor refilled since the last look.
  bool idle_since_last_look(SizeClass c) const;
  void return_to_mosaic(Slab& head, void* block);
  // At a purge look: the free pages of mosaics quiet for kMosaicQuietLooks
  // purge looks are purged.
  void purge_quiet_mosaics();
  // Whether this look is a purge look (see IDLE CLASSES GIVE PAGES BACK);
  // reads the clock.
  bool purge_look_due();
  // At a purge look: classes unused for kQuietPurgeLooks purge looks give
  // their free pages back.
  void purge_idle_classes();
  // The block in kMosaicClass's bin (a free puts one there and flushes it)
  // to free_mosaic_block.
  void flush_mosaic_bin();
  // A freed mosaic block into its class's bin, or back to its mosaic when
  // that bin is full.
  void free_mosaic_block(void* p);
  void release_mosaic(Slab& head);
  void update_free_limit(SizeClass c);
  void note_slow_event();
  HAKMEM_SLOW_PATH void answer_flush_epoch(std::uint64_t epoch);
  void collect_idle_bins();
  // Purges an idle class's mostly free slabs, within a budget of blocks a
  // look; true once its whole partial list is done.
  bool purge_idle_class(SizeClass c);
  // Adds the units of `mask` (free ones of ss) to `batch`, a range per run,
  // submitting it whenever it fills; the caller submits the rest before the
  // units can be used again. Returns the bytes added.
  static std::size_t purge_free_units(SuperSlab& ss, std::uint32_t mask, os::PurgeBatch& batch);
  // Purges every free unit of the heap's SuperSlabs that still holds pages
  // (all but hugetlb ones). Returns bytes purged.
  std::size_t purge_dirty_free_units();
  void set_capacity(SizeClass c, std::uint32_t capacity);

  // Remote frees waiting to be handed over, by owner. A direct-mapped cache,
  // not a registry: a batch whose slot another owner needs is handed over
  // at once, so the slot count bounds only how long blocks wait, never how
  // many owners there can be.
  struct RemoteBatch {
    ThreadHeap* owner = nullptr;
    void* first = nullptr;
    void* last = nullptr;
    std::uint32_t blocks = 0;
  };
  static constexpr unsigned kRemoteBatchSlots = 8;
  // Mosaics a refill looks at before it makes a new one: a bound on its
  // time, not on how many mosaics a heap may have.
  static constexpr unsigned kMosaicsPerRefill = 16;
  // Slabs of a class looked at for one sparse enough to become a mosaic
  // (bounds the walk of a long partial list).
  static constexpr unsigned kSlabsLookedAt = 8;
  // A class in use with more partial slabs than this, which allocated
  // fewer blocks since the last look than 1/kQuietClassShare of the blocks
  // they hold, may give the sparse ones at the back of its list.
  static constexpr std::size_t kSlabsKeptInUse = 8;
  static constexpr std::uint64_t kQuietClassShare = 64;
  static constexpr std::uint32_t kRemoteBatchBlocks = 64;
  void hand_over(RemoteBatch& batch);
  // Puts `block` of `owner` in the outgoing batch for that owner.
  void send_home(ThreadHeap* owner, void* block);

  ClassState classes_[kClassCount];
  RemoteBatch remote_batches_[kRemoteBatchSlots];
  RoomIndex room_;  // owned SuperSlabs with at least one free unit
  SlabList mosaics_;  // every mosaic of the heap; refills look from the front
  MosaicMapPool maps_;  // the maps of mosaics_
  std::atomic<void*> inbox_{nullptr};
  numa::NodeId node_;
  State state_ = State::kUnattached;
  bool collected_ = false;
  bool remote_pending_ = false;  // some remote batch may hold blocks
  std::uint32_t slow_events_ = 0;
  // The last g_flush_epoch this heap answered (slow_path_hook.h). Written by
  // the owner, read by the control service's publication.
  std::atomic<std::uint64_t> flush_epoch_answered_{0};
  std::uint64_t last_purge_look_ms_ = 0;  // os::monotonic_ms() at the last purge look
  // Per budget group: sum over its classes of capacity x block size.
  std::size_t capacity_bytes_[kBudgetGroups] = {};
  std::size_t initial_capacity_bytes_[kBudgetGroups] = {};  // 0 until init() sets the capacities
  LocalCounter* remote_to_node_ = nullptr;
  LocalCounter* remote_bytes_to_node_ = nullptr;
};

}  // namespace hakmem::tiers
