// Growing buffers: --live buffers grow side by side, one growth step each in
// turn, from --start bytes to --max bytes, as a program builds many strings
// or vectors at once; then each is checked in full and freed, and the next
// round starts. Interleaving keeps a buffer's neighbours busy, so growing in
// place is not free.
//
//   realloc_growth --growth=double|BYTES --via=realloc|copy --max=4194304
//                  --live=16 --rounds=4 --start=16
//
// --growth=double doubles the size (a vector's capacity); --growth=16 adds
// 16 bytes (a string appended to). --via=realloc calls realloc; --via=copy
// does what std::vector does: malloc the new size, copy, free the old block.
// Each step writes the new bytes with a pattern that depends on the offset
// and the buffer (see kTemplate); after each step the bytes around the old end are checked
// (a move that lost the contents fails at once), and every byte is checked
// before the buffer is freed.
//
// One op is one growth step (one realloc, or one malloc+copy+free). Prints
// ops/sec, ops per CPU-second and the peak RSS.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bench_util.h"

namespace {

constexpr const char* kUsage =
    "usage: realloc_growth [--growth=double|BYTES] [--via=realloc|copy] [--max=4194304] [--live=16]\n"
    "                      [--rounds=4] [--start=16]";

struct Buffer {
  unsigned char* p = nullptr;
  uint64_t size = 0;
  uint64_t id = 0;
};

// The contents: byte i of buffer id is kTemplate[(i + id) % kPeriod], a
// pattern of prime period, so a block moved by any offset other than a
// multiple of 251 bytes (no page or cache-line multiple is one) reads wrong.
// Filling and checking go a chunk at a time with memcpy and memcmp, so they
// run at memory speed and leave the time to the allocator and the kernel.
constexpr uint64_t kPeriod = 251;
constexpr uint64_t kChunk = 4096;
unsigned char kTemplate[kPeriod + kChunk];

void init_template() {
  for (uint64_t i = 0; i < sizeof kTemplate; ++i) kTemplate[i] = static_cast<unsigned char>((i % kPeriod) * 97 + 13);
}

void fill(Buffer& b, uint64_t from, uint64_t to) {
  while (from < to) {
    uint64_t n = to - from < kChunk ? to - from : kChunk;
    std::memcpy(b.p + from, kTemplate + (from + b.id) % kPeriod, n);
    from += n;
  }
}

[[noreturn]] void mismatch(const Buffer& b, uint64_t offset) {
  std::fprintf(stderr, "ERROR name=realloc_growth buffer %llu (size %llu) wrong near offset %llu\n",
               static_cast<unsigned long long>(b.id), static_cast<unsigned long long>(b.size),
               static_cast<unsigned long long>(offset));
  std::exit(3);
}

void check_range(const Buffer& b, uint64_t from, uint64_t to) {
  while (from < to) {
    uint64_t n = to - from < kChunk ? to - from : kChunk;
    if (std::memcmp(b.p + from, kTemplate + (from + b.id) % kPeriod, n) != 0) mismatch(b, from);
    from += n;
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"growth", "via", "max", "live", "rounds", "start"});
  std::string growth = args.str("growth", "double");
  std::string via = args.str("via", "realloc");
  uint64_t max = args.u64("max", 4 << 20);
  uint64_t live = args.u64("live", 16);
  uint64_t rounds = args.u64("rounds", 4);
  uint64_t start_size = args.u64("start", 16);
  bool doubling = growth == "double";
  uint64_t step = doubling ? 0 : args.u64("growth", 16);
  if (!doubling && step == 0) args.fail("--growth must be double or a byte count >= 1", growth.c_str());
  if (via != "realloc" && via != "copy") args.fail("--via must be realloc or copy", via.c_str());
  bool use_realloc = via == "realloc";
  if (start_size == 0 || max < start_size || live == 0) args.fail("need 1 <= --start <= --max, --live >= 1", "");

  init_template();
  std::vector<Buffer> bufs(live);
  uint64_t ops = 0;
  uint64_t bytes_grown = 0;
  double t0 = bench::now_s();
  double c0 = bench::cpu_s();
  for (uint64_t r = 0; r < rounds; ++r) {
    for (uint64_t i = 0; i < live; ++i) {
      Buffer& b = bufs[i];
      b.id = r * live + i;
      b.size = start_size;
      b.p = static_cast<unsigned char*>(std::malloc(b.size));
      if (b.p == nullptr) args.fail("malloc returned null", "");
      fill(b, 0, b.size);
    }
    for (uint64_t grown = 0; grown < live;) {
      grown = 0;
      for (Buffer& b : bufs) {
        if (b.size >= max) {
          ++grown;
          continue;
        }
        uint64_t old = b.size;
        uint64_t size = doubling ? old * 2 : old + step;
        if (size > max) size = max;
        unsigned char* p;
        if (use_realloc) {
          p = static_cast<unsigned char*>(std::realloc(b.p, size));
          if (p == nullptr) args.fail("realloc returned null", "");
        } else {
          p = static_cast<unsigned char*>(std::malloc(size));
          if (p == nullptr) args.fail("malloc returned null", "");
          std::memcpy(p, b.p, old);
          std::free(b.p);
        }
        b.p = p;
        b.size = size;
        // The first and last bytes kept: a move that copied too little, or
        // from the wrong place, shows here.
        check_range(b, 0, old < 8 ? old : 8);
        check_range(b, old > 8 ? old - 8 : 0, old);
        fill(b, old, size);
        bytes_grown += size - old;
        ++ops;
      }
    }
    for (Buffer& b : bufs) {
      check_range(b, 0, b.size);
      std::free(b.p);
      b.p = nullptr;
    }
  }
  double elapsed = bench::now_s() - t0;
  double cpu = bench::cpu_s() - c0;

  bench::ResultLine("realloc_growth")
      .add("threads", 1)
      .add("growth", growth)
      .add("via", via)
      .add("max", max)
      .add("live", live)
      .add("rounds", rounds)
      .add("bytes_grown", bytes_grown)
      .add_throughput(ops, elapsed, cpu)
      .print();
  return 0;
}
