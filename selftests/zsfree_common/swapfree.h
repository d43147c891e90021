/* SPDX-License-Identifier: GPL-2.0 */
/*
 * swapfree.h - helpers shared by the zram_free and zswap_free kselftests.
 *
 * What lives here: swap setup on our own zram device / our own backing swap
 * with zswap enabled, guaranteed restore (a guardian process, see below),
 * patterned fill + verify, MADV_PAGEOUT + pagemap check, worker processes
 * released together, CLOCK_MONOTONIC statistics, zram mm_stat / zswap pool
 * readers, Part B detection (struct zsf_caps), the reference series'
 * "deferred" counters where the kernel has them, and a kernel-log splat scan.
 * One unit per job implements them (zsf_internal.h is what the units share):
 *   zsf_env.c       knobs, page size, sysfs file helpers
 *   zsf_caps.c      Part B detection and its words for SKIP messages
 *   zsf_guard.c     the restore guardian, repair, fault points
 *   zsf_backend.c   zram / zswap setup and teardown, compaction triggers
 *   zsf_poolstat.c  pool readings, the wait for the baseline, counters
 *   zsf_memory.c    regions, fill + verify, page-out
 *   zsf_measure.c   clocks, kworker CPU time, percentiles, figure lines
 *   zsf_kmsg.c      the kernel-log splat scan
 *   zsf_proc.c      workers, tools, the release barrier, shared memory
 *   zsf_percall.c   per-call time of kernel functions (kprobes, hist triggers)
 *
 * Part B by capability: revisions differ (per-cpu buffers with only
 * zs_free_deferred(), a per-pool queue with zs_free_deferred_flush(), a
 * callback-ops framework with zs_pool_enable_deferred_free(), a zram-level
 * lazy GC or deferred free_zspage() with no zsmalloc API at all). Each
 * thing is detected on its own from the running kernel: the calls by name
 * in /proc/kallsyms, the reference's fail_function target in
 * fail_function/injectable, its counters in debugfs zsmalloc/<pool>/deferred
 * for our pool. The first setup of a run prints them once:
 *   # zsgate: caps backend=<zram|zswap> zs_free_deferred=<0|1|?> flush=<..>
 *     ops=<..> counters=<0|1> failfn=<0|1|?>
 * (one line; "?" = not knowable here: no /proc/kallsyms, no fail_function).
 * Correctness checks (data, pool back at baseline within a deadline, no
 * splat) use none of them; checks that need counters or the fail_function
 * target SKIP naming what is missing.
 *
 * Environment knobs (read once by zsf_env_load()):
 *   ZSGATE_QUICK=1        small sizes (size/4, at least 16 MB), 2 rounds,
 *                         short race runs: for a host check / `make check`.
 *   ZSGATE_ROUNDS=R       rounds per timed case (default: munmap 5,
 *                         teardown and return rate 3; quick 2).
 *   ZSGATE_SIZES_MB=a,b   only these munmap sizes run (others SKIP, naming
 *                         the knob); sizes are the nominal variant sizes.
 *   ZSGATE_RACE_S=S       seconds per race test (default 5, quick 2).
 *   ZSGATE_SWAPDIR=dir    where zswap_free puts its backing swap file
 *                         (default /var/tmp, else /tmp); a loop device over
 *                         a sparse file is used when the fs refuses swapfiles.
 *   ZSGATE_STATE_DIR=dir  guardian state files (default /run/zsgate).
 *   ZSGATE_REPAIR=1       only repair what killed runs left behind, exit.
 *   ZSGATE_PAGEOUT=drain  drain all CPUs' LRU batches before MADV_PAGEOUT
 *                         (every page goes out; see zsf_pageout()).
 *   ZSGATE_FAULT=phase[,guardian]  the test kills itself (SIGKILL) at a phase,
 *                         the guardian first with ",guardian": tests the
 *                         restore (ci/selftests-faults). See zsf_fault().
 *   ZSGATE_CONTROL=1      the kernel is `make bench`'s limit control
 *                         (series/controls/limit: the release path skips the
 *                         zsmalloc free, the pool never shrinks by design):
 *                         zsf_check_clean() skips the pool-baseline and
 *                         pending checks and says so in a TH_LOG line (data
 *                         and splat checks stay; drain_ms is 0). Set only by
 *                         the bench for the control kernel, never by the gate.
 *
 * Machine-readable figures: one line per figure on stdout,
 *   # zsgate: backend=<zram|zswap> case=<name> key=value ...
 * keys (all integers unless noted, a key absent when it does not apply):
 *   size_mb   MB per process as actually run (after ZSGATE_QUICK scaling)
 *   procs     processes released together
 *   rounds    rounds the statistics are over
 *   median_us p10_us p90_us  per-release time (munmap() call, or exit until
 *             the parent sees the process gone), over rounds x procs samples
 *   wall_us   median over rounds of first release start -> last release end
 *   cpu_us    median CPU time of the munmap() call (CLOCK_THREAD_CPUTIME_ID)
 *   kworker_us median CPU time of all kworker threads from munmap() until the
 *             pool drained (Part B's drain runs there; see zsf_kworker_cpu_ns())
 *   cpu_total_us median of cpu + kworker time per round (the seed review's
 *             "munmap plus drain worker" CPU cost)
 *   freed_kb  compressed bytes expected back (pool growth of the test) / 1024
 *   ret50_ms ret90_ms              pool usage (zram mem_used_total, zswap
 *             pool_total_size) back by 50 % / 90 % of freed_kb, from release
 *             (decimal, -1 = not reached within the deadline)
 *   avail50_ms avail90_ms          the same for MemAvailable growth
 *   drain_ms  release -> pool back at baseline (leak check), decimal
 *   resident_pct  case=munmap_mixed: share of the region left resident (the
 *             rest swapped out) when munmap() released it (50 or 0)
 *   compactions case=munmap_compact: compaction triggers (backend compact +
 *             vm.compact_memory) completed during the round, median
 *   hogs      case=munmap_pressure, teardown_exit_pressure: stress-ng --cpu
 *             hogs running (= online CPUs)
 *   (case=swapin: median_us p10_us p90_us cpu_us are the time of faulting
 *             every page of the region back in, not of a release)
 *   fn calls dropped median_ns p10_ns p90_ns bucket_ns   case=percall: one
 *             function's per-call time over every call from the munmap()
 *             until the pool was back at baseline (zsf_percall.c)
 *   enqueued drained overflow batches pending capacity  Part B counter deltas
 *   iterations compactions secs   race tests: worker rounds, compaction
 *             triggers, duration; wb_pages pool_limit_hit (zswap deltas)
 * No figure is a pass/fail criterion.
 *
 * Restore on every exit path: zsf_setup() forks a guardian (setsid(), so a
 * kill of the test's process group does not reach it) that holds the read
 * end of a pipe. Each state change is first appended to a state file
 * <state dir>/<guardian pid>.state; when the write end closes (normal
 * teardown, exit, kill -9, harness timeout) the guardian undoes the file's
 * records in reverse and removes it. zsf_setup() also repairs state files
 * whose owner and guardian are both gone, and waits for running guardians.
 */
