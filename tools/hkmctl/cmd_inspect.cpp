// The commands that only read: ps, stats, get, watch.
//
// Layer: tools/hkmctl. They read the block (pread, under its seqlock) and
// /proc; they never write to the process.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>

#include "commands.h"
#include "figures.h"
#include "output.h"
#include "text.h"

namespace hakmem::hkmctl {
namespace {

std::string header_line(const Attached& a) {
  const layout::Header& h = a.block.header;
  bool service = (h.state_flags & layout::kStateServiceRunning) != 0;
  return "pid " + std::to_string(h.pid) + " (" + field_string(h.command, sizeof h.command) + ")  hakmem " +
         field_string(h.library_version, sizeof h.library_version) + "  figures " +
         format_duration_ns(published_age_ns(a.block)) + " old  service " + (service ? "running" : "not running");
}

Json header_json(const Attached& a) {
  const layout::Header& h = a.block.header;
  Json j;
  j.snum("pid", h.pid)
      .str("command", field_string(h.command, sizeof h.command))
      .str("library_version", field_string(h.library_version, sizeof h.library_version))
      .num("abi_major", h.abi_major)
      .num("abi_minor", h.abi_minor)
      .num("age_ns", published_age_ns(a.block))
      .num("publish_count", h.publish_count)
      .boolean("service_running", (h.state_flags & layout::kStateServiceRunning) != 0);
  return j;
}

}  // namespace

int cmd_ps(const Options& o, const std::vector<std::string>& args) {
  Flags f = parse_flags("ps", args, {});
  if (!f.positional.empty()) usage_error("ps: takes no arguments (see hkmctl help ps)");
  std::vector<ProcessRow> rows = inspect_all(control_dir(o.dir));
  if (o.json) {
    std::vector<std::string> items;
    for (const auto& r : rows) {
      Json j;
      j.snum("pid", r.file.pid).num("uid", r.file.uid).str("command", r.command).num("uptime_ns", r.uptime_ns)
          .num("bytes_in_use", r.in_use).num("bytes_resident_estimate", r.resident).num("bytes_free_cached", r.free_cached)
          .num("threads", r.threads).num("nodes", r.nodes).num("age_ns", r.age_ns).str("state", r.state)
          .str("detail", r.detail);
      items.push_back(j.render());
    }
    std::cout << Json().raw("processes", json_array(items)).render() << "\n";
    return kExitOk;
  }
  Table t({"PID", "COMMAND", "UPTIME", "IN USE", "RESIDENT", "FREE CACHED", "THREADS", "NODES", "STATE"});
  for (const auto& r : rows) {
    bool figures = r.state == "ok" || r.state == "idle";
    auto fig = [&](std::uint64_t v) { return figures ? format_bytes(v) : std::string("-"); };
    t.row({std::to_string(r.file.pid), r.command, figures ? format_duration_ns(r.uptime_ns) : "-", fig(r.in_use),
           fig(r.resident), fig(r.free_cached), figures ? std::to_string(r.threads) : "-",
           figures ? std::to_string(r.nodes) : "-", r.state});
  }
  std::cout << t.render();
  for (const auto& r : rows) {
    if (!r.detail.empty() && r.state != "ok") std::cout << "pid " << r.file.pid << " " << r.state << ": " << r.detail << "\n";
  }
  return kExitOk;
}

int cmd_stats(const Options& o, const std::vector<std::string>& args) {
  Flags f = parse_flags("stats", args, {{"--node", true}, {"--classes", false}, {"--threads", false}, {"--top", true}});
  if (f.positional.size() != 1) usage_error("stats: give one PID (see hkmctl help stats)");
  bool one_node = f.has("--node");
  std::uint64_t node = one_node ? parse_unsigned(f.last("--node"), "--node") : 0;
  std::size_t top = f.has("--top") ? parse_unsigned(f.last("--top"), "--top") : SIZE_MAX;
  if (f.has("--top") && top == 0) usage_error("stats: --top needs a count of at least 1");
  Attached a;
  attach(o, f.positional[0], false, &a);
  const Block& b = a.block;
  const layout::Summary& s = b.summary;
  std::optional<std::uint64_t> rss = process_rss_bytes(a.file.pid);
  std::vector<std::uint64_t> kernel = kernel_node_bytes(a.file.pid);
  std::uint64_t proc_rss = rss.value_or(s.rss_bytes);
  std::uint64_t not_hakmem = proc_rss > s.bytes_resident_estimate ? proc_rss - s.bytes_resident_estimate : 0;

  std::vector<layout::NodeFigures> nodes;
  for (const auto& n : b.nodes) {
    if (!one_node || n.node == node) nodes.push_back(n);
  }
  if (one_node && nodes.empty()) usage_error("stats: the process has no node " + std::to_string(node));
  std::vector<layout::ClassFigures> classes = b.classes;
  std::sort(classes.begin(), classes.end(), [](const auto& x, const auto& y) {
    return (x.allocations - std::min(x.frees, x.allocations)) * x.block_bytes >
           (y.allocations - std::min(y.frees, y.allocations)) * y.block_bytes;
  });
  if (classes.size() > top) classes.resize(top);
  std::vector<layout::ThreadFigures> threads = b.threads;
  std::sort(threads.begin(), threads.end(), [](const auto& x, const auto& y) { return x.bytes_cached > y.bytes_cached; });
  if (threads.size() > top) threads.resize(top);
  auto kernel_at = [&](std::uint64_t n) { return n < kernel.size() ? kernel[n] : 0; };

  if (o.json) {
    Json j = header_json(a);
    j.raw("summary", figures_json(summary_figures(s)));
    j.num("proc_rss_bytes", proc_rss).num("not_hakmem_bytes", not_hakmem);
    std::vector<std::string> items;
    for (const auto& n : nodes) {
      NamedFigures nf = node_figures(n);
      nf.push_back({"kernel_resident_bytes", kernel_at(n.node)});
      items.push_back(figures_json(nf));
    }
    j.raw("nodes", json_array(items));
    items.clear();
    for (const auto& t : b.tiers) items.push_back(figures_json(tier_figures(t)));
    j.raw("tiers", json_array(items));
    if (f.has("--classes")) {
      items.clear();
      for (const auto& c : classes) items.push_back(figures_json(class_figures(c)));
      j.raw("classes", json_array(items));
    }
    if (f.has("--threads")) {
      items.clear();
      for (const auto& t : threads) items.push_back(figures_json(thread_figures(t)));
      j.raw("threads", json_array(items));
    }
    std::cout << j.render() << "\n";
    return kExitOk;
  }

  std::cout << header_line(a) << "\n\n";
  Table w({"WHERE THE MEMORY IS", "BYTES", ""});
  w.row({"in use by the program", format_bytes(s.bytes_in_use), ""});
  w.row({"+ thread caches", format_bytes(s.bytes_thread_cached), ""});
  w.row({"+ free in slabs", format_bytes(s.bytes_free_in_slabs), ""});
  w.row({"+ free in node pools", format_bytes(s.bytes_free_in_pools), ""});
  w.row({"+ free huge ranges", format_bytes(s.bytes_free_huge), ""});
  w.row({"+ metadata", format_bytes(s.bytes_metadata), ""});
  w.row({"= hakmem resident estimate", format_bytes(s.bytes_resident_estimate), ""});
  w.row({"purged (address space only)", format_bytes(s.bytes_purged), ""});
  w.row({"process RSS (/proc)", format_bytes(proc_rss), "at publication " + format_bytes(s.rss_bytes)});
  w.row({"not hakmem (code, stacks, other mappings)", format_bytes(not_hakmem), ""});
  std::cout << w.render() << "\n";

  Table nt({"NODE", "MAPPED", "IN USE", "CACHED", "FREE IN POOLS", "REMOTE FREES IN", "KERNEL RESIDENT"});
  for (const auto& n : nodes) {
    nt.row({std::to_string(n.node), format_bytes(n.bytes_mapped), format_bytes(n.bytes_in_use),
            format_bytes(n.bytes_cached), format_bytes(n.bytes_free_in_pools), std::to_string(n.remote_frees_in),
            kernel.empty() ? "-" : format_bytes(kernel_at(n.node))});
  }
  std::cout << nt.render() << "(kernel resident: every page of the process on that node, from numa_maps)\n\n";

  Table tt({"TIER", "IN USE", "CACHED", "LIVE BLOCKS", "ALLOCATIONS", "FREES", "REMOTE FREES"});
  for (const auto& t : b.tiers) {
    tt.row({tier_name(t.tier), format_bytes(t.bytes_in_use), format_bytes(t.bytes_cached), std::to_string(t.live_blocks),
            std::to_string(t.allocations), std::to_string(t.frees), std::to_string(t.remote_frees)});
  }
  std::cout << tt.render();

  if (f.has("--classes")) {
    Table ct({"CLASS", "ALLOCATIONS", "FREES", "REMOTE FREES", "CACHED BLOCKS", "REFILLS", "FLUSHES", "SLABS"});
    for (const auto& c : classes) {
      ct.row({format_bytes(c.block_bytes), std::to_string(c.allocations), std::to_string(c.frees),
              std::to_string(c.remote_frees), std::to_string(c.cached_blocks), std::to_string(c.refills),
              std::to_string(c.flushes), std::to_string(c.slabs_carved - std::min(c.slabs_released, c.slabs_carved))});
    }
    std::cout << "\n" << ct.render();
  }
  if (f.has("--threads")) {
    Table th({"TID", "NODE", "STATE", "CACHED", "ALLOCATIONS", "FREES", "FLUSH EPOCH"});
    for (const auto& t : threads) {
      th.row({t.tid == 0 ? "-" : std::to_string(t.tid), std::to_string(t.node),
              t.state == layout::kThreadActive ? "active" : t.state == layout::kThreadIdle ? "idle" : "?",
              format_bytes(t.bytes_cached), std::to_string(t.allocations), std::to_string(t.frees),
              std::to_string(t.flush_epoch_answered)});
    }
    std::cout << "\n" << th.render();
  }
  return kExitOk;
}

namespace {

// A schema field's value, formatted for people by its unit.
std::string human_value(const layout::FieldDesc& d, std::int64_t v) {
  if (d.type == layout::FieldType::kI64 || d.type == layout::FieldType::kI32) return std::to_string(v);
  auto u = static_cast<std::uint64_t>(v);
  switch (d.unit) {
    case layout::FieldUnit::kBytes: return std::to_string(u) + " (" + format_bytes(u) + ")";
    case layout::FieldUnit::kNanoseconds: return std::to_string(u) + " (" + format_duration_ns(u) + ")";
    default: return std::to_string(u);
  }
}

struct KeyValue {
  std::string key;
  std::string human;
  std::string json;  // a JSON value
};

std::string knob_text(const layout::Knob& k) {
  if (k.type == static_cast<std::uint32_t>(layout::KnobType::kBool)) return k.value ? "on" : "off";
  if (k.type == static_cast<std::uint32_t>(layout::KnobType::kEnum)) {
    std::string choices = k.choices;
    std::size_t start = 0;
    for (std::uint64_t i = 0; i < k.value && start != std::string::npos; ++i) {
      start = choices.find('|', start);
      if (start != std::string::npos) ++start;
    }
    if (start != std::string::npos) return escape(choices.substr(start, choices.find('|', start) - start));
  }
  if (k.unit == static_cast<std::uint32_t>(layout::FieldUnit::kBytes)) return format_bytes(k.value);
  if (k.unit == static_cast<std::uint32_t>(layout::FieldUnit::kMilliseconds)) return std::to_string(k.value) + " ms";
  if (k.unit == static_cast<std::uint32_t>(layout::FieldUnit::kNanoseconds)) return format_duration_ns(k.value);
  return std::to_string(k.value);
}

void collect_field(const Block& b, const layout::FieldDesc& d, bool indexed, std::vector<KeyValue>* out) {
  const layout::SectionEntry* s = b.section(d.section);
  std::uint32_t count = s == nullptr ? 0 : s->element_count;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::int64_t v = b.signed_field(d, i);
    std::string key = section_name(d.section) + (indexed || count > 1 ? "[" + std::to_string(i) + "]" : "") + "." +
                      escape(d.name);
    bool is_signed = d.type == layout::FieldType::kI64 || d.type == layout::FieldType::kI32;
    out->push_back({key, human_value(d, v), is_signed ? std::to_string(v) : std::to_string(static_cast<std::uint64_t>(v))});
  }
}

}  // namespace

