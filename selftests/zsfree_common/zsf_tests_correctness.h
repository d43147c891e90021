/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zsf_tests_correctness.h - the correctness scenarios: overflow (a burst of
 * frees far above a per-cpu buffer), integrity (slot and handle reuse) and
 * race (frees racing compaction, stress-ng, and per backend fio discards or
 * zswap writeback). The gate's correctness set (CORRECTNESS in ci/vm)
 * selects these fixtures whole (-f overflow -f integrity -f race, beside
 * -f nobuffers in zram_free.c); ci/ab runs none of them. Their figures are
 * for the record only.
 */
#ifndef ZSGATE_ZSF_TESTS_CORRECTNESS_H
#define ZSGATE_ZSF_TESTS_CORRECTNESS_H

#include "zsf_tests_fixture.h"

/* ------------------------------------------------------------------ */
/*
 * Overflow fallback: one burst on one CPU frees many times more entries
 * than a per-cpu deferred buffer holds (the reference: 2048 per CPU).
 * burst_no_leak holds on any kernel: sampled read-back, pool back at
 * baseline within the deadline, no splat; where the reference's counters
 * are exposed it also checks that every freed entry is accounted (enqueued
 * + overflow) and everything enqueued drained. path_taken needs those
 * counters (a SKIP naming them otherwise) and checks the overflow path was
 * taken (a SKIP when the drain worker kept up, see zsf_burst()).
 */
FIXTURE(overflow) {
	struct zsf_ctx c;
};

FIXTURE_SETUP(overflow)
{
	if (!zsf_setup_or_skip(_metadata, &self->c, 0))
		return;
}

FIXTURE_TEARDOWN(overflow)
{
	ZSF_TEARDOWN();
}

/*
 * Wait until no deferred free is queued or being drained: nothing pending and every
 * handle ever enqueued drained.  Counter deltas are only comparable between two such
 * quiet points; frees queued by the page-out before the burst would otherwise be
 * drained inside the measured window.  Returns false if the pool never got quiet.
 */
static bool zsf_deferred_quiet(struct zsf_ctx *c, struct zsf_deferred *d, int timeout_ms)
{
	uint64_t end = zsf_now_ns() + timeout_ms * 1000000ULL;

	do {
		if (!zsf_deferred(c, d))
			return false;
		if (!d->pending && d->enqueued == d->drained)
			return true;
		usleep(10000);
	} while (zsf_now_ns() < end);
	return false;
}

