// A stand-in for a process running libhakmem, so that hkmctl is tested
// without the library: it creates a valid block (block_image.h) in DIR,
// holds its flock, and answers the mailbox in a simple loop.
//
//   fake_process DIR MODE
//     serve   answer every command
//     silent  never answer, and say no service thread runs
//     slow    answer after 300 ms (for concurrent commanders)
//     torn    keep the seqlock odd forever
//     escape  a command name holding a terminal escape sequence
//
// Prints "ready" once the block is in place; on SIGTERM removes it and exits.
#include <fcntl.h>
#include <setjmp.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "block_image.h"

namespace {

using namespace hakmem::hkmctl::testing;

volatile sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }

// Tests plant truncated blocks under the fake's name; a touch of the
// mapping past the new end raises SIGBUS. The fake must outlive that, still
// holding its lock, so the loop starts over and tries again later.
sigjmp_buf g_after_bus;
void on_bus(int) { siglongjmp(g_after_bus, 1); }

struct Fake {
  unsigned char* base = nullptr;
  Image img;
  template <typename T>
  T* at(std::uint64_t off) { return reinterpret_cast<T*>(base + off); }
  layout::Header* header() { return at<layout::Header>(0); }
  std::atomic_ref<std::uint64_t> seq() { return std::atomic_ref<std::uint64_t>(header()->publish_seq); }

  // Changes figures under the seqlock, as the library's publisher does.
  template <typename F>
  void publish(F change) {
    seq().fetch_add(1, std::memory_order_acq_rel);
    change();
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    header()->published_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    header()->publish_count++;
    seq().fetch_add(1, std::memory_order_release);
  }
};

layout::Response answer(Fake& f, const layout::Request& rq) {
  layout::Response r{};
  r.served_by_tid = static_cast<std::uint32_t>(syscall(SYS_gettid));
  auto* s = f.at<layout::Summary>(f.img.summary_offset);
  switch (static_cast<layout::Opcode>(rq.opcode)) {
    case layout::Opcode::kPing:
    case layout::Opcode::kSnapshot:
    case layout::Opcode::kResetPeaks: break;
    case layout::Opcode::kTrim: {
      std::uint64_t freed = s->bytes_free_in_pools + s->bytes_free_huge + s->bytes_free_in_slabs;
      std::uint64_t keep = rq.keep_bytes < freed ? rq.keep_bytes : freed;
      r.rss_before = s->rss_bytes;
      r.released_bytes = freed - keep;
      r.not_released_bytes = keep;
      std::uint32_t nodes = f.header()->node_count;
      for (std::uint32_t n = 0; n < nodes && n < layout::kMaxResultNodes; ++n) {
        if (rq.node_mask == 0 || (rq.node_mask >> n & 1)) r.released_per_node[n] = r.released_bytes / nodes;
      }
      r.rss_after = s->rss_bytes - r.released_bytes;
      f.publish([&] {
        s->bytes_free_in_pools = keep;
        s->bytes_free_huge = 0;
        s->bytes_free_in_slabs = 0;
        s->rss_bytes = r.rss_after;
        s->bytes_resident_estimate -= r.released_bytes;
      });
      if (keep != 0) {
        r.status = static_cast<std::int32_t>(layout::Status::kPartial);
        std::snprintf(r.message, sizeof r.message, "kept %llu bytes as asked", static_cast<unsigned long long>(keep));
      }
      break;
    }
    case layout::Opcode::kFlush:
      r.value = f.header()->node_count + 1;
      f.publish([&] { s->bytes_thread_cached = 0; });
      break;
    case layout::Opcode::kSetKnob: {
      if (std::memchr(rq.key, '\0', sizeof rq.key) == nullptr) {
        r.status = static_cast<std::int32_t>(layout::Status::kBadArgument);
        break;
      }
      r.status = static_cast<std::int32_t>(layout::Status::kUnknownKnob);
      for (std::uint32_t i = 0; i < f.img.knob_count; ++i) {
        auto* k = f.at<layout::Knob>(f.img.knobs_offset + i * sizeof(layout::Knob));
        if (std::strcmp(k->name, rq.key) != 0) continue;
        if ((k->flags & layout::kKnobRuntime) == 0) {
          r.status = static_cast<std::int32_t>(layout::Status::kStartupOnlyKnob);
          std::snprintf(r.message, sizeof r.message, "set %s at start-up", k->variable);
        } else if (rq.value < k->min || rq.value > k->max) {
          r.status = static_cast<std::int32_t>(layout::Status::kOutOfRange);
        } else {
          f.publish([&] { k->value = rq.value; });
          r.status = 0;
          r.value = rq.value;
        }
      }
      break;
    }
    default:
      r.status = static_cast<std::int32_t>(layout::Status::kUnknownOpcode);
      std::snprintf(r.message, sizeof r.message, "opcode %u", rq.opcode);
  }
  f.publish([&] { s->commands_served++; });
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fake_process DIR serve|silent|slow|torn|escape\n");
    return 2;
  }
  std::string dir = argv[1], mode = argv[2];
  ImageSpec spec;
  spec.pid = getpid();
  spec.uid = geteuid();
  spec.start_ticks = own_start_ticks();
  spec.service = mode != "silent";
  if (mode == "escape") spec.command = "evil\x1b]0;owned\x07\x1b[2J";
  Fake f;
  f.img = make_image(spec);
  std::string path = dir + "/hakmem." + std::to_string(geteuid()) + "." + std::to_string(getpid());
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || flock(fd, LOCK_EX) != 0 || write(fd, f.img.bytes.data(), f.img.bytes.size()) !=
                                                static_cast<ssize_t>(f.img.bytes.size())) {
    std::perror("fake_process: block");
    return 1;
  }
  void* map = mmap(nullptr, f.img.bytes.size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return 1;
  f.base = static_cast<unsigned char*>(map);
  if (mode == "torn") f.seq().store(3);
  signal(SIGTERM, on_term);
  struct sigaction bus{};
  bus.sa_handler = on_bus;
  sigaction(SIGBUS, &bus, nullptr);
  std::printf("ready\n");
  std::fflush(stdout);

  auto* mb = f.at<layout::Mailbox>(f.img.mailbox_offset);
  std::atomic_ref<std::uint64_t> request_seq(mb->request_seq), response_seq(mb->response_seq);
  std::atomic_ref<std::uint32_t> doorbell(mb->doorbell), ack(mb->ack);
  if (sigsetjmp(g_after_bus, 1) != 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  while (!g_stop) {
    std::uint32_t bell = doorbell.load(std::memory_order_acquire);
    std::uint64_t rs = request_seq.load(std::memory_order_acquire);
    if (mode != "silent" && rs == response_seq.load(std::memory_order_relaxed) + 1) {
      layout::Request rq;
      std::memcpy(&rq, &mb->request, sizeof rq);
      if (mode == "slow") std::this_thread::sleep_for(std::chrono::milliseconds(300));
      layout::Response r = answer(f, rq);
      std::memcpy(&mb->response, &r, sizeof r);
      response_seq.store(rs, std::memory_order_release);
      ack.fetch_add(1, std::memory_order_release);
      syscall(SYS_futex, &mb->ack, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
      continue;
    }
    timespec ts{0, 100'000'000};
    syscall(SYS_futex, &mb->doorbell, FUTEX_WAIT, bell, &ts, nullptr, 0);
  }
  unlink(path.c_str());
  return 0;
}
