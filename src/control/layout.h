// The control block: the shared-memory file through which hkmctl looks into
// and steers a live process (`/dev/shm/hakmem.<euid>.<pid>`).
//
// Layer: control/layout.h, the one header the library and tools/hkmctl share.
// It depends on nothing but <cstdint>. Plain data only: numbers, fixed-size
// NUL-terminated strings, never a pointer or anything the allocator trusts;
// the process never reads its own state back from the block (the mailbox's
// request is the one thing it reads, and it validates every field). A
// corrupted block can at worst make the figures lie.
//
// The file, in order (offsets are from the start of the file):
//
//   Header            at 0, kHeaderBytes
//   SectionEntry[]    at header.directory_offset, header.section_count
//   sections          each at its entry's offset: element_count elements of
//                     element_size bytes (capacity >= count slots reserved)
//
// Sections: kFieldSchema (FieldDesc[], describing every numeric field of the
// other sections by name, so an older hkmctl can print a newer library's
// fields with --raw), kSummary (one Summary), kNodes (NodeFigures per node
// id), kTiers (TierFigures per tier), kClasses (ClassFigures per size class),
// kThreads (ThreadFigures: the heaps with the most bytes cached, the rest
// folded into the summary's totals), kKnobs (Knob per runtime or start-up
// setting), kMailbox (one Mailbox).
//
// Compatibility: a reader accepts any block whose magic matches and whose
// abi_major equals its own; it finds every section through the directory
// and reads an element's leading `min(element_size, sizeof(T))` bytes, so
// later minor versions only append fields to elements and add sections.
//
// Consistency: the figures (every section but kFieldSchema and kMailbox) are
// published by one writer at a time under Header::publish_seq, a seqlock: odd
// while a publication is being written, even and larger once done. Readers
// copy, then check that the seqlock was even and unchanged, and retry a
// bounded number of times before reporting "torn". Header::published_ns says
// how old the figures are.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem::control::layout {

inline constexpr char kMagic[8] = {'H', 'K', 'M', 'C', 'T', 'L', '0', '1'};
inline constexpr std::uint16_t kAbiMajor = 1;
inline constexpr std::uint16_t kAbiMinor = 0;

inline constexpr std::size_t kHeaderBytes = 256;
inline constexpr std::size_t kNameBytes = 48;     // field and knob names, with their NUL
inline constexpr std::size_t kCommandBytes = 64;  // the process's command name, with NUL
inline constexpr std::size_t kVersionBytes = 16;
inline constexpr std::size_t kMaxResultNodes = 64;  // per-node results a command answers with

// The file name under the directory (default /dev/shm): hakmem.<euid>.<pid>.
inline constexpr char kFilePrefix[] = "hakmem.";

// Header::state_flags.
inline constexpr std::uint32_t kStateServiceRunning = 1u << 0;  // a service thread answers the mailbox
inline constexpr std::uint32_t kStateGroupReadable = 1u << 1;   // created 0640
inline constexpr std::uint32_t kStateExiting = 1u << 2;         // the process is exiting

struct Header {
  char magic[8];
  std::uint16_t abi_major;
  std::uint16_t abi_minor;
  std::uint32_t header_bytes;       // kHeaderBytes for this ABI
  std::uint64_t total_bytes;        // the file's size as created
  std::uint32_t directory_offset;   // of SectionEntry[section_count]
  std::uint32_t section_count;
  std::int32_t pid;
  std::uint32_t uid;                // the effective uid that created the block
  std::uint64_t start_time_ticks;   // field 22 of /proc/<pid>/stat: tells a reused pid apart
  std::uint64_t created_realtime_ns;
  std::uint64_t publish_seq;        // the figures' seqlock (see above)
  std::uint64_t published_ns;       // CLOCK_MONOTONIC when the figures were last written
  std::uint64_t publish_count;      // publications so far
  std::uint32_t state_flags;        // kState* bits
  std::uint32_t node_count;         // node ids the machine reports (kNodes' element count)
  char command[kCommandBytes];      // /proc/self/comm at creation, NUL-terminated
  char library_version[kVersionBytes];  // "MAJOR.MINOR.PATCH", NUL-terminated
  std::uint8_t reserved[kHeaderBytes - 8 - 2 - 2 - 4 - 8 - 4 - 4 - 4 - 4 - 8 - 8 - 8 - 8 - 8 - 4 -
                        4 - kCommandBytes - kVersionBytes];
};
static_assert(sizeof(Header) == kHeaderBytes);
static_assert(offsetof(Header, publish_seq) == 56);
static_assert(offsetof(Header, command) == 88);

enum SectionId : std::uint32_t {
  kFieldSchema = 1,
  kSummary = 2,
  kNodes = 3,
  kTiers = 4,
  kClasses = 5,
  kThreads = 6,
  kKnobs = 7,
  kMailbox = 8,
};

