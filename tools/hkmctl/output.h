// Output for every command: aligned human tables and JSON, from the same
// figures (jemalloc's emitter.h renders both from one model, too).
//
// Layer: tools/hkmctl. JSON keys are stable snake_case; numbers are raw
// integers (bytes, nanoseconds), never rounded or unit-scaled.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hakmem::hkmctl {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // The first column is left-aligned, the others right-aligned, two spaces apart.
  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

class Json {
 public:
  Json& num(const std::string& key, std::uint64_t v);
  Json& snum(const std::string& key, std::int64_t v);
  Json& str(const std::string& key, const std::string& v);
  Json& boolean(const std::string& key, bool v);
  Json& raw(const std::string& key, const std::string& json);  // an object or array already rendered
  std::string render() const { return "{" + body_ + "}"; }

 private:
  void key(const std::string& k);
  std::string body_;
};

std::string json_array(const std::vector<std::string>& items);

}  // namespace hakmem::hkmctl