#ifndef ZSGATE_SWAPFREE_H
#define ZSGATE_SWAPFREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/swap.h>
#include <sys/types.h>

#include "kselftest.h"	/* ARRAY_SIZE(), __printf() */

enum zsf_backend { ZSF_ZRAM, ZSF_ZSWAP };

struct zsf_env {
	bool quick;
	int rounds;		/* munmap latency */
	int rounds_multi;	/* teardown, return rate (multi-process) */
	int sizes_mb[16];
	int nsizes;		/* 0: all sizes */
	int race_s;
	const char *swapdir;
	const char *statedir;
	bool control;		/* ZSGATE_CONTROL=1: no pool-baseline check */
};

/* zsf_env.c */
extern struct zsf_env zsf_env;
void zsf_env_load(void);
/* size a variant actually runs with (quick mode shrinks it) */
int zsf_size_mb(int nominal_mb);
bool zsf_size_selected(int nominal_mb);

/* zsf_caps.c */
/*
 * Part B of the running kernel, detected once per run (the first
 * zsf_caps_get() reads /proc/kallsyms; later tests of the run, forked by the
 * harness, share the result). 1 present, 0 absent, -1 cannot tell.
 */
struct zsf_caps {
	int deferred;	/* zs_free_deferred() */
	int flush;	/* zs_free_deferred_flush() */
	int ops;	/* zs_pool_enable_deferred_free() (callback ops) */
	int failfn;	/* zs_deferred_alloc_buffers in fail_function/injectable */
};

const struct zsf_caps *zsf_caps_get(void);
struct zsf_ctx;
/*
 * Why there are no counters for our pool, naming the file and what this
 * kernel's Part B is (for a SKIP message); "Part B here: ..." in @buf.
 */
void zsf_no_counters_why(struct zsf_ctx *c, char *buf, size_t len);
/* "zs_free_deferred=1 flush=0 ops=0 counters=0" for messages */
void zsf_caps_str(struct zsf_ctx *c, char *buf, size_t len);

/* Part B counters (docs/part-b-api.md), summed over our pool(s) */
struct zsf_deferred {
	uint64_t enqueued, drained, overflow, batches, pending, capacity;
};

struct zsf_stats {
	uint64_t pool_bytes;	/* zram mem_used_total / zswap pool_total_size */
	uint64_t stored_pages;	/* zram orig_data_size/PAGE / zswap stored_pages */
};