static void zsf_burst(struct __test_metadata *_metadata, struct zsf_ctx *c,
		      bool need_counters)
{
	int mb = zsf_size_mb(256);
	size_t bytes = mb * ZSF_MB;
	long n = bytes / PG;
	struct zsf_deferred d0, d1;
	long long zs0 = -1;
	bool have;
	cpu_set_t set;
	char *p;
	uint64_t t0, t;
	double ms;

	have = zsf_deferred(c, &d0);
	if (need_counters && !have) {
		char why[512];

		zsf_no_counters_why(c, why, sizeof(why));
		SKIP(return, "%s", why);
	}
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(set), &set));
	p = zsf_region(bytes);
	ASSERT_NE(NULL, p);
	zsf_prepare(_metadata, p, bytes, 0x4000);
	n = zsf_count_swapped(p, bytes);	/* entries this munmap frees */
	if (have) {
		ASSERT_TRUE(zsf_deferred_quiet(c, &d0, ZSF_DEADLINE_MS)) {
			TH_LOG("deferred frees of the page-out never drained:");
			TH_LOG("pending %llu, enqueued %llu, drained %llu",
			       (unsigned long long)d0.pending, (unsigned long long)d0.enqueued,
			       (unsigned long long)d0.drained);
		}
	}
	/* zswap frees a pool object only for pages it stored (it rejects some) */
	if (c->be == ZSF_ZSWAP)
		zs0 = zsf_zswap_stat("stored_pages");
	t0 = zsf_now_ns();
	ASSERT_EQ(0, munmap(p, bytes));
	t = zsf_now_ns() - t0;
	ms = zsf_check_clean(_metadata, c);
	if (c->be == ZSF_ZSWAP && zs0 >= 0)
		n = zs0 - zsf_zswap_stat("stored_pages");
	if (!have) {
		zsf_figure(c,
			   "case=overflow size_mb=%d procs=1 median_us=%llu drain_ms=%.1f rounds=1",
			   mb, US(t), ms);
		return;
	}
	/* the leak check of Part B: everything queued by the burst gets drained */
	EXPECT_TRUE(zsf_deferred_quiet(c, &d1, ZSF_DEADLINE_MS)) {
		TH_LOG("deferred frees never drained after the burst:");
		TH_LOG("pending %llu, enqueued %llu, drained %llu",
		       (unsigned long long)d1.pending, (unsigned long long)d1.enqueued,
		       (unsigned long long)d1.drained);
	}
	zsf_figure(c,
		   "case=overflow size_mb=%d procs=1 median_us=%llu drain_ms=%.1f enqueued=%llu drained=%llu overflow=%llu batches=%llu pending=%llu capacity=%llu rounds=1",
		   mb, US(t), ms,
		   (unsigned long long)(d1.enqueued - d0.enqueued),
		   (unsigned long long)(d1.drained - d0.drained),
		   (unsigned long long)(d1.overflow - d0.overflow),
		   (unsigned long long)(d1.batches - d0.batches),
		   (unsigned long long)d1.pending, (unsigned long long)d1.capacity);
	EXPECT_EQ((uint64_t)n, (d1.enqueued - d0.enqueued) + (d1.overflow - d0.overflow))
		TH_LOG("%ld pool objects freed but %llu enqueued + %llu overflow counted", n,
		       (unsigned long long)(d1.enqueued - d0.enqueued),
		       (unsigned long long)(d1.overflow - d0.overflow));
	EXPECT_EQ(d1.enqueued - d0.enqueued, d1.drained - d0.drained)
		TH_LOG("enqueued %llu but drained %llu",
		       (unsigned long long)(d1.enqueued - d0.enqueued),
		       (unsigned long long)(d1.drained - d0.drained));
	if (need_counters) {
		EXPECT_LT(d1.capacity * 2, (uint64_t)n)
			TH_LOG("burst of %ld is not far above capacity %llu", n,
			       (unsigned long long)d1.capacity);
		/*
		 * The design overflows only while a full buffer waits for the
		 * worker: a worker that always takes it in time (seen in the
		 * UML VM on a loaded host) leaves nothing to check here. That
		 * is a SKIP with the numbers, not a pass; KUnit's
		 * test_deferred_overflow forces the path deterministically.
		 */
		if (d1.overflow == d0.overflow && _metadata->exit_code == KSFT_PASS)
			SKIP(return,
			     "the drain worker kept up with a burst of %ld frees on one CPU (capacity %llu, enqueued %llu, drained %llu): overflow path not exercised this run",
			     n, (unsigned long long)d1.capacity,
			     (unsigned long long)(d1.enqueued - d0.enqueued),
			     (unsigned long long)(d1.drained - d0.drained));
	}
}

TEST_F_TIMEOUT(overflow, burst_no_leak, 120)
{
	zsf_burst(_metadata, &self->c, false);
}

TEST_F_TIMEOUT(overflow, path_taken, 120)
{
	zsf_burst(_metadata, &self->c, true);
}

/* ------------------------------------------------------------------ */
/*
 * Integrity across slot and handle reuse: every page read back after
 * swap-in, half of them rewritten and swapped out again, half of the region
 * freed and a new region swapped into the freed slots and handles. A free
 * that lands on the wrong or a reused handle (deferred free of a stale
 * handle) shows up as a page that reads back wrong.
 */
FIXTURE(integrity) {
	struct zsf_ctx c;
};

FIXTURE_SETUP(integrity)
{
	if (!zsf_setup_or_skip(_metadata, &self->c, 0))
		return;
}

FIXTURE_TEARDOWN(integrity)
{
	ZSF_TEARDOWN();
}