struct SectionEntry {
  std::uint32_t id;             // SectionId
  std::uint32_t version;        // 1 for this ABI
  std::uint64_t offset;         // from the start of the file
  std::uint32_t element_size;   // bytes per element (>= what this ABI's struct needs)
  std::uint32_t element_count;  // elements holding figures now (<= capacity)
  std::uint32_t capacity;       // elements the section has room for
  std::uint32_t reserved;
};
static_assert(sizeof(SectionEntry) == 32);

// The schema: one FieldDesc per numeric field of an element, so a reader can
// print any field by name without knowing the struct.
enum class FieldType : std::uint8_t { kU64 = 1, kI64 = 2, kU32 = 3, kI32 = 4 };
enum class FieldUnit : std::uint8_t {
  kNone = 0,
  kBytes = 1,
  kNanoseconds = 2,
  kBlocks = 3,
  kCalls = 4,     // system calls, commands, events
  kPages = 5,
  kId = 6,        // a node id, a thread id: not summable
  kMilliseconds = 7,
};
enum class FieldKind : std::uint8_t {
  kCounter = 1,   // monotonic since start (rates are its differences)
  kGauge = 2,     // a level now
  kPeak = 3,      // the highest level since start or the last reset
  kConstant = 4,  // fixed for the life of the process
};

struct FieldDesc {
  char name[kNameBytes];   // snake_case, NUL-terminated
  std::uint32_t offset;    // within the element
  std::uint32_t size;      // bytes: 4 or 8
  std::uint16_t section;   // SectionId
  FieldType type;
  FieldUnit unit;
  FieldKind kind;
  std::uint8_t reserved[3];
};
static_assert(sizeof(FieldDesc) == 64);

// The waterfall, from the program's bytes down to the process's RSS:
//   bytes_in_use + bytes_thread_cached + bytes_free_in_slabs
//   + bytes_free_in_pools + bytes_free_huge + bytes_metadata
//   = bytes_resident_estimate (hakmem's own figure)
// bytes_purged is address space hakmem holds without pages; rss_bytes is
// the kernel's figure for the whole process (code, stacks and other
// mappings included), read when the figures were published.
struct Summary {
  std::uint64_t bytes_in_use;          // live blocks x their block size, every tier
  std::uint64_t bytes_thread_cached;   // free blocks in thread caches
  std::uint64_t bytes_free_in_slabs;   // resident, free, in SuperSlabs held by heaps
  std::uint64_t bytes_free_in_pools;   // resident, free SuperSlabs in the node pools
  std::uint64_t bytes_free_huge;       // resident, free huge ranges and cached huge blocks
  std::uint64_t bytes_metadata;        // hakmem's own bookkeeping
  std::uint64_t bytes_resident_estimate;
  std::uint64_t bytes_purged;          // mapped, purged: address space only
  std::uint64_t bytes_mapped;          // all address space hakmem holds
  std::uint64_t rss_bytes;             // /proc/self/statm, at publication
  std::uint64_t peak_bytes_in_use;
  std::uint64_t peak_rss_bytes;
  std::uint64_t allocations;
  std::uint64_t frees;
  std::uint64_t remote_frees;
  std::uint64_t heaps_active;
  std::uint64_t heaps_idle;
  std::uint64_t threads_listed;        // elements in kThreads
  std::uint64_t os_mmap_calls;
  std::uint64_t os_munmap_calls;
  std::uint64_t os_madvise_calls;      // plain madvise system calls
  std::uint64_t uring_madvise_ranges;  // ranges purged through io_uring
  std::uint64_t uring_submit_calls;    // io_uring_enter system calls for them
  std::uint64_t purged_bytes_ever;
  std::uint64_t thp_collapses;
  std::uint64_t thp_collapse_failures;
  std::uint64_t service_wakeups;
  std::uint64_t service_timed_purges;  // purges the service thread ran on time
  std::uint64_t commands_served;
  std::uint64_t commands_refused;
  std::uint64_t flush_epoch;           // thread-cache flushes asked for
  std::uint64_t flush_epoch_answered;  // the lowest epoch every live heap has answered
};

struct NodeFigures {
  std::uint64_t node;            // the node id
  std::uint64_t bytes_mapped;
  std::uint64_t bytes_in_use;
  std::uint64_t bytes_cached;    // thread caches and free huge ranges on the node
  std::uint64_t bytes_free_in_pools;
  std::uint64_t remote_frees_in; // blocks of this node's heaps freed by other nodes' threads
};

struct TierFigures {
  std::uint64_t tier;            // 0 tiny, 1 mid, 2 large, 3 huge
  std::uint64_t allocations;
  std::uint64_t frees;
  std::uint64_t remote_frees;
  std::uint64_t live_blocks;
  std::uint64_t bytes_in_use;
  std::uint64_t bytes_cached;
};

