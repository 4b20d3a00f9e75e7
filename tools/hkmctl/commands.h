// The commands, and what they share: global options, flag parsing, and
// attaching to one process's block.
//
// Layer: tools/hkmctl. Each cmd_* prints its output to stdout and returns an
// exit code, or throws CtlError; main() prints the error line.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "block_reader.h"
#include "target.h"

namespace hakmem::hkmctl {

struct Options {
  bool json = false;
  std::uint64_t timeout_ns = 5'000'000'000;
  std::string dir;  // as given; control_dir() resolves the default
};

// Flags of one command. `spec` maps each flag to whether it takes a value;
// "--flag=value" and "--flag value" both work; anything else starting with
// '-' is a usage error. Positionals keep their order.
struct Flags {
  std::map<std::string, std::vector<std::string>> values;
  std::vector<std::string> positional;
  bool has(const std::string& f) const { return values.count(f) != 0; }
  const std::string& last(const std::string& f) const { return values.at(f).back(); }
};
Flags parse_flags(const std::string& command, const std::vector<std::string>& args,
                  const std::map<std::string, bool>& spec);

// A live process's block, open and parsed, checked to belong to the pid
// and uid in its name and to the process that runs under that pid now.
struct Attached {
  BlockFile file;
  int fd = -1;
  Block block;
  Attached() = default;
  Attached(const Attached&) = delete;
  Attached& operator=(const Attached&) = delete;
  ~Attached();
};
// Throws CtlError: 3 no such process or a stale block, 4 permission,
// 5 incompatible ABI, 1 a suspicious block.
void attach(const Options& o, const std::string& spec, bool for_write, Attached* out);

// One block's row in `ps` (and gc's judgement); never throws.
struct ProcessRow {
  BlockFile file;
  std::string state;   // ok, idle, stale, incompatible, suspicious
  std::string detail;  // why, for the last three
  std::string command;
  std::uint64_t uptime_ns = 0;
  std::uint64_t in_use = 0, resident = 0, free_cached = 0, threads = 0, nodes = 0, age_ns = 0;
};
ProcessRow inspect_row(const BlockFile& f);
// As root, each block is inspected in a child that drops to the owner's uid.
std::vector<ProcessRow> inspect_all(const std::string& dir);

// A block whose figures are older than this is shown as idle.
inline constexpr std::uint64_t kIdleAfterNs = 10'000'000'000;

int cmd_ps(const Options& o, const std::vector<std::string>& args);
int cmd_stats(const Options& o, const std::vector<std::string>& args);
int cmd_get(const Options& o, const std::vector<std::string>& args);
int cmd_watch(const Options& o, const std::vector<std::string>& args);
int cmd_ping(const Options& o, const std::vector<std::string>& args);
int cmd_trim(const Options& o, const std::vector<std::string>& args);
int cmd_flush(const Options& o, const std::vector<std::string>& args);
int cmd_set(const Options& o, const std::vector<std::string>& args);
int cmd_gc(const Options& o, const std::vector<std::string>& args);

}  // namespace hakmem::hkmctl