struct zsf_ctx {
	enum zsf_backend be;
	const char *name;	/* "zram" / "zswap" */
	int guard_wfd;
	pid_t guard_pid;
	char state_path[256];
	int zram_id;		/* our swap zram device, -1 if none */
	char swapdev[256];	/* what we swapon'ed */
	char swapfile[256];	/* zswap backing file */
	int loop_id;
	struct zsf_stats base;	/* after setup */
	long base_slots;	/* our swap device's slots in use after setup */
	long orphans;		/* slots the swap layer kept without owner */
	int kmsg_fd;
	bool active;
	/* ZSF_NO_DEFERRED_BUFFERS: injected failures while the pool was created */
	long failfn_hits;
};

/* zsf_backend.c */
/*
 * Set up the backend: 0 on success; KSFT_SKIP (4) or -1 on failure with the
 * reason in @why. @swap_flags are extra swapon(2) flags (e.g. discard).
 */
int zsf_setup(struct zsf_ctx *c, enum zsf_backend be, int swap_flags,
	      char *why, size_t whylen);
/*
 * zsf_setup() flag (zram only): create the pool while fail_function makes
 * zs_deferred_alloc_buffers() (the reference series' buffer allocation) fail,
 * i.e. a pool whose deferred-free buffers could not be allocated; the number
 * of injected failures goes to failfn_hits. SKIP naming what is missing when
 * the kernel cannot inject there (no fail_function, or no such target).
 */
#define ZSF_NO_DEFERRED_BUFFERS 0x40000000	/* above the SWAP_FLAG_* bits */
/* Undo everything (through the guardian); returns 0 when all steps worked. */
int zsf_teardown(struct zsf_ctx *c);
/* zsf_guard.c */
/*
 * Fault point: with ZSGATE_FAULT=<phase>[,guardian] the test process dies
 * here by SIGKILL (after SIGKILL to the guardian of the current setup with
 * ",guardian", so that only the next run's repair can put the host back).
 * Phases: "setup" (every change made), "pageout" (pages in the pool),
 * "verify" (reading them back), "release" (about to free them), "drain"
 * (after the release, waiting for the pool to shrink).
 */
void zsf_fault(const char *phase);

/* zsf_backend.c */
/* hot-add (or reuse) one more zram device of @disksize, not swap; -1 fails */
int zsf_extra_zram(struct zsf_ctx *c, uint64_t disksize, char *why, size_t whylen);
/* trigger compaction: zram compact of our device(s) and/or vm.compact_memory */
void zsf_compact_backend(struct zsf_ctx *c);
void zsf_compact_memory(void);
/* write a module parameter of zswap (recorded for restore by setup) */
int zsf_zswap_param(const char *name, const char *val);

/* zsf_poolstat.c */
int zsf_stats(struct zsf_ctx *c, struct zsf_stats *s);
/*
 * Wait until pool bytes and stored pages are back at the baseline (stored
 * pages <= baseline, pool bytes <= baseline + slack); returns ms waited or
 * -1 at @deadline_ms, with the last reading in @last.
 *
 * Orphaned swap slots: the kernel's swap layer (seen on 6.18.44 under CPU
 * contention, zram and zswap alike) sometimes keeps a few slots allocated
 * after every owner is gone; it never asks the backend to free them, so
 * their objects stay until swapoff. When nothing moved for 3 s and every
 * extra stored page still has its swap slot allocated, that is not a
 * backend free leak: the count goes to @orphans, the baseline moves up,
 * and the wait returns (>= 0). A backend leak (objects whose slots were
 * freed) still runs into the deadline.
 */
double zsf_wait_baseline(struct zsf_ctx *c, int deadline_ms, struct zsf_stats *last,
			 long *orphans);
/* Part B counters; false when the kernel does not expose them */
bool zsf_deferred(struct zsf_ctx *c, struct zsf_deferred *d);
uint64_t zsf_memavailable(void);
/* SwapCached in bytes, and the pages of our swap device in use (/proc/swaps) */
uint64_t zsf_swapcached(void);
long zsf_swap_used_pages(struct zsf_ctx *c);
/* "pid(comm)=kB ..." of processes with VmSwap > 0, for failure messages */
void zsf_swap_users(char *buf, size_t len);
/* a zswap debugfs counter (e.g. written_back_pages); -1 when absent */
long long zsf_zswap_stat(const char *name);

