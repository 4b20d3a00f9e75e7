#include "tiers/huge_registry.h"

#include <cstdint>

#include "os/meta_arena.h"

namespace hakmem::tiers {

namespace {

std::size_t bucket_of(const void* p, std::size_t count) {
  // Blocks start on kHugeGranule boundaries: drop those bits, then mix.
  std::uint64_t k = reinterpret_cast<std::uintptr_t>(p) >> 16;
  static_assert(kHugeGranule == std::size_t{1} << 16);
  k *= 0x9e3779b97f4a7c15ull;
  return static_cast<std::size_t>(k >> 32) & (count - 1);
}

}  // namespace

// Doubles the bucket array when the load passes 1. If the new array cannot
// be mapped the table keeps working, with longer chains.
void HugeRegistry::maybe_grow() {
  if (count_ < bucket_count_) return;
  const std::size_t new_count = bucket_count_ == 0 ? 512 : bucket_count_ * 2;
  auto** fresh = static_cast<HugeSegment**>(os::map_table(new_count * sizeof(HugeSegment*)));
  if (fresh == nullptr) return;
  for (std::size_t i = 0; i < bucket_count_; ++i) {
    for (HugeSegment* s = buckets_[i]; s != nullptr;) {
      HugeSegment* next = s->bucket_next;
      const std::size_t b = bucket_of(s->user, new_count);
      s->bucket_next = fresh[b];
      fresh[b] = s;
      s = next;
    }
  }
  if (buckets_ != nullptr) os::unmap_table(buckets_, bucket_count_ * sizeof(HugeSegment*));
  buckets_ = fresh;
  bucket_count_ = new_count;
}

bool HugeRegistry::insert(HugeSegment* seg) {
  maybe_grow();
  if (bucket_count_ == 0) return false;
  const std::size_t b = bucket_of(seg->user, bucket_count_);
  seg->bucket_next = buckets_[b];
  buckets_[b] = seg;
  ++count_;
  return true;
}

HugeSegment* HugeRegistry::find(const void* user) const {
  if (bucket_count_ == 0) return nullptr;
  for (HugeSegment* s = buckets_[bucket_of(user, bucket_count_)]; s != nullptr; s = s->bucket_next) {
    if (s->user == user) return s;
  }
  return nullptr;
}

HugeSegment* HugeRegistry::remove(const void* user) {
  if (bucket_count_ == 0) return nullptr;
  for (HugeSegment** link = &buckets_[bucket_of(user, bucket_count_)]; *link != nullptr;
       link = &(*link)->bucket_next) {
    HugeSegment* s = *link;
    if (s->user == user) {
      *link = s->bucket_next;
      s->bucket_next = nullptr;
      --count_;
      return s;
    }
  }
  return nullptr;
}

}  // namespace hakmem::tiers
