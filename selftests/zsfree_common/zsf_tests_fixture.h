/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zsf_tests_fixture.h - what every scenario of zsfree_tests.h shares: the
 * backend setup or SKIP, the teardown through the guardian, the leak and
 * splat check every test ends in (zsf_check_clean()), the fill + page-out
 * preparation, and the per-worker result record.
 */
#ifndef ZSGATE_ZSF_TESTS_FIXTURE_H
#define ZSGATE_ZSF_TESTS_FIXTURE_H

#ifndef ZSF_BACKEND
#error "define ZSF_BACKEND before including zsfree_tests.h"
#endif
#ifndef ZSF_RELEASE_FN
#error "define ZSF_RELEASE_FN (the backend's release entry point) before including zsfree_tests.h"
#endif

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "swapfree.h"

#define ZSF_DEADLINE_MS 15000
#define PG ((size_t)sysconf(_SC_PAGESIZE))
#define US(ns) ((unsigned long long)((ns) / 1000))

/*
 * Common fixture setup: set up the backend, or SKIP with the reason (then
 * false: the caller's setup returns) or fail the test (ASSERT).
 */
static bool zsf_setup_or_skip(struct __test_metadata *_metadata,
			      struct zsf_ctx *c, int flags)
{
	char why[512] = "";
	int r;

	zsf_env_load();
	r = zsf_setup(c, ZSF_BACKEND, flags, why, sizeof(why));
	if (r == KSFT_SKIP)
		SKIP(return false, "%s", why);
	ASSERT_EQ(0, r) TH_LOG("setup failed: %s", why);
	return true;
}

/* no EXPECT here: after a failed ASSERT the harness would log it anyway */
#define ZSF_TEARDOWN() do {						\
	int _r = zsf_teardown(&self->c);				\
	if (_r) {							\
		TH_LOG("restore failed (%d): see %s/guardian.log",	\
		       _r, zsf_env.statedir);				\
		_metadata->exit_code = KSFT_FAIL;			\
	}								\
} while (0)

/*
 * Leak and splat check: pool back at baseline, nothing pending, no splat.
 * Returns the drain time in ms (-1 when the deadline passed).
 */
static double zsf_check_clean(struct __test_metadata *_metadata,
			      struct zsf_ctx *c)
{
	struct zsf_deferred d;
	struct zsf_stats s;
	char splat[2048], users[1024] = "";
	long orphans;
	double ms;
	int n;

	uint64_t t0 = zsf_now_ns();
	char caps[192] = "";

	zsf_fault("drain");
	if (zsf_env.control) {
		/* the limit control leaks by design: data and splats only */
		TH_LOG("ZSGATE_CONTROL=1: %s pool-baseline check skipped", c->name);
		TH_LOG("(control kernel, the release frees nothing)");
		n = zsf_kmsg_scan(c, splat, sizeof(splat));
		if (n < 0)
			snprintf(splat, sizeof(splat),
				 "no /dev/kmsg: the kernel log could not be scanned");
		EXPECT_EQ(0, n) TH_LOG("%d kernel log splat line(s) since setup: %s", n, splat);
		return 0;
	}
	ms = zsf_wait_baseline(c, ZSF_DEADLINE_MS, &s, &orphans);
	if (orphans) {
		TH_LOG("not a backend leak: the swap layer kept %ld slot(s) with no owner",
		       orphans);
		TH_LOG("(%llu stored pages stay until swapoff)",
		       (unsigned long long)(s.stored_pages));
		zsf_figure(c, "case=orphan_slots slots=%ld", orphans);
	}
	if (ms < 0) {
		zsf_swap_users(users, sizeof(users));
		zsf_caps_str(c, caps, sizeof(caps));
	}
	EXPECT_LE(0, ms) {
		TH_LOG("%s pool not back at baseline after %d ms:", c->name, ZSF_DEADLINE_MS);
		TH_LOG("pool_bytes %llu (baseline %llu), stored_pages %llu (baseline %llu);",
		       (unsigned long long)s.pool_bytes,
		       (unsigned long long)c->base.pool_bytes,
		       (unsigned long long)s.stored_pages,
		       (unsigned long long)c->base.stored_pages);
		TH_LOG("swap slots in use %ld, SwapCached %llu kB;",
		       zsf_swap_used_pages(c), (unsigned long long)zsf_swapcached() / 1024);
		TH_LOG("VmSwap: %s; Part B here: %s", users, caps);
	}
	/*
	 * Reference counters: a zram/zswap page's accounting drops before its
	 * handle is queued, so handles may still be pending when the pool is
	 * back within its slack: they must drain by the same deadline.
	 */
	while (zsf_deferred(c, &d) && d.pending &&
	       zsf_now_ns() - t0 < ZSF_DEADLINE_MS * 1000000ULL)
		usleep(10000);
	if (zsf_deferred(c, &d))
		EXPECT_EQ(0, d.pending)
			TH_LOG("%llu deferred frees still pending %d ms after the release",
			       (unsigned long long)d.pending, ZSF_DEADLINE_MS);
	n = zsf_kmsg_scan(c, splat, sizeof(splat));
	if (n < 0)
		snprintf(splat, sizeof(splat), "no /dev/kmsg: the kernel log could not be scanned");
	EXPECT_EQ(0, n) TH_LOG("%d kernel log splat line(s) since setup: %s", n, splat);
	return ms;
}

/* fill, page out, read back every 64th page, page out again */
static void zsf_prepare(struct __test_metadata *_metadata, char *p,
			size_t bytes, uint32_t seed)
{
	long n = bytes / PG, sw, bad;

	zsf_fill(p, bytes, seed);
	sw = zsf_pageout(p, bytes);
	ASSERT_TRUE(zsf_swapped_ok(sw, n))
		TH_LOG("pagemap: %ld of %ld pages swapped after MADV_PAGEOUT", sw, n);
	bad = zsf_verify(p, bytes, seed, 64);
	ASSERT_EQ(0, bad)
		TH_LOG("%ld of %ld sampled pages read back wrong after swap-in", bad, n / 64);
	sw = zsf_pageout(p, bytes);
	ASSERT_TRUE(zsf_swapped_ok(sw, n))
		TH_LOG("pagemap: %ld of %ld pages swapped after the second MADV_PAGEOUT", sw, n);
}

/* one worker process's result, in zsf_shared() memory */
struct zsf_worker {
	uint64_t start, end, cpu;
	long swapped, bad;
	int failed;
};

#endif
