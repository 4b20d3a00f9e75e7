/*
 * hakmem: a NUMA-aware, huge-page-backed malloc for Linux servers.
 *
 * Preloaded (LD_PRELOAD=libhakmem.so) or linked (-lhakmem), hakmem replaces
 * malloc, free, the rest of the C allocation interface and every C++
 * operator new and delete. This header adds hakmem's own calls: the same
 * allocation functions under hkm_ names (usable without replacing malloc),
 * trimming, and a statistics snapshot.
 *
 * Every function is thread-safe. None throws.
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HKM_VERSION_MAJOR 0
#define HKM_VERSION_MINOR 1

/* The library's version, "MAJOR.MINOR.PATCH". */
const char* hkm_version(void);

/* malloc, free, calloc, realloc and aligned_alloc with the C library's
 * semantics: null and errno = ENOMEM when memory is exhausted or a size
 * overflows; hkm_realloc(p, 0) frees p and returns null; hkm_aligned_alloc
 * takes any power-of-two alignment (EINVAL otherwise). */
void* hkm_malloc(size_t size);
void hkm_free(void* ptr);
void* hkm_calloc(size_t count, size_t size);
void* hkm_realloc(void* ptr, size_t size);
void* hkm_aligned_alloc(size_t alignment, size_t size);

/* Bytes usable in the block at ptr (at least what was asked for); 0 for
 * null. Also answers for pointers the C library's malloc made. */
size_t hkm_usable_size(const void* ptr);

/* Gives free memory back to the OS: the calling thread's cache, the empty
 * slabs of idle threads, empty SuperSlabs and cached huge blocks. Returns
 * the bytes purged or unmapped. */
size_t hkm_trim(void);

/* Pins the calling thread's heap to NUMA node `node`: the memory it
 * allocates from now on comes from that node (blocks it allocated before
 * stay where they are). Returns 0, or -1 with errno EINVAL when the node
 * does not exist, has no memory, or is outside the nodes this process may
 * use (its cpuset, HAKMEM_NUMA=bind:LIST). */
int hkm_thread_set_node(int node);

/* The NUMA node the calling thread's allocations come from. */
int hkm_thread_node(void);

/* A statistics snapshot, summed over every thread. Counts are exact once
 * the threads that allocate are quiet; while they run, each figure is exact
 * but they are not taken at one instant. */
struct hkm_stats {
  uint64_t allocations;     /* blocks handed out, ever (all tiers) */
  uint64_t frees;           /* blocks given back, ever */
  uint64_t remote_frees;    /* the part of frees made by another thread than the owner's */
  uint64_t live_blocks;     /* allocations - frees */
  uint64_t bytes_in_use;    /* live blocks x their block size */
  uint64_t bytes_cached;    /* free blocks held in thread caches and the huge cache */
  uint64_t bytes_mapped;    /* address space hakmem holds from the OS */
  uint64_t superslabs_mapped; /* 2 MiB SuperSlabs mapped now */
  uint64_t huge_live_blocks;
  uint64_t huge_live_bytes;
  uint64_t threads_active;  /* heaps attached to a running thread */
  uint64_t threads_idle;    /* heaps left by exited threads, awaiting reuse */
  uint64_t os_map_calls;
  uint64_t os_unmap_calls;
  uint64_t os_madvise_calls;
  uint64_t hugetlb_fallbacks; /* hugetlb allowed but refused by the kernel */
  uint64_t thp_fallbacks;     /* THP advice refused */
  uint64_t map_failures;      /* every backing refused: ENOMEM */
  uint64_t thp_collapses;     /* full SuperSlabs made transparent huge pages */
  uint64_t thp_collapse_refusals; /* ... that the kernel would not (no huge page free, kernel before 6.1) */
};

/* Fills *out (whose size the caller passes, for forward compatibility:
 * fields beyond out_size are not written). Returns 0, or -1 with errno =
 * EINVAL for a null pointer or a size smaller than the first field. */
int hkm_stats_get(struct hkm_stats* out, size_t out_size);

/* Writes the human-readable report (the one HAKMEM_STATS=1 prints at
 * exit) to the file descriptor fd. */
void hkm_stats_print(int fd);

/* Memory on one NUMA node. Like struct hkm_stats, versioned by its size. */
struct hkm_node_stats {
  uint64_t bytes_mapped;  /* SuperSlabs (in use, free, reserved) and huge-block spans on the node */
  uint64_t bytes_in_use;  /* live blocks of the node's heaps, and live huge blocks there */
  uint64_t bytes_cached;  /* free blocks in the node's thread caches, free huge ranges there */
};

/* Fills *out (size: sizeof *out) for `node`; 0, or -1 with errno EINVAL for
 * a node the machine does not have or a size that is not one this library
 * knows. */
int hkm_node_stats_get(int node, struct hkm_node_stats* out, size_t size);

/* Blocks freed by threads of node `from` that belonged to heaps of node
 * `to`, ever (from == to: freed by another thread of the same node). 0 for
 * nodes the machine does not have. */
uint64_t hkm_remote_frees(int from, int to);

/* The number of node ids the machine reports (the highest id + 1). */
int hkm_node_count(void);

/* One NUMA node of the machine, as hwloc describes it. The topology is read
 * on the first call of hkm_node_info_get or hkm_node_distance, not at
 * start-up (a full read takes milliseconds); without hwloc the machine is
 * one node with every CPU. Versioned by its size, like struct hkm_stats. */
struct hkm_node_info {
  uint64_t memory_bytes; /* the node's memory; 0: a node without memory */
  uint32_t cpu_count;    /* its CPUs that this process may run on; 0: none */
  int32_t nearest;       /* where the memory of threads running there comes
                            from: the node itself when memory may go there,
                            else the nearest node the placement allows */
};

/* Fills *out (size: sizeof *out) for `node`; 0, or -1 with errno EINVAL for
 * a node the machine does not have (or the process's cpuset hides) or a
 * size this library does not know. */
int hkm_node_info_get(int node, struct hkm_node_info* out, size_t size);

/* The firmware's distance between two nodes: 10 from a node to itself,
 * more the farther (21 is typical across sockets). 0 where the machine
 * gives none; -1 with errno EINVAL for a node it does not have. */
int hkm_node_distance(int from, int to);

/* 1 if CPU `cpu` belongs to node `node`, 0 if not; -1 with errno EINVAL
 * for a node the machine does not have. */
int hkm_node_has_cpu(int node, int cpu);

/* Settings and figures by name: the names hkmctl's get and set use (the
 * knobs "purge_delay" and "service_interval", in milliseconds, may change
 * at run time; "huge_pages", "control", "control_delay" and "service" are
 * start-up settings, read from their HAKMEM_* variables; any field of the
 * summary, such as "bytes_in_use" or "rss_bytes", may be read). Both
 * return 0, or an errno value: ENOENT for a name hakmem does not know,
 * EPERM for setting a start-up setting, ERANGE for a value outside the
 * knob's range, EINVAL for a null argument. */
int hkm_ctl_get(const char* name, uint64_t* value);
int hkm_ctl_set(const char* name, uint64_t value);

/* The summary and the knobs as one JSON object with the keys hkmctl --json
 * uses and raw integers. Writes at most size bytes, NUL included (nothing
 * when size is 0) and returns the length of the whole report, as snprintf
 * does: call again with a larger buffer when the result is >= size. */
size_t hkm_report_json(char* buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_H */
