// Sending one command through the mailbox (see mailbox_client.h).
#include "mailbox_client.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "target.h"

namespace hakmem::hkmctl {
namespace {

sigjmp_buf g_bus_jump;
volatile sig_atomic_t g_bus_armed = 0;

void on_sigbus(int) {
  if (g_bus_armed) siglongjmp(g_bus_jump, 1);
  signal(SIGBUS, SIG_DFL);
  raise(SIGBUS);
}

long futex(std::uint32_t* word, int op, std::uint32_t value, const timespec* timeout) {
  return syscall(SYS_futex, word, op, value, timeout, nullptr, 0);
}

// Takes the commanders' OFD write lock on the whole file, polling until the
// deadline (F_OFD_SETLKW has no timeout of its own).
bool lock_commanders(int fd, std::uint64_t deadline_ns) {
  struct flock fl{};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  for (;;) {
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return true;
    if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
      throw CtlError(kExitError, std::string("cannot lock the mailbox: ") + std::strerror(errno));
    }
    if (monotonic_ns() >= deadline_ns) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

enum class Exchange { kAnswered, kTimedOut, kBusError };

// Plain code only between sigsetjmp and the last access: siglongjmp must not
// skip a destructor.
Exchange exchange(layout::Mailbox* mb, const layout::Request& request, std::uint64_t deadline_ns,
                  layout::Response* response, std::uint64_t* seq_out) {
  if (sigsetjmp(g_bus_jump, 1) != 0) {
    g_bus_armed = 0;
    return Exchange::kBusError;
  }
  g_bus_armed = 1;
  std::atomic_ref<std::uint64_t> request_seq(mb->request_seq);
  std::atomic_ref<std::uint64_t> response_seq(mb->response_seq);
  std::atomic_ref<std::uint32_t> doorbell(mb->doorbell);
  std::atomic_ref<std::uint32_t> ack(mb->ack);

  std::uint64_t seq = response_seq.load(std::memory_order_acquire) + 1;
  *seq_out = seq;
  std::memcpy(&mb->request, &request, sizeof request);
  request_seq.store(seq, std::memory_order_release);
  doorbell.fetch_add(1, std::memory_order_release);
  futex(&mb->doorbell, FUTEX_WAKE, 1, nullptr);

  Exchange result = Exchange::kTimedOut;
  for (;;) {
    std::uint32_t seen_ack = ack.load(std::memory_order_acquire);
    if (response_seq.load(std::memory_order_acquire) == seq) {
      std::memcpy(response, &mb->response, sizeof *response);
      // The answer is ours only if nobody overwrote it while we copied.
      if (response_seq.load(std::memory_order_acquire) == seq) {
        result = Exchange::kAnswered;
        break;
      }
    }
    std::uint64_t now = monotonic_ns();
    if (now >= deadline_ns) break;
    std::uint64_t left = deadline_ns - now;
    // Wake at least every 50 ms: a process that answers without waking the
    // ack word is still noticed.
    if (left > 50'000'000) left = 50'000'000;
    timespec ts{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
    futex(&mb->ack, FUTEX_WAIT, seen_ack, &ts);
  }
  g_bus_armed = 0;
  return result;
}

}  // namespace

const char* status_name(std::int32_t status) {
  switch (static_cast<layout::Status>(status)) {
    case layout::Status::kOk: return "ok";
    case layout::Status::kUnknownOpcode: return "unknown opcode";
    case layout::Status::kBadArgument: return "bad argument";
    case layout::Status::kUnknownKnob: return "unknown knob";
    case layout::Status::kStartupOnlyKnob: return "start-up-only knob";
    case layout::Status::kOutOfRange: return "value out of range";
    case layout::Status::kBusy: return "busy";
    case layout::Status::kPartial: return "done in part";
  }
  return "unknown status";
}

CommandResult send_command(int fd, const Block& block, layout::Request request, std::uint64_t timeout_ns) {
  if (!block.has_mailbox) throw CtlError(kExitError, "the block has no mailbox: this process cannot take commands");
  request.client_pid = getpid();
  request.client_uid = getuid();
  std::uint64_t start = monotonic_ns();
  std::uint64_t deadline = start + timeout_ns;

  std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  std::uint64_t map_at = block.mailbox_offset / page * page;
  std::uint64_t map_len = block.mailbox_offset + sizeof(layout::Mailbox) - map_at;
  struct stat st{};
  if (fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) < block.mailbox_offset + sizeof(layout::Mailbox)) {
    throw CtlError(kExitError, "the block was truncated under us: the process is exiting or the file was replaced");
  }
  if (!lock_commanders(fd, deadline)) {
    throw CtlError(kExitTimeout, "timed out waiting for another hkmctl's command to finish; retry or raise --timeout");
  }
  void* map = mmap(nullptr, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(map_at));
  if (map == MAP_FAILED) {
    throw CtlError(kExitError, std::string("cannot map the mailbox: ") + std::strerror(errno));
  }
  struct sigaction sa{}, old{};
  sa.sa_handler = on_sigbus;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &old);
  auto* mb = reinterpret_cast<layout::Mailbox*>(static_cast<char*>(map) + (block.mailbox_offset - map_at));
  CommandResult out;
  std::uint64_t seq = 0;
  Exchange ex = exchange(mb, request, deadline, &out.response, &seq);
  sigaction(SIGBUS, &old, nullptr);
  munmap(map, map_len);
  out.round_trip_ns = monotonic_ns() - start;
  // Closing the descriptor (our caller) releases the OFD lock.
  if (ex == Exchange::kBusError) {
    throw CtlError(kExitError, "the block was truncated while we waited: the process is exiting or hostile");
  }
  if (ex == Exchange::kTimedOut) {
    bool service = (block.header.state_flags & layout::kStateServiceRunning) != 0;
    throw CtlError(kExitTimeout,
                   std::string("timed out: pid ") + std::to_string(block.header.pid) + " did not answer" +
                       (service ? "; it may be stopped or overloaded: retry or raise --timeout"
                                : ": it has no service thread (start it with HAKMEM_SERVICE=on), so it answers "
                                  "only when it calls the allocator"));
  }
  layout::Response& r = out.response;
  if (r.status < 0 || r.status > static_cast<std::int32_t>(layout::Status::kPartial)) {
    throw CtlError(kExitError, "the process answered with an unknown status " + std::to_string(r.status));
  }
  r.message[sizeof r.message - 1] = '\0';
  return out;
}

}  // namespace hakmem::hkmctl