TEST_F_TIMEOUT(integrity, reuse_after_free, 120)
{
	int mb = zsf_size_mb(128);
	size_t bytes = mb * ZSF_MB, half = bytes / 2;
	long n = bytes / PG, bad, sw;
	char *a = zsf_region(bytes), *b;

	ASSERT_NE(NULL, a);
	zsf_fill(a, bytes, 0x5001);
	sw = zsf_pageout(a, bytes);
	ASSERT_TRUE(zsf_swapped_ok(sw, n)) TH_LOG("%ld of %ld pages swapped", sw, n);
	bad = zsf_verify(a, bytes, 0x5001, 1);
	ASSERT_EQ(0, bad) TH_LOG("%ld of %ld pages wrong after full swap-in", bad, n);
	/* rewrite the second half, page both out, read both back */
	zsf_fill(a + half, half, 0x5002);
	sw = zsf_pageout(a, bytes);
	ASSERT_TRUE(zsf_swapped_ok(sw, n)) TH_LOG("%ld of %ld pages swapped", sw, n);
	bad = zsf_verify(a, half, 0x5001, 1) + zsf_verify(a + half, half, 0x5002, 1);
	ASSERT_EQ(0, bad) TH_LOG("%ld of %ld pages wrong after rewrite + swap-in", bad, n);
	/* free the first half while swapped, reuse its slots and handles */
	sw = zsf_pageout(a, bytes);
	ASSERT_TRUE(zsf_swapped_ok(sw, n)) TH_LOG("%ld of %ld pages swapped", sw, n);
	ASSERT_EQ(0, munmap(a, half));
	b = zsf_region(half);
	ASSERT_NE(NULL, b);
	zsf_fill(b, half, 0x5003);
	sw = zsf_pageout(b, half);
	ASSERT_TRUE(zsf_swapped_ok(sw, n / 2)) TH_LOG("%ld of %ld pages swapped", sw, n / 2);
	bad = zsf_verify(b, half, 0x5003, 1) + zsf_verify(a + half, half, 0x5002, 1);
	ASSERT_EQ(0, bad) TH_LOG("%ld of %ld pages wrong after reuse of freed slots", bad, n);
	ASSERT_EQ(0, munmap(b, half));
	ASSERT_EQ(0, munmap(a + half, half));
	zsf_check_clean(_metadata, &self->c);
}

/* ------------------------------------------------------------------ */
/*
 * Races: short-lived workers swap out, swap in (full read-back) and free
 * (half by munmap, the rest by exit) while the backend compacts
 * (zram "compact", zsmalloc migration through vm.compact_memory) and, per
 * variant, stress-ng memory stressors, fio discards (zram) or zswap
 * writeback run beside them. Time-bounded (ZSGATE_RACE_S); proves no data
 * is lost or leaked and no splat appears when the free path races them.
 */
enum zsf_race_kind { RACE_COMPACT, RACE_STRESS, RACE_FIO, RACE_WRITEBACK };

FIXTURE(race) {
	struct zsf_ctx c;
};

FIXTURE_VARIANT(race) {
	enum zsf_race_kind kind;
	int swap_flags;
};

FIXTURE_VARIANT_ADD(race, compaction) { .kind = RACE_COMPACT };
FIXTURE_VARIANT_ADD(race, stress_ng) { .kind = RACE_STRESS };

FIXTURE_SETUP(race)
{
	const char *why = getenv("ZSGATE_SKIP_RACE");

	zsf_env_load();
	if (why && *why)
		SKIP(return,
		     "races not run here (ZSGATE_SKIP_RACE=%s): see zsgate docs/known-issues.md",
		     why);
	if (variant->kind == RACE_STRESS && !zsf_have_tool("stress-ng"))
		SKIP(return, "stress-ng not installed");
	if (variant->kind == RACE_FIO && !zsf_have_tool("fio"))
		SKIP(return, "fio not installed");
	if (!zsf_setup_or_skip(_metadata, &self->c, variant->swap_flags))
		return;
}

FIXTURE_TEARDOWN(race)
{
	ZSF_TEARDOWN();
}

struct zsf_bg {
	struct zsf_ctx *c;
	int stop;	/* __atomic_*: written by the test, read by the thread */
	bool flap_pool;
	long compactions;
};

static void *zsf_bg_fn(void *arg)
{
	struct zsf_bg *bg = arg;
	int i = 0;

	while (!__atomic_load_n(&bg->stop, __ATOMIC_RELAXED)) {
		zsf_compact_backend(bg->c);
		if (i % 4 == 0)
			zsf_compact_memory();
		if (bg->flap_pool)	/* 0 %: pool "full", writeback runs */
			zsf_zswap_param("max_pool_percent", i % 2 ? "0" : "20");
		bg->compactions++;
		i++;
		usleep(25000);
	}
	if (bg->flap_pool)
		zsf_zswap_param("max_pool_percent", "20");
	return NULL;
}

/* backend-specific part of a race variant: returns a tool's pid or -1 */
static pid_t zsf_race_extra(struct __test_metadata *_metadata, struct zsf_ctx *c,
			    enum zsf_race_kind kind, int secs);

