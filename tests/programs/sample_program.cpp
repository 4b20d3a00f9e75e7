// A small C++ program for gxx_compile.sh: templates, containers and the
// standard algorithms give the compiler some work; the output is fixed.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace {

template <typename T>
struct Tree {
  T value;
  std::unique_ptr<Tree> left, right;
  explicit Tree(T v) : value(std::move(v)) {}
  void insert(T v) {
    auto& child = v < value ? left : right;
    if (child) {
      child->insert(std::move(v));
    } else {
      child = std::make_unique<Tree>(std::move(v));
    }
  }
  template <typename F>
  void walk(F&& f) const {
    if (left) left->walk(f);
    f(value);
    if (right) right->walk(f);
  }
};

using Value = std::variant<std::int64_t, std::string, std::vector<int>>;

std::string describe(const Value& v) {
  struct Visitor {
    std::string operator()(std::int64_t i) const { return "int " + std::to_string(i); }
    std::string operator()(const std::string& s) const { return "string of " + std::to_string(s.size()); }
    std::string operator()(const std::vector<int>& x) const {
      return "vector summing to " + std::to_string(std::accumulate(x.begin(), x.end(), 0LL));
    }
  };
  return std::visit(Visitor{}, v);
}

}  // namespace

int main() {
  std::uint64_t x = 88172645463325252ull;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  Tree<std::string> tree("m");
  for (int i = 0; i < 2000; ++i) tree.insert(std::to_string(next() % 100000));
  std::size_t count = 0, length = 0;
  tree.walk([&](const std::string& s) {
    ++count;
    length += s.size();
  });
  std::cout << "tree: " << count << " strings, " << length << " characters\n";

  std::map<std::string, std::vector<Value>> groups;
  for (int i = 0; i < 3000; ++i) {
    const std::string key = "group" + std::to_string(next() % 17);
    switch (next() % 3) {
      case 0: groups[key].emplace_back(static_cast<std::int64_t>(next() % 1000)); break;
      case 1: groups[key].emplace_back(std::string(next() % 200, 'q')); break;
      default: groups[key].emplace_back(std::vector<int>(next() % 50, 3)); break;
    }
  }
  for (const auto& [key, values] : groups) {
    std::cout << key << ": " << values.size() << " values, last " << describe(values.back()) << "\n";
  }

  std::unordered_map<std::uint64_t, std::uint64_t> counts;
  for (int i = 0; i < 100000; ++i) ++counts[next() % 1000];
  std::vector<std::pair<std::uint64_t, std::uint64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  std::ostringstream top;
  for (std::size_t i = 0; i < 5; ++i) top << sorted[i].first << "x" << sorted[i].second << " ";
  std::cout << "most frequent: " << top.str() << "\n";
  return 0;
}
