// The OS layer's contract: map, purge and release address space, straight from
// the kernel (mmap/madvise/munmap), never through any malloc.
//
// Layer: os. Any thread; no locks are taken here. Every function preserves
// errno. Failure is a returned status, never an abort: the caller falls back
// or reports ENOMEM. Every call and every fallback is counted (os_stats()).
//
// Preconditions, for every function taking (addr, bytes): addr is aligned to
// the small OS page (4 KiB) and bytes is a non-zero multiple of it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/counter.h"

namespace hakmem::os {

// How a region's memory is backed. The order is the fallback order.
enum class Backing : std::uint8_t {
  kHugetlb = 0,  // reserved 2 MiB huge pages (MAP_HUGETLB), populated at map time
  kThp = 1,      // normal pages advised MADV_HUGEPAGE (transparent huge pages)
  kPlain = 2,    // normal 4 KiB pages
};
const char* backing_name(Backing b);

// What the user allows (HAKMEM_HUGEPAGES): hugetlb tries reserved huge pages,
// then THP, then plain pages; auto and thp start at THP; off maps plain pages.
//
// auto leaves hugetlb pages alone even when some are reserved: a private
// hugetlb page is copied on write after fork(), and when the pool has no page
// left for the copy the kernel kills the child that writes with SIGBUS
// (Documentation/admin-guide/mm/hugetlbpage.rst). Only a user who knows the
// program does not fork, or who reserved pages enough, should ask for them.
enum class HugePagePolicy : std::uint8_t { kAuto, kHugetlb, kThp, kOff };

struct Region {
  void* base = nullptr;  // null when the mapping failed
  Backing backing = Backing::kPlain;
};

// A hook that runs after a region is mapped and before any page of it is
// touched: NUMA binding (mbind) must happen here, so the first touch already
// places pages on the right node. Returns false if the region must not be used.
using BeforeFirstTouch = bool (*)(void* base, std::size_t bytes, void* context);

// Maps `bytes` (a multiple of 2 MiB) aligned to 2 MiB. Tries the backings the
// policy allows, in order, and counts each fallback. A hugetlb region is
// populated at map time (MADV_POPULATE_WRITE), so it can never SIGBUS later
// when the huge page pool runs dry: it fails here and falls back instead.
//
// THP advice covers only the first `thp_bytes` (rounded down to 2 MiB): a
// transparent huge page is faulted in whole on its first touch, so advising
// memory that will be used sparsely would bloat RSS by up to 2 MiB per
// region. With thp_bytes 0 the THP step is skipped (hugetlb, then plain).
inline constexpr std::size_t kAdviseAll = ~std::size_t{0};
Region map_aligned(std::size_t bytes, HugePagePolicy policy, BeforeFirstTouch hook, void* context,
                   std::size_t thp_bytes = kAdviseAll);

// The three mechanisms map_aligned orders. Each returns null on failure.
// They leave OsStats::mapped_bytes alone (map_aligned, or the caller, counts
// what it keeps), while release() subtracts what it unmaps: a region mapped
// with one of these and given back with release() must be counted by its
// caller, or the figure (and trim's result, which is derived from it) drifts.
void* map_hugetlb(std::size_t bytes);
// Maps `bytes` aligned to `alignment` and advises the first `advise_bytes`
// MADV_HUGEPAGE (counted as a THP fallback if the kernel refuses).
void* map_thp(std::size_t bytes, std::size_t alignment, std::size_t advise_bytes);
void* map_plain(std::size_t bytes, std::size_t alignment);

// Advises MADV_HUGEPAGE on part of a region mapped with plain pages, before
// its first touch. false if the kernel refuses (counted as a THP fallback).
bool advise_huge_pages(void* addr, std::size_t bytes);

// Makes a populated, 2 MiB-aligned range of plain pages into transparent huge
// pages now (MADV_COLLAPSE, Linux 6.1): the kernel copies the range into huge
// pages, zero-filling what was never touched. Unlike MADV_HUGEPAGE it needs
// no sysfs setting but "never", and leaves later faults alone. false if the
// kernel refuses or has no huge page to give (counted either way).
bool collapse_huge_pages(void* addr, std::size_t bytes);

// Pages of the range [addr, addr + bytes) resident now (mincore), counted
// in 4 KiB pages, at most kMaxResidentQuery bytes; -1 if the range is not
// mapped (ENOMEM) or the call failed.
inline constexpr std::size_t kMaxResidentQuery = std::size_t{2} << 20;
long resident_pages(void* addr, std::size_t bytes);

// Populates a hugetlb region, so that a later touch cannot fault for want of
// a huge page. Returns false if the pool (or the bound node's pool) is short.
bool populate_hugetlb(void* base, std::size_t bytes);

// Gives the physical pages back; the range stays mapped and reads as zero.
// MADV_DONTNEED (not MADV_FREE) so that RSS drops at once, visibly to users
// and to tools. Returns false on failure (the memory then simply stays).
bool purge(void* addr, std::size_t bytes);

// Unmaps. Returns false on failure.
bool release(void* addr, std::size_t bytes);

// Moves and resizes a mapping without copying its pages (mremap). With
// `target` non-null the pages go exactly there, replacing what was mapped at
// target (MREMAP_FIXED). Returns the new address or null.
void* remap(void* addr, std::size_t old_bytes, std::size_t new_bytes, void* target);

// Whether the kernel has any 2 MiB huge pages free right now (a hint only).
bool hugetlb_pages_available();

struct OsStats {
  SharedCounter map_calls;      // mmap
  SharedCounter unmap_calls;    // munmap (including trims of over-maps)
  SharedCounter madvise_calls;  // madvise of any kind
  SharedCounter remap_calls;    // mremap
  SharedCounter purge_calls;    // madvise(MADV_DONTNEED) issued to give memory back
  SharedCounter purged_bytes;
  SharedCounter mapped_bytes;   // currently mapped by hakmem (all backings)
  SharedCounter hugetlb_maps;
  SharedCounter thp_maps;
  SharedCounter plain_maps;
  SharedCounter hugetlb_fallbacks;  // hugetlb was allowed but failed
  SharedCounter thp_fallbacks;      // THP advice failed (plain pages used)
  SharedCounter thp_collapses;      // ranges made huge pages after the fact
  SharedCounter thp_collapse_failures;
  SharedCounter map_failures;       // every backing failed: ENOMEM to the caller
};
OsStats& os_stats();

}  // namespace hakmem::os