int cmd_get(const Options& o, const std::vector<std::string>& args) {
  Flags f = parse_flags("get", args, {{"--raw", false}});
  if (f.positional.empty()) usage_error("get: give a PID, then keys (see hkmctl help get)");
  Attached a;
  attach(o, f.positional[0], false, &a);
  const Block& b = a.block;
  std::vector<KeyValue> out;
  std::vector<std::string> keys(f.positional.begin() + 1, f.positional.end());
  if (f.has("--raw") || keys.empty()) {
    for (const auto& d : b.schema) {
      if (f.has("--raw") || d.section == layout::kSummary) collect_field(b, d, d.section != layout::kSummary, &out);
    }
    for (const auto& k : b.knobs) out.push_back({std::string("knobs.") + escape(k.name), knob_text(k), std::to_string(k.value)});
  }
  for (const std::string& key : keys) {
    // KEY is a summary field or knob by name, or SECTION.FIELD for every
    // element of a section.
    std::string section = "summary", name = key;
    if (std::size_t dot = key.find('.'); dot != std::string::npos) {
      section = key.substr(0, dot);
      name = key.substr(dot + 1);
    }
    bool found = false;
    for (const auto& d : b.schema) {
      if (name == d.name && section == section_name(d.section)) {
        collect_field(b, d, section != "summary", &out);
        found = true;
      }
    }
    if (!found && (section == "summary" || section == "knobs")) {
      if (const layout::Knob* k = b.knob(name)) {
        out.push_back({escape(name), knob_text(*k), std::to_string(k->value)});
        found = true;
      }
    }
    if (!found) {
      usage_error("get: no field or knob '" + escape(key) + "' in this process (hkmctl get PID --raw lists them)");
    }
  }
  if (o.json) {
    Json j;
    for (const auto& kv : out) j.raw(kv.key, kv.json);
    std::cout << j.render() << "\n";
    return kExitOk;
  }
  Table t({"KEY", "VALUE"});
  for (const auto& kv : out) t.row({kv.key, kv.human});
  std::string text = t.render();
  std::cout << text.substr(text.find('\n') + 1);  // keys and values need no header
  return kExitOk;
}

