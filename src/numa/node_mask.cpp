#include "numa/node_mask.h"

#include "base/format.h"

namespace hakmem::numa {

NodeMask NodeMask::first_n(std::uint32_t count) {
  NodeMask m;
  for (std::uint32_t i = 0; i < count && i < kMaxNodes; ++i) m.add(i);
  return m;
}

bool NodeMask::empty() const {
  for (std::uint64_t w : words_) {
    if (w != 0) return false;
  }
  return true;
}

std::uint32_t NodeMask::count() const {
  std::uint32_t n = 0;
  for (std::uint64_t w : words_) n += static_cast<std::uint32_t>(__builtin_popcountll(w));
  return n;
}

std::uint32_t NodeMask::next(std::uint32_t from) const {
  for (std::uint32_t word = from / 64; word < kWords; ++word) {
    std::uint64_t w = words_[word];
    if (word == from / 64) w &= ~std::uint64_t{0} << (from % 64);
    if (w != 0) return word * 64 + static_cast<std::uint32_t>(__builtin_ctzll(w));
  }
  return kMaxNodes;
}

std::uint32_t NodeMask::nth(std::uint32_t n) const {
  std::uint32_t node = first();
  for (std::uint32_t i = 0; i < n && node < kMaxNodes; ++i) node = next(node + 1);
  return node;
}

NodeMask NodeMask::operator&(const NodeMask& other) const {
  NodeMask m;
  for (std::uint32_t i = 0; i < kWords; ++i) m.words_[i] = words_[i] & other.words_[i];
  return m;
}

bool NodeMask::parse_list(std::string_view text) {
  NodeMask parsed;
  bool any = false;
  std::size_t i = 0;
  auto number = [&](std::uint32_t* out) {
    if (i >= text.size() || text[i] < '0' || text[i] > '9') return false;
    std::uint32_t v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      v = v * 10 + static_cast<std::uint32_t>(text[i] - '0');
      if (v >= kMaxNodes) return false;
      ++i;
    }
    *out = v;
    return true;
  };
  while (i < text.size() && text[i] != '\n') {
    std::uint32_t lo = 0;
    if (!number(&lo)) return false;
    std::uint32_t hi = lo;
    if (i < text.size() && text[i] == '-') {
      ++i;
      if (!number(&hi) || hi < lo) return false;
    }
    for (std::uint32_t n = lo; n <= hi; ++n) parsed.add(n);
    any = true;
    if (i < text.size() && text[i] == ',') {
      ++i;
      if (i == text.size()) return false;  // a trailing comma
    } else if (i < text.size() && text[i] != '\n') {
      return false;
    }
  }
  if (!any) return false;
  *this = parsed;
  return true;
}

bool NodeMask::parse_hex_groups(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return false;
  NodeMask parsed;
  std::uint32_t bit = 0;  // of the least significant digit still to read
  for (std::size_t i = text.size(); i-- > 0;) {
    const char c = text[i];
    if (c == ',') continue;
    std::uint32_t digit = 0;
    if (c >= '0' && c <= '9') digit = static_cast<std::uint32_t>(c - '0');
    else if (c >= 'a' && c <= 'f') digit = static_cast<std::uint32_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') digit = static_cast<std::uint32_t>(c - 'A' + 10);
    else return false;
    for (std::uint32_t b = 0; b < 4; ++b) {
      if ((digit >> b & 1u) != 0) {
        if (bit + b >= kMaxNodes) return false;
        parsed.add(bit + b);
      }
    }
    bit += 4;
  }
  *this = parsed;
  return true;
}

void NodeMask::format(Formatter& f) const {
  bool first_range = true;
  for (std::uint32_t lo = first(); lo < kMaxNodes;) {
    std::uint32_t hi = lo;
    while (hi + 1 < kMaxNodes && contains(hi + 1)) ++hi;
    if (!first_range) f.ch(',');
    f.dec(lo);
    if (hi > lo) f.ch('-').dec(hi);
    first_range = false;
    lo = next(hi + 1);
  }
  if (first_range) f.str("none");
}

}  // namespace hakmem::numa
