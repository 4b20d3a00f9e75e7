// Collapses of full SuperSlabs into transparent huge pages, done by a
// background thread instead of the allocating one when the process has one
// (the control service thread): MADV_COLLAPSE copies 2 MiB and can take
// milliseconds, which on a program's allocation path shows as a run that is
// slower than the next for no reason the program can see.
//
// Layer: tiers. Lock-free: a slow path pushes a request (the SuperSlab's
// address only: by the time the worker looks, the SuperSlab may have gone
// back to its pool or been unmapped, so the worker never reads it); the
// worker takes every request at once. Requests are records from the
// metadata arena, recycled through a free stack whose head carries a tag
// against ABA, never capped.
//
// The worker checks first that the range is still a SuperSlab of ours (the
// chunk map) and that most of its pages are resident (mincore): a collapse
// makes every page resident, so a SuperSlab whose slabs were carved but not
// yet touched waits for a later wake-up, a few times at most.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem::tiers {

// Whether a worker takes collapses; set by the worker when it starts, and
// cleared in a fork child (which has no such thread until it starts one).
void set_collapse_worker(bool present);
bool collapse_worker_present();

// Queues the collapse of the SuperSlab at `base`; false if no record could
// be had (the caller collapses at once then).
bool defer_collapse(void* base);

// The worker: every queued request whose range is still a SuperSlab with at
// least kResidentShareToCollapse of its pages resident is collapsed; one
// not dense enough yet is queued again, up to kCollapseTries looks. Returns
// the collapses made.
inline constexpr unsigned kCollapseTries = 8;
std::size_t run_deferred_collapses();

// Requests waiting, for tests and stats (walks the queue: not for hot paths).
std::size_t deferred_collapses_pending();

}  // namespace hakmem::tiers