TEST_F_TIMEOUT(race, swap_free, 180)
{
	int secs = zsf_env.race_s, mb = zsf_size_mb(128) / 2, iter = 0;
	size_t bytes = mb * ZSF_MB;
	struct zsf_worker *w = zsf_shared(sizeof(*w) * 2);
	struct zsf_bg bg = { .c = &self->c };
	pid_t tool = -1, stress = -1;
	uint64_t end;
	pthread_t th;
	long bad = 0, fails = 0;
	long long wb0, hit0;
	char arg[64], extra[128] = "";

	ASSERT_NE(NULL, w);
	if (variant->kind == RACE_STRESS) {
		char *const argv[] = { "stress-ng", "--vm", "2", "--vm-bytes", "64M",
				 "--memrate", "1", "--memrate-bytes", "32M",
				 "--timeout", arg, "-q", NULL };

		snprintf(arg, sizeof(arg), "%ds", secs + 60);	/* we kill it */
		stress = zsf_spawn(&self->c, argv, "/tmp/zsgate-stress-ng.log");
		ASSERT_LT(0, stress);
	}
	tool = zsf_race_extra(_metadata, &self->c, variant->kind, secs);
	bg.flap_pool = variant->kind == RACE_WRITEBACK;
	wb0 = zsf_zswap_stat("written_back_pages");
	hit0 = zsf_zswap_stat("pool_limit_hit");
	ASSERT_EQ(0, pthread_create(&th, NULL, zsf_bg_fn, &bg));
	end = zsf_now_ns() + secs * 1000000000ULL;
	while (zsf_now_ns() < end) {
		pid_t pids[2];
		int i;

		memset(w, 0, sizeof(*w) * 2);
		for (i = 0; i < 2; i++) {
			pids[i] = zsf_fork(&self->c);
			ASSERT_LE(0, pids[i]);
			if (pids[i] == 0) {
				uint32_t seed = 0x6000 + iter * 2 + i;
				char *p = zsf_region(bytes);

				if (!p)
					_exit(1);
				zsf_fill(p, bytes, seed);
				w[i].swapped = zsf_pageout(p, bytes);
				w[i].bad = zsf_verify(p, bytes, seed, 1);
				zsf_pageout(p, bytes);
				w[i].bad += zsf_verify(p, bytes / 4, seed, 1);
				zsf_pageout(p, bytes);
				munmap(p, bytes / 2);	/* the rest goes with exit */
				_exit(0);
			}
		}
		for (i = 0; i < 2; i++) {
			int st;

			waitpid(pids[i], &st, 0);
			if (!WIFEXITED(st) || WEXITSTATUS(st))
				fails++;
			bad += w[i].bad;
			EXPECT_LT(0, w[i].swapped) TH_LOG("worker swapped nothing out");
		}
		iter++;
	}
	__atomic_store_n(&bg.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	/* the tools must have run all along, else the race did not happen */
	if (stress > 0)
		EXPECT_EQ(0, waitpid(stress, NULL, WNOHANG))
			TH_LOG("stress-ng ended early: see /tmp/zsgate-stress-ng.log");
	if (tool > 0)
		EXPECT_EQ(0, waitpid(tool, NULL, WNOHANG))
			TH_LOG("fio ended early: see /tmp/zsgate-fio.log");
	zsf_reap(stress, SIGKILL);
	zsf_reap(tool, SIGKILL);
	EXPECT_EQ(0, fails) TH_LOG("%ld workers failed", fails);
	EXPECT_EQ(0, bad) TH_LOG("%ld pages read back wrong while racing", bad);
	if (self->c.be == ZSF_ZSWAP && wb0 >= 0)
		snprintf(extra, sizeof(extra), " wb_pages=%lld pool_limit_hit=%lld",
			 zsf_zswap_stat("written_back_pages") - wb0,
			 zsf_zswap_stat("pool_limit_hit") - hit0);
	if (variant->kind == RACE_WRITEBACK && wb0 >= 0)
		EXPECT_LT(0, zsf_zswap_stat("written_back_pages") - wb0)
			TH_LOG("zswap wrote nothing back: the writeback race did not happen");
	zsf_figure(&self->c,
		   "case=race_%s size_mb=%d procs=2 iterations=%d compactions=%ld secs=%d%s",
		   variant->kind == RACE_COMPACT ? "compaction" :
		   variant->kind == RACE_STRESS ? "stress_ng" :
		   variant->kind == RACE_FIO ? "fio_discard" : "writeback",
		   mb, iter, bg.compactions, secs, extra);
	zsf_check_clean(_metadata, &self->c);
}

#endif
