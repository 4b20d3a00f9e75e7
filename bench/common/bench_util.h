// Shared helpers for the workload programs in bench/workloads: argument
// parsing, a cheap random generator, timing, resident-memory readings, block
// stamping, and the one RESULT line each program prints.
//
// The workloads are plain executables: they call malloc and free and let the
// runner (bench/run.py) choose the allocator with LD_PRELOAD. Nothing here may
// depend on hakmem. Helpers that allocate (the argument map, the result line)
// run only before or after the timed part.
#pragma once

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace bench {

// --key=value arguments. Every key a program reads must be named in
// `known`, so a misspelt option fails loudly instead of silently measuring
// the default.
class Args {
 public:
  Args(int argc, char** argv, const char* usage, std::initializer_list<const char*> known) : usage_(usage) {
    for (int i = 1; i < argc; ++i) {
      const char* a = argv[i];
      if (std::strcmp(a, "--help") == 0 || std::strcmp(a, "-h") == 0) {
        std::printf("%s\n", usage_);
        std::exit(0);
      }
      const char* eq = std::strchr(a, '=');
      if (std::strncmp(a, "--", 2) != 0 || eq == nullptr) fail("expected --key=value", a);
      std::string key(a + 2, eq);
      bool ok = false;
      for (const char* k : known) ok = ok || key == k;
      if (!ok) fail("unknown option", a);
      values_[key] = eq + 1;
    }
  }

  uint64_t u64(const char* key, uint64_t dflt) const {
    auto it = values_.find(key);
    if (it == values_.end()) return dflt;
    char* end = nullptr;
    unsigned long long v = std::strtoull(it->second.c_str(), &end, 0);
    if (end == it->second.c_str() || *end != '\0') fail("not an unsigned integer", it->second.c_str());
    return v;
  }

  double f64(const char* key, double dflt) const {
    auto it = values_.find(key);
    if (it == values_.end()) return dflt;
    char* end = nullptr;
    double v = std::strtod(it->second.c_str(), &end);
    if (end == it->second.c_str() || *end != '\0') fail("not a number", it->second.c_str());
    return v;
  }

  std::string str(const char* key, const char* dflt) const {
    auto it = values_.find(key);
    return it == values_.end() ? std::string(dflt) : it->second;
  }

  [[noreturn]] void fail(const char* what, const char* arg) const {
    std::fprintf(stderr, "error: %s: %s\n%s\n", what, arg, usage_);
    std::exit(2);
  }

 private:
  const char* usage_;
  std::map<std::string, std::string> values_;
};

// A size range [min, max], by class name or as "MIN-MAX" in bytes. The named
// classes follow the tiers a server allocator usually has: tiny, mid, large
// (up to 1 MiB) and huge (mapped blocks).
struct SizeRange {
  uint64_t min = 0;
  uint64_t max = 0;
};

inline bool parse_size_range(const std::string& s, SizeRange* out) {
  struct Named {
    const char* name;
    uint64_t min, max;
  };
  static const Named kNamed[] = {
      {"tiny", 8, 1024},
      {"mid", 1024, 32 * 1024},
      {"large", 32 * 1024, 1024 * 1024},
      {"huge", 1024 * 1024, 16 * 1024 * 1024},
  };
  for (const Named& n : kNamed) {
    if (s == n.name) {
      *out = {n.min, n.max};
      return true;
    }
  }
  char* end = nullptr;
  uint64_t lo = std::strtoull(s.c_str(), &end, 0);
  if (end == s.c_str() || *end != '-') return false;
  const char* rest = end + 1;
  uint64_t hi = std::strtoull(rest, &end, 0);
  if (end == rest || *end != '\0' || lo == 0 || hi < lo) return false;
  *out = {lo, hi};
  return true;
}

// xorshift64*: a few instructions per number, so the generator costs the
// same under every allocator and stays out of the measurement.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {
    if (state_ == 0) state_ = 1;
  }
  uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  // Uniform in [0, n), n > 0. The multiply-shift avoids a division.
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<__uint128_t>(next()) * n) >> 64); }
  // Uniform in [lo, hi].
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }

 private:
  uint64_t state_;
};

