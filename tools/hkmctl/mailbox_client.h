// Sending one command through a block's mailbox and waiting for its answer.
//
// Layer: tools/hkmctl. Commanders serialise with an OFD write lock on the
// whole file (released by the kernel if we die mid-command, unlike a lock
// word in the block). The mailbox's futex words need a shared mapping; it
// covers the mailbox only, the file's size is checked first, and every access
// runs under a SIGBUS guard, since the owner could still truncate the file
// while we wait.
#pragma once

#include <cstdint>

#include "block_reader.h"

namespace hakmem::hkmctl {

struct CommandResult {
  layout::Response response{};
  std::uint64_t round_trip_ns = 0;
};

// Sends `request` (its client fields are filled here) to the process whose
// block is open read-write in `fd` and parsed in `block`. Waits at most
// `timeout_ns` for the lock and the answer together. Throws CtlError: 6 on
// timeout (saying when no service thread runs), 1 for a block without a
// mailbox or an answer that fails validation. A well-formed answer with an
// error status is returned, not thrown: callers word it.
CommandResult send_command(int fd, const Block& block, layout::Request request, std::uint64_t timeout_ns);

// "ok", "unknown opcode", ... for a Status value.
const char* status_name(std::int32_t status);

}  // namespace hakmem::hkmctl
