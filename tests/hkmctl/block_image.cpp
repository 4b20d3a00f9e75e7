// Building a valid control block image (see block_image.h).
#include "block_image.h"

#include <time.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hakmem::hkmctl::testing {
namespace {

std::uint64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(ts.tv_nsec);
}

template <typename T>
void put(std::vector<unsigned char>& b, std::uint64_t at, const T& v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

layout::FieldDesc desc(const char* name, std::uint32_t offset, layout::SectionId section, layout::FieldUnit unit,
                       layout::FieldKind kind) {
  layout::FieldDesc d{};
  std::strncpy(d.name, name, sizeof d.name - 1);
  d.offset = offset;
  d.size = 8;
  d.section = static_cast<std::uint16_t>(section);
  d.type = layout::FieldType::kU64;
  d.unit = unit;
  d.kind = kind;
  return d;
}

layout::Knob knob(const char* name, const char* variable, layout::KnobType type, layout::FieldUnit unit, bool runtime,
                  std::uint64_t min, std::uint64_t max, std::uint64_t value, const char* choices = "") {
  layout::Knob k{};
  std::strncpy(k.name, name, sizeof k.name - 1);
  std::strncpy(k.variable, variable, sizeof k.variable - 1);
  std::strncpy(k.choices, choices, sizeof k.choices - 1);
  k.type = static_cast<std::uint32_t>(type);
  k.unit = static_cast<std::uint32_t>(unit);
  k.flags = runtime ? layout::kKnobRuntime : 0;
  k.min = min;
  k.max = max;
  k.default_value = value;
  k.value = value;
  return k;
}

std::uint64_t align(std::uint64_t v, std::uint64_t to) { return (v + to - 1) / to * to; }

}  // namespace

std::uint64_t own_start_ticks() {
  std::ifstream in("/proc/self/stat");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  std::istringstream rest(s.substr(s.rfind(')') + 1));
  std::string token;
  for (int field = 3; field <= 22; ++field) rest >> token;
  return std::stoull(token);
}