inline double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// A field of /proc/self/status in KiB (VmRSS: resident now; VmHWM: peak), or
// -1 when unreadable. Reads with stdio, which may allocate: call it outside
// timed sections.
inline long status_kb(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kb = -1;
  size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      kb = std::strtol(line + n + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kb;
}

// CPU time of the whole process (every thread, user and system), in seconds.
// On a machine shared with other work, ops per CPU-second moves less than
// ops per wall-second, since time spent descheduled does not count.
inline double cpu_s() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// The wall and CPU time of a timed section.
struct Timing {
  double elapsed_s;
  double cpu_s;
};

// Lines up a program's threads so that thread start-up and warm-up stay out
// of the timed window: each worker calls arrive_and_wait() once warm; the
// main thread's release_and_join() waits until all have arrived, starts
// the clocks, lets them go and stops the clocks when the last has joined.
class StartLine {
 public:
  void arrive_and_wait() {
    ready_.fetch_add(1);
    while (!go_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  Timing release_and_join(std::vector<std::thread>& pool, uint64_t workers) {
    while (ready_.load() != workers) std::this_thread::yield();
    const double start = now_s();
    const double start_cpu = cpu_s();
    go_.store(true, std::memory_order_release);
    for (std::thread& t : pool) t.join();
    return {now_s() - start, cpu_s() - start_cpu};
  }

 private:
  std::atomic<uint64_t> ready_{0};
  std::atomic<bool> go_{false};
};

// Peak resident set of this program so far, in KiB: VmHWM, the high-water
// mark of the current address space. Not getrusage's ru_maxrss: the kernel
// carries ru_maxrss across execve (it keeps the larger of the old and new
// images), so a program started by a big parent (the Python runner forks,
// then execs us) would report the parent's size. ru_maxrss is the fallback
// when /proc is unreadable. Reads /proc with stdio: call it after the timed
// section.
inline long peak_rss_kb() {
  long hwm = status_kb("VmHWM");
  if (hwm >= 0) return hwm;
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// Stamps a fresh block: its first 8 bytes hold its size and a salt, its last
// byte a check value. check_block() verifies both before the block is freed,
// so an allocator that hands out overlapping or too-small blocks shows up as
// a failed run rather than a fast one. Requires size >= 8.
inline void stamp_block(void* p, uint64_t size, uint64_t salt) {
  uint64_t word = (size << 16) | (salt & 0xffff);
  std::memcpy(p, &word, sizeof word);
  if (size > sizeof word) static_cast<unsigned char*>(p)[size - 1] = static_cast<unsigned char>(size ^ salt);
}

inline bool check_block(const void* p, uint64_t salt) {
  uint64_t word;
  std::memcpy(&word, p, sizeof word);
  if ((word & 0xffff) != (salt & 0xffff)) return false;
  uint64_t size = word >> 16;
  if (size > sizeof word) {
    return static_cast<const unsigned char*>(p)[size - 1] == static_cast<unsigned char>(size ^ salt);
  }
  return true;
}

[[noreturn]] inline void corrupted(const char* name, const void* p) {
  std::fprintf(stderr, "ERROR name=%s block %p corrupted (stamp mismatch before free)\n", name, p);
  std::exit(3);
}

// The one machine-readable line: "RESULT name=<name> key=value ...". The
// runner parses it; humans can read it too.
class ResultLine {
 public:
  explicit ResultLine(const char* name) { line_ = std::string("RESULT name=") + name; }
  ResultLine& add(const char* key, uint64_t v) { return raw(key, std::to_string(v)); }
  ResultLine& add(const char* key, long v) { return raw(key, std::to_string(v)); }
  ResultLine& add(const char* key, int v) { return raw(key, std::to_string(v)); }
  ResultLine& add(const char* key, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return raw(key, buf);
  }
  ResultLine& add(const char* key, const std::string& v) { return raw(key, v); }
  // The timed part's figures, the same keys in every workload: ops,
  // elapsed_s, ops_per_sec, cpu_s, ops_per_cpu_sec, and peak_rss_kb.
  ResultLine& add_throughput(uint64_t ops, double elapsed_s, double cpu_s) {
    return add("ops", ops)
        .add("elapsed_s", elapsed_s)
        .add("ops_per_sec", static_cast<double>(ops) / elapsed_s)
        .add("cpu_s", cpu_s)
        .add("ops_per_cpu_sec", cpu_s > 0 ? static_cast<double>(ops) / cpu_s : 0.0)
        .add("peak_rss_kb", peak_rss_kb());
  }
  void print() const {
    std::printf("%s\n", line_.c_str());
    std::fflush(stdout);
  }

 private:
  ResultLine& raw(const char* key, const std::string& v) {
    line_ += ' ';
    line_ += key;
    line_ += '=';
    line_ += v;
    return *this;
  }
  std::string line_;
};

}  // namespace bench