struct ClassFigures {
  std::uint64_t block_bytes;     // the class's block size
  std::uint64_t allocations;
  std::uint64_t frees;
  std::uint64_t remote_frees;
  std::uint64_t cached_blocks;
  std::uint64_t refills;
  std::uint64_t flushes;
  std::uint64_t slabs_carved;
  std::uint64_t slabs_released;
};

inline constexpr std::uint64_t kThreadActive = 1;  // ThreadFigures::state
inline constexpr std::uint64_t kThreadIdle = 2;    // left by an exited thread, awaiting reuse

struct ThreadFigures {
  std::uint64_t tid;             // the kernel's thread id; 0 for an idle heap
  std::uint64_t node;
  std::uint64_t state;           // kThreadActive or kThreadIdle
  std::uint64_t allocations;
  std::uint64_t frees;
  std::uint64_t bytes_cached;
  std::uint64_t flush_epoch_answered;
};

enum class KnobType : std::uint32_t { kUnsigned = 1, kBool = 2, kEnum = 3 };
inline constexpr std::uint32_t kKnobRuntime = 1u << 0;  // Knob::flags: `set` may change it

struct Knob {
  char name[kNameBytes];         // hkmctl's key, e.g. "purge_delay"
  char variable[kNameBytes];     // the environment variable, e.g. "HAKMEM_PURGE_DELAY_MS"
  std::uint32_t type;            // KnobType
  std::uint32_t unit;            // FieldUnit
  std::uint32_t flags;           // kKnob*
  std::uint32_t reserved;
  std::uint64_t min;
  std::uint64_t max;
  std::uint64_t default_value;
  std::uint64_t value;           // the current value
  char choices[kNameBytes];      // kEnum: the names of values 0, 1, ... separated by '|'
};
static_assert(sizeof(Knob) == 3 * kNameBytes + 48);

// The mailbox: one request at a time. A commander (serialised with an OFD
// write lock on the whole file) writes request fields, then request_seq (the
// previous response_seq + 1) with release order, then increments doorbell
// and wakes it (FUTEX_WAKE, shared). The process answers: it fills the
// response fields, then stores response_seq = request_seq with release
// order, increments ack and wakes it. A request_seq the process has already
// answered, or not exactly one more than response_seq, is ignored.
enum class Opcode : std::uint32_t {
  kPing = 1,
  kSnapshot = 2,     // publish the figures now
  kTrim = 3,         // args: node_mask, tiers, keep_bytes
  kFlush = 4,        // every thread's cache, cooperatively
  kSetKnob = 5,      // args: key, value
  kResetPeaks = 6,
};

// Trim's tier bits (Request::tiers); 0 means every tier.
inline constexpr std::uint32_t kTierBitTiny = 1u << 0;
inline constexpr std::uint32_t kTierBitMid = 1u << 1;
inline constexpr std::uint32_t kTierBitLarge = 1u << 2;
inline constexpr std::uint32_t kTierBitHuge = 1u << 3;

enum class Status : std::int32_t {
  kOk = 0,
  kUnknownOpcode = 1,
  kBadArgument = 2,     // Response::message says which
  kUnknownKnob = 3,
  kStartupOnlyKnob = 4, // message names the environment variable to use
  kOutOfRange = 5,
  kBusy = 6,            // rate-limited or coalesced; retry
  kPartial = 7,         // done in part: see not_released_bytes and message
};

struct Request {
  std::uint32_t opcode;          // Opcode
  std::uint32_t tiers;           // kTrim: kTierBit* bits, 0 = all
  std::uint64_t node_mask;       // kTrim: bit n = node n; 0 = all nodes
  std::uint64_t keep_bytes;      // kTrim: free bytes to leave resident
  std::uint64_t value;           // kSetKnob
  char key[kNameBytes];          // kSetKnob: a Knob::name, NUL-terminated
  std::int32_t client_pid;
  std::uint32_t client_uid;
};

struct Response {
  std::int32_t status;           // Status
  std::uint32_t served_by_tid;   // the thread that ran the command
  std::uint64_t started_ns;      // CLOCK_MONOTONIC
  std::uint64_t duration_ns;
  std::uint64_t rss_before;
  std::uint64_t rss_after;
  std::uint64_t released_bytes;      // total over nodes
  std::uint64_t not_released_bytes;  // free but kept (keep_bytes, busy ranges, outside the mask)
  std::uint64_t value;               // kSetKnob: the value now; kFlush: heaps flushed
  std::uint64_t released_per_node[kMaxResultNodes];
  char message[128];             // one line, NUL-terminated; empty when kOk
};

struct Mailbox {
  std::uint32_t doorbell;        // futex word: commanders increment and wake
  std::uint32_t ack;             // futex word: the process increments and wakes
  std::uint64_t request_seq;
  std::uint64_t response_seq;
  std::uint64_t reserved;
  Request request;
  Response response;
};
static_assert(offsetof(Mailbox, request) == 32);

}  // namespace hakmem::control::layout