const std::vector<std::string> kWatchColumns = {"SAMPLE", "IN USE", "RESIDENT", "RSS", "ALLOCS/S",
                                                "FREES/S", "PURGED/S", "FREE CACHED"};

std::string fixed_row(const std::vector<std::string>& cells) {
  std::string line;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    std::size_t w = i == 0 ? 6 : 12;
    std::string pad(cells[i].size() < w ? w - cells[i].size() : 0, ' ');
    line += (i ? "  " : "") + (i == 0 ? cells[i] + pad : pad + cells[i]);
  }
  return line;
}

int cmd_watch(const Options& o, const std::vector<std::string>& args) {
  Flags f = parse_flags("watch", args, {{"--interval", true}, {"--count", true}});
  if (f.positional.size() != 1) usage_error("watch: give one PID (see hkmctl help watch)");
  std::uint64_t interval = f.has("--interval") ? parse_duration_ns(f.last("--interval"), "--interval") : 1'000'000'000;
  if (interval < 10'000'000) usage_error("watch: --interval must be at least 10ms");
  std::uint64_t count = f.has("--count") ? parse_unsigned(f.last("--count"), "--count") : 0;
  if (f.has("--count") && count == 0) usage_error("watch: --count needs at least 1");
  Attached a;
  attach(o, f.positional[0], false, &a);
  layout::Summary prev = a.block.summary;
  std::uint64_t prev_ns = monotonic_ns();
  if (!o.json) std::cout << header_line(a) << "\n";
  bool first = true;
  for (std::uint64_t n = 0; count == 0 || n < count; ++n) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(interval));
    Block b = read_block(a.fd);
    std::uint64_t now = monotonic_ns();
    double secs = static_cast<double>(now - prev_ns) / 1e9;
    const layout::Summary& s = b.summary;
    auto rate = [&](std::uint64_t cur, std::uint64_t old) {
      return cur >= old ? static_cast<std::uint64_t>(static_cast<double>(cur - old) / secs) : 0;
    };
    std::uint64_t free_cached = s.bytes_thread_cached + s.bytes_free_in_slabs + s.bytes_free_in_pools + s.bytes_free_huge;
    std::uint64_t rss = process_rss_bytes(a.file.pid).value_or(s.rss_bytes);
    if (o.json) {
      Json j;
      j.snum("pid", a.file.pid).num("sample", n).num("age_ns", published_age_ns(b)).num("bytes_in_use", s.bytes_in_use)
          .num("bytes_resident_estimate", s.bytes_resident_estimate).num("proc_rss_bytes", rss)
          .num("bytes_free_cached", free_cached).num("allocations_per_s", rate(s.allocations, prev.allocations))
          .num("frees_per_s", rate(s.frees, prev.frees))
          .num("purged_bytes_per_s", rate(s.purged_bytes_ever, prev.purged_bytes_ever));
      std::cout << j.render() << std::endl;
    } else {
      std::vector<std::string> cells = {std::to_string(n + 1), format_bytes(s.bytes_in_use),
                                        format_bytes(s.bytes_resident_estimate), format_bytes(rss),
                                        std::to_string(rate(s.allocations, prev.allocations)),
                                        std::to_string(rate(s.frees, prev.frees)),
                                        format_bytes(rate(s.purged_bytes_ever, prev.purged_bytes_ever)),
                                        format_bytes(free_cached)};
      // Lines come one at a time, so columns get fixed widths.
      if (first) std::cout << fixed_row(kWatchColumns) << "\n";
      std::cout << fixed_row(cells) << std::endl;
    }
    first = false;
    prev = s;
    prev_ns = now;
    if (!lock_held(a.file.path)) throw CtlError(kExitNoProcess, "pid " + std::to_string(a.file.pid) + " exited");
  }
  return kExitOk;
}

}  // namespace hakmem::hkmctl
