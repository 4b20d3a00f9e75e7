// hkmctl: look into and steer a live hakmem process from outside.
//
// Layer: tools/hkmctl. Parses the global options, dispatches to a command
// and turns every CtlError into one line on stderr and its exit code.
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "commands.h"
#include "text.h"

namespace hakmem::hkmctl {
namespace {

struct Command {
  int (*run)(const Options&, const std::vector<std::string>&);
  const char* usage;
  const char* help;
};

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> kCommands = {
      {"ps", {cmd_ps, "ps", "List every hakmem process of yours (every user's, as root): pid, command, uptime,\n"
                           "bytes in use, resident, free cached, threads, nodes, and state: ok, idle (figures\n"
                           "older than 10 s), stale (the process died; see gc), incompatible (another ABI),\n"
                           "suspicious (the block fails validation)."}},
      {"stats", {cmd_stats, "stats PID [--node N] [--classes] [--threads] [--top K]",
                 "The waterfall from the program's bytes to the process's RSS, per node (with the\n"
                 "kernel's page counts from /proc/PID/numa_maps beside hakmem's), per tier, and with\n"
                 "--classes and --threads per size class and per thread (the K largest with --top)."}},
      {"trim", {cmd_trim, "trim PID [--node N[,N...]] [--keep SIZE]",
                "Make the process give free memory back now (nodes 0-63; all by default), leaving\n"
                "--keep SIZE resident. Prints what went back per node and RSS before and after."}},
      {"flush", {cmd_flush, "flush PID", "Flush every thread's cache, cooperatively (idle heaps by the service thread)."}},
      {"get", {cmd_get, "get PID [KEY...] [--raw]",
               "Print figures by name: a summary field or knob (bytes_in_use, purge_delay), or\n"
               "SECTION.FIELD for every element of a section (nodes.bytes_in_use). With no KEY,\n"
               "the summary and the knobs; --raw prints every field the block's schema lists."}},
      {"set", {cmd_set, "set PID KEY=VALUE...",
               "Change runtime knobs, with units (8MiB, 200ms, on/off). A start-up-only knob is\n"
               "refused, naming the environment variable to set instead."}},
      {"watch", {cmd_watch, "watch PID [--interval DUR] [--count N]",
                 "A live view, one line per interval (default 1s) with per-second rates; NDJSON\n"
                 "with --json. Stops after N lines with --count, or when the process exits."}},
      {"ping", {cmd_ping, "ping PID", "Send a ping through the mailbox: the round trip and the thread that answered."}},
      {"gc", {cmd_gc, "gc [--dry-run]",
              "Remove stale blocks: regular single-link files named hakmem.<uid>.<pid> whose lock\n"
              "no process holds, or whose pid now runs another process."}},
  };
  return kCommands;
}

constexpr const char* kGlobal =
    "usage: hkmctl [--json] [--timeout DUR] [--dir DIR] COMMAND [ARGS]\n"
    "\n"
    "  --json         machine-readable output: stable snake_case keys, raw integers\n"
    "  --timeout DUR  how long a command waits for the process (default 5s)\n"
    "  --dir DIR      where blocks live (default $HAKMEM_CONTROL_DIR, else /dev/shm)\n"
    "\n"
    "PID is a process id or a process name. Exit codes: 0 ok, 1 error, 2 usage, 3 no such\n"
    "process or stale, 4 permission denied, 5 incompatible ABI, 6 timed out, 7 refused.\n"
    "\n"
    "commands:\n";

void print_help(const std::string& name) {
  if (name.empty()) {
    std::cout << kGlobal;
    for (const auto& [n, c] : commands()) std::cout << "  " << c.usage << "\n";
    std::cout << "\nhkmctl help COMMAND, or hkmctl COMMAND --help, for one command; man hkmctl for all.\n";
    return;
  }
  const Command& c = commands().at(name);
  std::cout << "usage: hkmctl [--json] [--timeout DUR] [--dir DIR] " << c.usage << "\n\n" << c.help << "\n";
}

int run_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Options o;
  std::size_t i = 0;
  for (; i < args.size() && args[i].size() > 1 && args[i][0] == '-'; ++i) {
    std::string a = args[i], value;
    bool inline_value = false;
    if (std::size_t eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      inline_value = true;
    }
    auto take = [&]() -> std::string {
      if (inline_value) return value;
      if (i + 1 >= args.size()) usage_error(a + " needs a value (see hkmctl --help)");
      return args[++i];
    };
    if (a == "--json" && !inline_value) {
      o.json = true;
    } else if (a == "--timeout") {
      o.timeout_ns = parse_duration_ns(take(), "--timeout");
      if (o.timeout_ns == 0) usage_error("--timeout must be more than 0");
    } else if (a == "--dir") {
      o.dir = take();
      if (o.dir.empty()) usage_error("--dir needs a directory");
    } else if ((a == "--help" || a == "-h") && !inline_value) {
      print_help("");
      return kExitOk;
    } else {
      usage_error("unknown option " + escape(a) + " (see hkmctl --help)");
    }
  }
  if (i >= args.size()) usage_error("no command given (see hkmctl --help)");
  std::string name = args[i++];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i), args.end());
  if (name == "help") {
    if (rest.size() > 1) usage_error("help: give at most one command");
    if (!rest.empty() && commands().count(rest[0]) == 0) usage_error("help: no command '" + escape(rest[0]) + "'");
    print_help(rest.empty() ? "" : rest[0]);
    return kExitOk;
  }
  auto it = commands().find(name);
  if (it == commands().end()) usage_error("unknown command '" + escape(name) + "' (see hkmctl --help)");
  for (const auto& a : rest) {
    if (a == "--help" || a == "-h") {
      print_help(name);
      return kExitOk;
    }
  }
  return it->second.run(o, rest);
}

}  // namespace
}  // namespace hakmem::hkmctl

int main(int argc, char** argv) {
  using namespace hakmem::hkmctl;
  try {
    return run_main(argc, argv);
  } catch (const CtlError& e) {
    std::cout.flush();
    std::cerr << "hkmctl: " << e.what() << "\n";
    return e.code();
  } catch (const std::exception& e) {
    std::cerr << "hkmctl: " << escape(e.what()) << "\n";
    return kExitError;
  }
}