Image make_image(const ImageSpec& spec) {
  using L = layout::FieldUnit;
  using K = layout::FieldKind;
  std::vector<layout::FieldDesc> schema;
#define HKM_SUMMARY(f, unit, kind) \
  schema.push_back(desc(#f, offsetof(layout::Summary, f), layout::kSummary, unit, kind))
  HKM_SUMMARY(bytes_in_use, L::kBytes, K::kGauge);
  HKM_SUMMARY(bytes_thread_cached, L::kBytes, K::kGauge);
  HKM_SUMMARY(bytes_free_in_slabs, L::kBytes, K::kGauge);
  HKM_SUMMARY(bytes_free_in_pools, L::kBytes, K::kGauge);
  HKM_SUMMARY(bytes_free_huge, L::kBytes, K::kGauge);
  HKM_SUMMARY(bytes_metadata, L::kBytes, K::kGauge);
  HKM_SUMMARY(bytes_resident_estimate, L::kBytes, K::kGauge);
  HKM_SUMMARY(bytes_purged, L::kBytes, K::kGauge);
  HKM_SUMMARY(rss_bytes, L::kBytes, K::kGauge);
  HKM_SUMMARY(allocations, L::kCalls, K::kCounter);
  HKM_SUMMARY(frees, L::kCalls, K::kCounter);
  HKM_SUMMARY(heaps_active, L::kNone, K::kGauge);
  HKM_SUMMARY(commands_served, L::kCalls, K::kCounter);
#undef HKM_SUMMARY
  schema.push_back(desc("node", offsetof(layout::NodeFigures, node), layout::kNodes, L::kId, K::kConstant));
  schema.push_back(desc("bytes_in_use", offsetof(layout::NodeFigures, bytes_in_use), layout::kNodes, L::kBytes, K::kGauge));
  schema.push_back(desc("bytes_cached", offsetof(layout::TierFigures, bytes_cached), layout::kTiers, L::kBytes, K::kGauge));
  schema.push_back(desc("block_bytes", offsetof(layout::ClassFigures, block_bytes), layout::kClasses, L::kBytes, K::kConstant));
  schema.push_back(desc("tid", offsetof(layout::ThreadFigures, tid), layout::kThreads, L::kId, K::kConstant));

  std::vector<layout::Knob> knobs = {
      knob("purge_delay", "HAKMEM_PURGE_DELAY_MS", layout::KnobType::kUnsigned, L::kMilliseconds, true, 0, 600000, 1000),
      knob("thread_cache_bytes", "HAKMEM_TCACHE_BYTES", layout::KnobType::kUnsigned, L::kBytes, true, 4096, 1ull << 30,
           1ull << 20),
      knob("thp", "HAKMEM_THP", layout::KnobType::kEnum, L::kNone, true, 0, 2, 1, "never|madvise|always"),
      knob("hugepages", "HAKMEM_HUGEPAGES", layout::KnobType::kEnum, L::kNone, false, 0, 2, 1, "off|thp|hugetlb"),
  };

  struct Sec { layout::SectionId id; std::uint32_t size, count; };
  std::vector<Sec> secs = {
      {layout::kFieldSchema, sizeof(layout::FieldDesc), static_cast<std::uint32_t>(schema.size())},
      {layout::kSummary, sizeof(layout::Summary), 1},
      {layout::kNodes, sizeof(layout::NodeFigures), spec.nodes},
      {layout::kTiers, sizeof(layout::TierFigures), 4},
      {layout::kClasses, sizeof(layout::ClassFigures), spec.classes},
      {layout::kThreads, sizeof(layout::ThreadFigures), spec.threads},
      {layout::kKnobs, sizeof(layout::Knob), static_cast<std::uint32_t>(knobs.size())},
      {layout::kMailbox, sizeof(layout::Mailbox), 1},
  };
  Image img;
  std::uint64_t at = layout::kHeaderBytes + secs.size() * sizeof(layout::SectionEntry);
  std::vector<layout::SectionEntry> dir;
  for (const Sec& s : secs) {
    // The mailbox gets a page of its own, as a writer would map it.
    at = s.id == layout::kMailbox ? align(at, 4096) : align(at, 8);
    dir.push_back({s.id, 1, at, s.size, s.count, s.count, 0});
    at += std::uint64_t{s.size} * s.count;
  }
  img.bytes.assign(align(at, 4096), 0);

  layout::Header h{};
  std::memcpy(h.magic, layout::kMagic, sizeof h.magic);
  h.abi_major = layout::kAbiMajor;
  h.abi_minor = layout::kAbiMinor;
  h.header_bytes = layout::kHeaderBytes;
  h.total_bytes = img.bytes.size();
  h.directory_offset = layout::kHeaderBytes;
  h.section_count = static_cast<std::uint32_t>(dir.size());
  h.pid = spec.pid;
  h.uid = spec.uid;
  h.start_time_ticks = spec.start_ticks;
  h.created_realtime_ns = clock_ns(CLOCK_REALTIME) - 90'000'000'000ull;
  h.publish_seq = 2;
  h.published_ns = clock_ns(CLOCK_MONOTONIC);
  h.publish_count = 1;
  h.state_flags = spec.service ? layout::kStateServiceRunning : 0;
  h.node_count = spec.nodes;
  std::strncpy(h.command, spec.command.c_str(), sizeof h.command - 1);
  std::strncpy(h.library_version, "0.1.0", sizeof h.library_version - 1);
  put(img.bytes, 0, h);
  for (std::size_t i = 0; i < dir.size(); ++i) put(img.bytes, layout::kHeaderBytes + i * sizeof(layout::SectionEntry), dir[i]);

  for (std::size_t i = 0; i < schema.size(); ++i) put(img.bytes, dir[0].offset + i * sizeof(layout::FieldDesc), schema[i]);
  layout::Summary s{};
  s.bytes_in_use = kInUse;
  s.bytes_thread_cached = kThreadCached;
  s.bytes_free_in_slabs = kFreeInSlabs;
  s.bytes_free_in_pools = kFreeInPools;
  s.bytes_free_huge = kFreeHuge;
  s.bytes_metadata = kMetadata;
  s.bytes_resident_estimate = kInUse + kThreadCached + kFreeInSlabs + kFreeInPools + kFreeHuge + kMetadata;
  s.bytes_mapped = s.bytes_resident_estimate + (64ull << 20);
  s.bytes_purged = 64ull << 20;
  s.rss_bytes = s.bytes_resident_estimate + (4ull << 20);
  s.allocations = 1000000;
  s.frees = 900000;
  s.heaps_active = spec.threads;
  s.threads_listed = spec.threads;
  img.summary_offset = dir[1].offset;
  put(img.bytes, img.summary_offset, s);
  img.nodes_offset = dir[2].offset;
  for (std::uint32_t n = 0; n < spec.nodes; ++n) {
    layout::NodeFigures nf{n, s.bytes_mapped / spec.nodes, kInUse / spec.nodes, (kThreadCached + kFreeHuge) / spec.nodes,
                           kFreeInPools / spec.nodes, 10 * n};
    put(img.bytes, dir[2].offset + n * sizeof nf, nf);
  }
  for (std::uint32_t t = 0; t < 4; ++t) {
    layout::TierFigures tf{t, 1000u * (t + 1), 900u * (t + 1), 10, 100, kInUse / 4, kThreadCached / 4};
    put(img.bytes, dir[3].offset + t * sizeof tf, tf);
  }
  for (std::uint32_t c = 0; c < spec.classes; ++c) {
    layout::ClassFigures cf{16ull << c, 500u + c, 400, 3, 7, 2, 1, 4, 1};
    put(img.bytes, dir[4].offset + c * sizeof cf, cf);
  }
  for (std::uint32_t t = 0; t < spec.threads; ++t) {
    layout::ThreadFigures tf{1000u + t, t % (spec.nodes ? spec.nodes : 1), layout::kThreadActive, 100, 90,
                             (t + 1) * 65536ull, 0};
    put(img.bytes, dir[5].offset + t * sizeof tf, tf);
  }
  img.knobs_offset = dir[6].offset;
  img.knob_count = static_cast<std::uint32_t>(knobs.size());
  for (std::size_t i = 0; i < knobs.size(); ++i) put(img.bytes, dir[6].offset + i * sizeof(layout::Knob), knobs[i]);
  img.mailbox_offset = dir[7].offset;
  return img;
}

}  // namespace hakmem::hkmctl::testing