/* zsf_memory.c: memory regions */
char *zsf_region(size_t bytes);
void zsf_fill(char *p, size_t bytes, uint32_t seed);
/* verify every @step-th page; returns the number of bad pages */
long zsf_verify(const char *p, size_t bytes, uint32_t seed, size_t step);
/* page out; returns number of pages pagemap reports swapped (retries) */
long zsf_pageout(char *p, size_t bytes);
/*
 * Swapped enough: all but 2 %. Pages still sitting in another CPU's LRU add batch
 * cannot be isolated by MADV_PAGEOUT; in a loaded TCG guest up to 0.7 % of a 64 MB
 * region stayed behind after every retry. A broken page-out still fails here.
 */
static inline bool zsf_swapped_ok(long swapped, long pages)
{
	return swapped >= pages - pages / 50;
}

long zsf_count_swapped(const char *p, size_t bytes);

/* zsf_measure.c: time */
uint64_t zsf_now_ns(void);
uint64_t zsf_thread_cpu_ns(void);
/*
 * CPU time of all kworker threads (where Part B's drain runs), summed; false
 * when the kernel shows no per-task runtime. Workers that exit between two
 * readings drop out, so a delta is a lower bound; base and patched see the
 * same other kworker activity.
 */
bool zsf_kworker_cpu_ns(uint64_t *ns);
struct zsf_pct { uint64_t med, p10, p90; };
struct zsf_pct zsf_percentiles(uint64_t *v, int n);	/* sorts v */

/* one "# zsgate: backend=... " line; fmt continues with key=value pairs */
__printf(2, 3)
void zsf_figure(struct zsf_ctx *c, const char *fmt, ...);

/*
 * zsf_percall.c: per-call time of the free path's functions, kernel-side
 * (a kprobe and a kretprobe per function, a synthetic event with the
 * latency, a hist trigger bucketing it; see the file's comment).
 * zsf_percall_init() keeps those of @fns the kernel has (0, or KSFT_SKIP
 * with @why: no tracefs, kprobe events or hist triggers, none of @fns);
 * zsf_percall_start() arms them (0 or -errno with @why; nothing left armed
 * on failure); zsf_percall_stop() adds what the histograms counted since
 * start to the buckets and removes every probe and trigger. The figure line
 * per function: case=percall fn=F calls median_ns p10_ns p90_ns (bucket
 * midpoints), dropped (calls the histogram had no room for). The times
 * include the probes' own cost (the same code in every kernel); in QEMU
 * with -icount (ci/ab's per-call boots) they count instructions.
 */
#define ZSF_PERCALL_MAX 4
#define ZSF_PERCALL_BUCKET_NS 4
#define ZSF_PERCALL_NBUCKETS 16384	/* 4 ns up to 65 us; slower calls: the last */
struct zsf_percall_fn {
	char fn[64];
	bool on;
	uint64_t calls, dropped;
	uint64_t bucket[ZSF_PERCALL_NBUCKETS];
};

struct zsf_percall {
	struct zsf_ctx *c;
	const char *tracefs;
	int n;
	struct zsf_percall_fn f[ZSF_PERCALL_MAX];
};

int zsf_percall_init(struct zsf_ctx *c, struct zsf_percall *p,
		     const char *const *fns, int nfns, char *why, size_t len);
int zsf_percall_start(struct zsf_percall *p, char *why, size_t len);
void zsf_percall_stop(struct zsf_percall *p);
void zsf_percall_figures(struct zsf_ctx *c, const struct zsf_percall *p,
			 int mb, int rounds);

/* zsf_kmsg.c */
/* kernel log: remember the end now; scan since then; -1: no /dev/kmsg */
int zsf_kmsg_start(struct zsf_ctx *c);
/* returns number of splat lines (-1: no log to scan); first ones copied to buf */
int zsf_kmsg_scan(struct zsf_ctx *c, char *buf, size_t len);

/* zsf_proc.c */
/*
 * fork a worker: closes the guardian pipe in the child and makes it die
 * with its parent. Returns the pid (0 in the child).
 */
pid_t zsf_fork(struct zsf_ctx *c);
/* start an external tool in its own process group, recorded for restore */
pid_t zsf_spawn(struct zsf_ctx *c, char *const argv[], const char *logpath);
void zsf_reap(pid_t pid, int sig);
bool zsf_have_tool(const char *name);

/* process-shared release barrier */
struct zsf_barrier;
struct zsf_barrier *zsf_barrier_new(int parties);
void zsf_barrier_wait(struct zsf_barrier *b);
void zsf_barrier_free(struct zsf_barrier *b);

/* shared memory for worker results */
void *zsf_shared(size_t bytes);

#define ZSF_MB (1024UL * 1024UL)

#ifndef SWAP_FLAG_DISCARD_ONCE
#define SWAP_FLAG_DISCARD_ONCE 0x20000	/* include/linux/swap.h */
#endif
#ifndef SWAP_FLAG_DISCARD_PAGES
#define SWAP_FLAG_DISCARD_PAGES 0x40000
#endif

#endif
