// The block's layout and the publication of the figures (publish.h).
// Layer: control. No allocation: the snapshot is on the stack, the block is
// written in place.
#include "control/publish.h"

#include <unistd.h>

#include <atomic>
#include <cstring>

#include "base/build_config.h"
#include "base/constants.h"
#include "base/futex_lock.h"
#include "control/block.h"
#include "control/knobs.h"
#include "control/rss.h"
#include "numa/topology.h"
#include "os/pages.h"
#include "os/purge_batch.h"
#include "os/small_file.h"
#include "control/service.h"
#include "tiers/heap_registry.h"
#include "tiers/node_pool.h"
#include "tiers/stats.h"

namespace hakmem::control {

namespace L = layout;

namespace {

// --- the schema -----------------------------------------------------------------
// One FieldDesc per numeric field; every element field is a u64.
#define HKM_FIELD(section_id, type, member, unit, kind) \
  {#member, static_cast<std::uint32_t>(offsetof(type, member)), 8, section_id, L::FieldType::kU64, L::FieldUnit::unit, L::FieldKind::kind}

struct FieldSpec {
  const char* name;
  std::uint32_t offset;
  std::uint32_t size;
  std::uint16_t section;
  L::FieldType type;
  L::FieldUnit unit;
  L::FieldKind kind;
};

constexpr FieldSpec kFields[] = {
    HKM_FIELD(L::kSummary, L::Summary, bytes_in_use, kBytes, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, bytes_thread_cached, kBytes, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, bytes_free_in_slabs, kBytes, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, bytes_free_in_pools, kBytes, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, bytes_free_huge, kBytes, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, bytes_metadata, kBytes, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, bytes_resident_estimate, kBytes, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, bytes_purged, kBytes, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, bytes_mapped, kBytes, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, rss_bytes, kBytes, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, peak_bytes_in_use, kBytes, kPeak),
    HKM_FIELD(L::kSummary, L::Summary, peak_rss_bytes, kBytes, kPeak),
    HKM_FIELD(L::kSummary, L::Summary, allocations, kBlocks, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, frees, kBlocks, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, remote_frees, kBlocks, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, heaps_active, kNone, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, heaps_idle, kNone, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, threads_listed, kNone, kGauge),
    HKM_FIELD(L::kSummary, L::Summary, os_mmap_calls, kCalls, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, os_munmap_calls, kCalls, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, os_madvise_calls, kCalls, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, uring_madvise_ranges, kCalls, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, uring_submit_calls, kCalls, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, purged_bytes_ever, kBytes, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, thp_collapses, kCalls, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, thp_collapse_failures, kCalls, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, service_wakeups, kCalls, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, service_timed_purges, kCalls, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, commands_served, kCalls, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, commands_refused, kCalls, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, flush_epoch, kNone, kCounter),
    HKM_FIELD(L::kSummary, L::Summary, flush_epoch_answered, kNone, kCounter),
    HKM_FIELD(L::kNodes, L::NodeFigures, node, kId, kConstant),
    HKM_FIELD(L::kNodes, L::NodeFigures, bytes_mapped, kBytes, kGauge),
    HKM_FIELD(L::kNodes, L::NodeFigures, bytes_in_use, kBytes, kGauge),
    HKM_FIELD(L::kNodes, L::NodeFigures, bytes_cached, kBytes, kGauge),
    HKM_FIELD(L::kNodes, L::NodeFigures, bytes_free_in_pools, kBytes, kGauge),
    HKM_FIELD(L::kNodes, L::NodeFigures, remote_frees_in, kBlocks, kCounter),
    HKM_FIELD(L::kTiers, L::TierFigures, tier, kId, kConstant),
    HKM_FIELD(L::kTiers, L::TierFigures, allocations, kBlocks, kCounter),
    HKM_FIELD(L::kTiers, L::TierFigures, frees, kBlocks, kCounter),
    HKM_FIELD(L::kTiers, L::TierFigures, remote_frees, kBlocks, kCounter),
    HKM_FIELD(L::kTiers, L::TierFigures, live_blocks, kBlocks, kGauge),
    HKM_FIELD(L::kTiers, L::TierFigures, bytes_in_use, kBytes, kGauge),
    HKM_FIELD(L::kTiers, L::TierFigures, bytes_cached, kBytes, kGauge),
    HKM_FIELD(L::kClasses, L::ClassFigures, block_bytes, kBytes, kConstant),
    HKM_FIELD(L::kClasses, L::ClassFigures, allocations, kBlocks, kCounter),
    HKM_FIELD(L::kClasses, L::ClassFigures, frees, kBlocks, kCounter),
    HKM_FIELD(L::kClasses, L::ClassFigures, remote_frees, kBlocks, kCounter),
    HKM_FIELD(L::kClasses, L::ClassFigures, cached_blocks, kBlocks, kGauge),
    HKM_FIELD(L::kClasses, L::ClassFigures, refills, kCalls, kCounter),
    HKM_FIELD(L::kClasses, L::ClassFigures, flushes, kCalls, kCounter),
    HKM_FIELD(L::kClasses, L::ClassFigures, slabs_carved, kNone, kCounter),
    HKM_FIELD(L::kClasses, L::ClassFigures, slabs_released, kNone, kCounter),
    HKM_FIELD(L::kThreads, L::ThreadFigures, tid, kId, kConstant),
    HKM_FIELD(L::kThreads, L::ThreadFigures, node, kId, kGauge),
    HKM_FIELD(L::kThreads, L::ThreadFigures, state, kNone, kGauge),
    HKM_FIELD(L::kThreads, L::ThreadFigures, allocations, kBlocks, kCounter),
    HKM_FIELD(L::kThreads, L::ThreadFigures, frees, kBlocks, kCounter),
    HKM_FIELD(L::kThreads, L::ThreadFigures, bytes_cached, kBytes, kGauge),
    HKM_FIELD(L::kThreads, L::ThreadFigures, flush_epoch_answered, kNone, kGauge),
};
#undef HKM_FIELD
constexpr std::uint32_t kFieldCount = sizeof(kFields) / sizeof(kFields[0]);

// Every field the schema names, materialised once into the block's form.
constinit L::FieldDesc g_schema[kFieldCount] = {};
constinit bool g_schema_built = false;

void build_schema() {
  if (g_schema_built) return;
  for (std::uint32_t i = 0; i < kFieldCount; ++i) {
    L::FieldDesc& d = g_schema[i];
    std::strncpy(d.name, kFields[i].name, sizeof(d.name) - 1);
    d.offset = kFields[i].offset;
    d.size = kFields[i].size;
    d.section = kFields[i].section;
    d.type = kFields[i].type;
    d.unit = kFields[i].unit;
    d.kind = kFields[i].kind;
  }
  g_schema_built = true;
}

// --- the layout -----------------------------------------------------------------
struct SectionPlan {
  L::SectionId id;
  std::uint32_t element_size;
  std::uint32_t capacity;
};

constexpr std::uint32_t kSectionCount = 8;

void plan_sections(SectionPlan* out) {
  const std::uint32_t nodes = numa::node_count();
  out[0] = {L::kFieldSchema, sizeof(L::FieldDesc), kFieldCount};
  out[1] = {L::kSummary, sizeof(L::Summary), 1};
  out[2] = {L::kNodes, sizeof(L::NodeFigures), nodes};
  out[3] = {L::kTiers, sizeof(L::TierFigures), tiers::kTierCount};
  out[4] = {L::kClasses, sizeof(L::ClassFigures), tiers::kClassCount};
  out[5] = {L::kThreads, sizeof(L::ThreadFigures), kThreadSlots};
  out[6] = {L::kKnobs, sizeof(L::Knob), knob_count()};
  out[7] = {L::kMailbox, sizeof(L::Mailbox), 1};
}

constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }

// Returns the bytes the file needs; fills the directory entries if given.
std::uint64_t lay_out(L::SectionEntry* entries) {
  SectionPlan plan[kSectionCount];
  plan_sections(plan);
  std::uint64_t at = L::kHeaderBytes + kSectionCount * sizeof(L::SectionEntry);
  for (std::uint32_t i = 0; i < kSectionCount; ++i) {
    // The mailbox starts on a page of its own: commanders write only there.
    at = align_up(at, plan[i].id == L::kMailbox ? kOsPageBytes : 64);
    if (entries != nullptr) {
      entries[i] = L::SectionEntry{plan[i].id, 1, at, plan[i].element_size, 0, plan[i].capacity, 0};
    }
    at += std::uint64_t{plan[i].element_size} * plan[i].capacity;
  }
  return align_up(at, kOsPageBytes);
}

L::Header* header_of(void* base) { return static_cast<L::Header*>(base); }

std::uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// field 22 of /proc/self/stat, after the command's closing parenthesis.
std::uint64_t start_time_ticks() {
  char buf[1024];
  if (os::read_small_file("/proc/self/stat", buf, sizeof(buf)) <= 0) return 0;
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  int field = 2;
  for (++p; *p != '\0' && field < 22; ++p) {
    if (*p == ' ') ++field;
  }
  std::uint64_t v = 0;
  for (; *p >= '0' && *p <= '9'; ++p) v = v * 10 + static_cast<std::uint64_t>(*p - '0');
  return v;
}

void flag_set(void* base, std::uint32_t bit, bool on) {
  auto* flags = reinterpret_cast<std::atomic<std::uint32_t>*>(&header_of(base)->state_flags);
  if (on) {
    flags->fetch_or(bit, std::memory_order_relaxed);
  } else {
    flags->fetch_and(~bit, std::memory_order_relaxed);
  }
}

// One publisher at a time: the seqlock has a single writer.
constinit FutexLock g_publish_lock{LockRank::kControlPublish};
constinit std::uint64_t g_peak_in_use = 0;
constinit std::uint64_t g_peak_rss = 0;

}  // namespace

std::size_t block_bytes_needed() { return static_cast<std::size_t>(lay_out(nullptr)); }

const L::FieldDesc* field_schema(std::uint32_t* count) {
  build_schema();
  *count = kFieldCount;
  return g_schema;
}

void* section_address(void* base, L::SectionId id) {
  if (base == nullptr) return nullptr;
  L::Header* h = header_of(base);
  auto* entries = reinterpret_cast<L::SectionEntry*>(static_cast<char*>(base) + h->directory_offset);
  for (std::uint32_t i = 0; i < h->section_count; ++i) {
    if (entries[i].id == id) return static_cast<char*>(base) + entries[i].offset;
  }
  return nullptr;
}

void format_block(void* base, std::size_t bytes, bool group_readable) {
  build_schema();
  L::Header* h = header_of(base);
  std::memcpy(h->magic, L::kMagic, sizeof(h->magic));
  h->abi_major = L::kAbiMajor;
  h->abi_minor = L::kAbiMinor;
  h->header_bytes = L::kHeaderBytes;
  h->total_bytes = bytes;
  h->directory_offset = L::kHeaderBytes;
  h->section_count = kSectionCount;
  h->pid = static_cast<std::int32_t>(getpid());
  h->uid = static_cast<std::uint32_t>(geteuid());
  h->start_time_ticks = start_time_ticks();
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  h->created_realtime_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
  h->state_flags = group_readable ? L::kStateGroupReadable : 0;
  h->node_count = numa::node_count();
  char comm[L::kCommandBytes] = {};
  const long n = os::read_small_file("/proc/self/comm", comm, sizeof(comm));
  for (long i = 0; i < n; ++i) {
    if (comm[i] == '\n') comm[i] = '\0';
  }
  std::memcpy(h->command, comm, sizeof(h->command) - 1);
  std::strncpy(h->library_version, kVersion, sizeof(h->library_version) - 1);

  auto* entries = reinterpret_cast<L::SectionEntry*>(static_cast<char*>(base) + h->directory_offset);
  lay_out(entries);
  for (std::uint32_t i = 0; i < kSectionCount; ++i) {
    // Constant sections hold all their elements from the start.
    if (entries[i].id == L::kFieldSchema || entries[i].id == L::kKnobs || entries[i].id == L::kMailbox ||
        entries[i].id == L::kSummary) {
      entries[i].element_count = entries[i].capacity;
    }
  }
  std::memcpy(section_address(base, L::kFieldSchema), g_schema, sizeof(g_schema));
}

void mark_exiting() {
  if (void* b = block_base()) flag_set(b, L::kStateExiting, true);
}

void mark_service_running(bool running) {
  if (void* b = block_base()) flag_set(b, L::kStateServiceRunning, running);
}

void reset_peaks() {
  g_publish_lock.lock();
  g_peak_in_use = 0;
  g_peak_rss = 0;
  g_publish_lock.unlock();
}

namespace {

// The heaps with the most bytes cached, kept as a small min-replace array.
struct TopHeaps {
  L::ThreadFigures slots[kThreadSlots];
  std::uint32_t count = 0;
  void offer(const L::ThreadFigures& t) {
    if (count < kThreadSlots) {
      slots[count++] = t;
      return;
    }
    std::uint32_t smallest = 0;
    for (std::uint32_t i = 1; i < count; ++i) {
      if (slots[i].bytes_cached < slots[smallest].bytes_cached) smallest = i;
    }
    if (t.bytes_cached > slots[smallest].bytes_cached) slots[smallest] = t;
  }
};

}  // namespace

static void fill_summary(const tiers::Snapshot& s, L::Summary* out) {
  L::Summary& m = *out;
  m = L::Summary{};
  std::uint64_t small_in_use = 0;
  std::uint64_t small_cached = 0;
  for (unsigned t = 0; t < tiers::kTierCount; ++t) {
    m.allocations += s.tiers[t].allocations;
    m.frees += s.tiers[t].frees;
    m.remote_frees += s.tiers[t].remote_frees;
    m.bytes_in_use += s.tiers[t].bytes_in_use;
    if (t != static_cast<unsigned>(tiers::Tier::kHuge)) {
      small_in_use += s.tiers[t].bytes_in_use;
      small_cached += s.tiers[t].bytes_cached;
    }
  }
  std::uint64_t dirty = 0;
  std::uint64_t clean = 0;
  for (std::uint32_t i = 0; i < tiers::node_pool_count(); ++i) {
    const tiers::NodePool::Stats p = tiers::node_pool(numa::NodeId{i}).stats();
    dirty += p.superslabs_dirty;
    clean += p.superslabs_clean;
  }
  m.bytes_thread_cached = small_cached;
  // Resident-at-most: SuperSlabs held by heaps less what their blocks hold;
  // pages purged inside such slabs are counted here too.
  const std::uint64_t in_heaps = (s.superslabs_live - s.superslabs_in_pools - s.superslabs_reserved) * kSuperSlabBytes;
  const std::uint64_t used = small_in_use + small_cached;
  m.bytes_free_in_slabs = in_heaps > used ? in_heaps - used : 0;
  m.bytes_free_in_pools = dirty * kSuperSlabBytes;
  // Only the free ranges that may hold pages: a span's untouched or purged
  // part is address space, counted as purged below.
  m.bytes_free_huge = s.huge.dirty_cached_bytes;
  m.bytes_metadata = s.metadata_bytes;
  m.bytes_resident_estimate = m.bytes_in_use + m.bytes_thread_cached + m.bytes_free_in_slabs +
                              m.bytes_free_in_pools + m.bytes_free_huge + m.bytes_metadata;
  const std::uint64_t held = m.bytes_resident_estimate - m.bytes_metadata;
  m.bytes_mapped = s.mapped_bytes;
  m.bytes_purged = s.mapped_bytes > held ? s.mapped_bytes - held : clean * kSuperSlabBytes;
  m.heaps_active = s.heaps_active;
  m.heaps_idle = s.heaps_idle;
  m.os_mmap_calls = s.mmap_calls;
  m.os_munmap_calls = s.munmap_calls;
  m.os_madvise_calls = s.madvise_calls;
  m.purged_bytes_ever = s.purged_bytes;
  m.thp_collapses = s.thp_collapses;
  m.thp_collapse_failures = s.thp_collapse_failures;
  const ServiceCounters c = service_counters();
  const os::PurgeBatchStats b = os::purge_batch_stats();
  m.uring_madvise_ranges = b.uring_ranges;
  m.uring_submit_calls = b.uring_submits;
  m.service_wakeups = c.wakeups;
  m.service_timed_purges = c.timed_purges;
  m.commands_served = c.commands_served;
  m.commands_refused = c.commands_refused;
  m.flush_epoch = c.flush_epoch;
  m.flush_epoch_answered = c.flush_epoch;
}

void gather_summary(L::Summary* out) {
  tiers::Snapshot s;
  tiers::take_snapshot(&s);
  fill_summary(s, out);
  out->rss_bytes = rss_bytes();
}

void publish_figures() {
  void* base = block_base();
  if (base == nullptr) return;
  // Gathered before the seqlock opens: the walk takes the registry lock,
  // and a reader should see the odd count for as short a time as possible.
  tiers::Snapshot s;
  tiers::take_snapshot(&s);
  L::Summary summary;
  fill_summary(s, &summary);
  summary.rss_bytes = rss_bytes();
  TopHeaps top;
  // Idle heaps are flushed by the service itself: only running threads
  // can lag behind an epoch.
  std::uint64_t answered = summary.flush_epoch;
  tiers::for_each_heap([&](const tiers::ThreadHeap& h) {
    if (h.state() != tiers::ThreadHeap::State::kActive && h.state() != tiers::ThreadHeap::State::kIdle) return;
    L::ThreadFigures t{};
    t.node = h.node().value;
    t.state = h.state() == tiers::ThreadHeap::State::kActive ? L::kThreadActive : L::kThreadIdle;
    t.flush_epoch_answered = h.flush_epoch_answered();
    if (t.state == L::kThreadActive && h.flush_epoch_answered() < answered) answered = h.flush_epoch_answered();
    for (unsigned c = 0; c < tiers::kClassCount; ++c) {
      t.allocations += h.bins[c].allocs.read_racy();
      t.frees += h.bins[c].frees.read_racy();
      t.bytes_cached += h.cached_blocks(static_cast<tiers::SizeClass>(c)) * tiers::block_size(static_cast<tiers::SizeClass>(c));
    }
    top.offer(t);
  });
  summary.threads_listed = top.count;
  summary.flush_epoch_answered = answered;

  g_publish_lock.lock();
  if (summary.bytes_in_use > g_peak_in_use) g_peak_in_use = summary.bytes_in_use;
  if (summary.rss_bytes > g_peak_rss) g_peak_rss = summary.rss_bytes;
  summary.peak_bytes_in_use = g_peak_in_use;
  summary.peak_rss_bytes = g_peak_rss;

  L::Header* h = header_of(base);
  std::atomic_ref<std::uint64_t> seq(h->publish_seq);
  const std::uint64_t start = seq.load(std::memory_order_relaxed);
  seq.store(start + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);

  *section<L::Summary>(base, L::kSummary) = summary;
  auto* entries = reinterpret_cast<L::SectionEntry*>(static_cast<char*>(base) + h->directory_offset);
  auto* nodes = section<L::NodeFigures>(base, L::kNodes);
  const std::uint32_t node_count = h->node_count;
  for (std::uint32_t n = 0; n < node_count; ++n) {
    const tiers::NodeStats ns = tiers::node_stats(numa::NodeId{n});
    L::NodeFigures& o = nodes[n];
    o.node = n;
    o.bytes_mapped = ns.bytes_mapped;
    o.bytes_in_use = ns.bytes_in_use;
    o.bytes_cached = ns.bytes_cached;
    o.bytes_free_in_pools =
        n < tiers::node_pool_count() ? tiers::node_pool(numa::NodeId{n}).stats().superslabs_dirty * kSuperSlabBytes : 0;
    std::uint64_t in = 0;
    for (std::uint32_t from = 0; from < node_count; ++from) in += tiers::remote_frees_between(numa::NodeId{from}, numa::NodeId{n});
    o.remote_frees_in = in;
  }
  auto* tiers_out = section<L::TierFigures>(base, L::kTiers);
  for (unsigned t = 0; t < tiers::kTierCount; ++t) {
    const tiers::TierStats& ts = s.tiers[t];
    tiers_out[t] = L::TierFigures{t, ts.allocations, ts.frees, ts.remote_frees, ts.live_blocks, ts.bytes_in_use, ts.bytes_cached};
  }
  auto* classes = section<L::ClassFigures>(base, L::kClasses);
  for (unsigned c = 0; c < tiers::kClassCount; ++c) {
    const tiers::ClassStats& cs = s.classes[c];
    classes[c] = L::ClassFigures{tiers::block_size(static_cast<tiers::SizeClass>(c)), cs.allocations, cs.frees,
                                 cs.remote_frees, cs.cached_blocks, cs.refills, cs.flushes, cs.slabs_carved,
                                 cs.slabs_released};
  }
  auto* threads = section<L::ThreadFigures>(base, L::kThreads);
  for (std::uint32_t i = 0; i < top.count; ++i) threads[i] = top.slots[i];
  write_knobs(section<L::Knob>(base, L::kKnobs));
  for (std::uint32_t i = 0; i < h->section_count; ++i) {
    switch (entries[i].id) {
      case L::kNodes: entries[i].element_count = node_count; break;
      case L::kTiers: entries[i].element_count = tiers::kTierCount; break;
      case L::kClasses: entries[i].element_count = tiers::kClassCount; break;
      case L::kThreads: entries[i].element_count = top.count; break;
      default: break;
    }
  }
  h->published_ns = monotonic_ns();
  h->publish_count += 1;

  std::atomic_thread_fence(std::memory_order_release);
  seq.store(start + 2, std::memory_order_release);
  g_publish_lock.unlock();
}

}  // namespace hakmem::control
