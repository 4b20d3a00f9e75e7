// Named figures (see figures.h).
#include "figures.h"

#include "output.h"

namespace hakmem::hkmctl {

#define HKMCTL_FIG(s, f) {#f, (s).f}

NamedFigures summary_figures(const layout::Summary& s) {
  return {HKMCTL_FIG(s, bytes_in_use), HKMCTL_FIG(s, bytes_thread_cached), HKMCTL_FIG(s, bytes_free_in_slabs),
          HKMCTL_FIG(s, bytes_free_in_pools), HKMCTL_FIG(s, bytes_free_huge), HKMCTL_FIG(s, bytes_metadata),
          HKMCTL_FIG(s, bytes_resident_estimate), HKMCTL_FIG(s, bytes_purged), HKMCTL_FIG(s, bytes_mapped),
          HKMCTL_FIG(s, rss_bytes), HKMCTL_FIG(s, peak_bytes_in_use), HKMCTL_FIG(s, peak_rss_bytes),
          HKMCTL_FIG(s, allocations), HKMCTL_FIG(s, frees), HKMCTL_FIG(s, remote_frees), HKMCTL_FIG(s, heaps_active),
          HKMCTL_FIG(s, heaps_idle), HKMCTL_FIG(s, threads_listed), HKMCTL_FIG(s, os_mmap_calls),
          HKMCTL_FIG(s, os_munmap_calls), HKMCTL_FIG(s, os_madvise_calls), HKMCTL_FIG(s, uring_madvise_ranges),
          HKMCTL_FIG(s, uring_submit_calls), HKMCTL_FIG(s, purged_bytes_ever), HKMCTL_FIG(s, thp_collapses),
          HKMCTL_FIG(s, thp_collapse_failures), HKMCTL_FIG(s, service_wakeups), HKMCTL_FIG(s, service_timed_purges),
          HKMCTL_FIG(s, commands_served), HKMCTL_FIG(s, commands_refused), HKMCTL_FIG(s, flush_epoch),
          HKMCTL_FIG(s, flush_epoch_answered)};
}

NamedFigures node_figures(const layout::NodeFigures& n) {
  return {HKMCTL_FIG(n, node), HKMCTL_FIG(n, bytes_mapped), HKMCTL_FIG(n, bytes_in_use), HKMCTL_FIG(n, bytes_cached),
          HKMCTL_FIG(n, bytes_free_in_pools), HKMCTL_FIG(n, remote_frees_in)};
}

NamedFigures tier_figures(const layout::TierFigures& t) {
  return {HKMCTL_FIG(t, tier), HKMCTL_FIG(t, allocations), HKMCTL_FIG(t, frees), HKMCTL_FIG(t, remote_frees),
          HKMCTL_FIG(t, live_blocks), HKMCTL_FIG(t, bytes_in_use), HKMCTL_FIG(t, bytes_cached)};
}

NamedFigures class_figures(const layout::ClassFigures& c) {
  return {HKMCTL_FIG(c, block_bytes), HKMCTL_FIG(c, allocations), HKMCTL_FIG(c, frees), HKMCTL_FIG(c, remote_frees),
          HKMCTL_FIG(c, cached_blocks), HKMCTL_FIG(c, refills), HKMCTL_FIG(c, flushes), HKMCTL_FIG(c, slabs_carved),
          HKMCTL_FIG(c, slabs_released)};
}

NamedFigures thread_figures(const layout::ThreadFigures& t) {
  return {HKMCTL_FIG(t, tid), HKMCTL_FIG(t, node), HKMCTL_FIG(t, state), HKMCTL_FIG(t, allocations),
          HKMCTL_FIG(t, frees), HKMCTL_FIG(t, bytes_cached), HKMCTL_FIG(t, flush_epoch_answered)};
}

#undef HKMCTL_FIG

std::string figures_json(const NamedFigures& f) {
  Json j;
  for (const auto& [name, value] : f) j.num(name, value);
  return j.render();
}

const char* tier_name(std::uint64_t tier) {
  static constexpr const char* kNames[] = {"tiny", "mid", "large", "huge"};
  return tier < 4 ? kNames[tier] : "other";
}

}  // namespace hakmem::hkmctl
