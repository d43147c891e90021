/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zsfree_tests.h - the scenarios both zram_free and zswap_free run.
 *
 * Included once by zram_free.c / zswap_free.c after they define ZSF_BACKEND
 * (ZSF_ZRAM or ZSF_ZSWAP), so both collections run the same code against
 * their own backend. Backend-only scenarios (zram discard + fio, zswap
 * writeback) live in the including file as extra variants of the race
 * fixture.
 *
 * Every test ends in zsf_check_clean(): data read back matched (checked
 * inside the scenario), the pool's bytes and stored pages are back at the
 * setup baseline within ZSF_DEADLINE_MS (polled: deferred handles, deferred
 * zspages or a zram-level lazy GC may give memory back after the release;
 * a leak still fails at the deadline, with the numbers), the reference's
 * "pending" counter drains to 0 by then where the kernel exposes it, and
 * no BUG/WARNING/KASAN/KCSAN/lockdep line appeared in the kernel log since
 * setup. None of these needs Part B or its counters (see struct zsf_caps);
 * checks that do need them SKIP naming what is missing.
 */
#ifndef ZSF_BACKEND
#error "define ZSF_BACKEND before including zsfree_tests.h"
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
	ms = zsf_wait_baseline(c, ZSF_DEADLINE_MS, &s, &orphans);
	if (orphans) {
		TH_LOG(
		       "not a backend leak: the swap layer kept %ld slot(s) with no owner (%llu stored pages stay until swapoff)",
		       orphans, (unsigned long long)(s.stored_pages));
		zsf_figure(c, "case=orphan_slots slots=%ld", orphans);
	}
	if (ms < 0) {
		zsf_swap_users(users, sizeof(users));
		zsf_caps_str(c, caps, sizeof(caps));
	}
	EXPECT_LE(0, ms)
		TH_LOG(
		       "%s pool not back at baseline after %d ms: pool_bytes %llu (baseline %llu), stored_pages %llu (baseline %llu); swap slots in use %ld, SwapCached %llu kB; VmSwap: %s; Part B here: %s",
				c->name, ZSF_DEADLINE_MS,
				(unsigned long long)s.pool_bytes,
				(unsigned long long)c->base.pool_bytes,
				(unsigned long long)s.stored_pages,
				(unsigned long long)c->base.stored_pages,
				zsf_swap_used_pages(c),
				(unsigned long long)zsf_swapcached() / 1024, users, caps);
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
	ASSERT_TRUE(ZSF_SWAPPED_OK(sw, n))
		TH_LOG("pagemap: %ld of %ld pages swapped after MADV_PAGEOUT", sw, n);
	bad = zsf_verify(p, bytes, seed, 64);
	ASSERT_EQ(0, bad)
		TH_LOG("%ld of %ld sampled pages read back wrong after swap-in", bad, n / 64);
	sw = zsf_pageout(p, bytes);
	ASSERT_TRUE(ZSF_SWAPPED_OK(sw, n))
		TH_LOG("pagemap: %ld of %ld pages swapped after the second MADV_PAGEOUT", sw, n);
}

/* ------------------------------------------------------------------ */
/*
 * munmap latency: N MB of patterned pages, all swapped out (checked with
 * pagemap), released by one munmap() timed with CLOCK_MONOTONIC, R rounds.
 * The figure is what the series speeds up; the checks catch lost data
 * (sampled read-back) and frees that never happen (pool back at baseline
 * after every round).
 */
FIXTURE(munmap) {
	struct zsf_ctx c;
};

FIXTURE_VARIANT(munmap) {
	int mb;
};

FIXTURE_VARIANT_ADD(munmap, mb64) { .mb = 64 };
FIXTURE_VARIANT_ADD(munmap, mb128) { .mb = 128 };
FIXTURE_VARIANT_ADD(munmap, mb192) { .mb = 192 };
FIXTURE_VARIANT_ADD(munmap, mb256) { .mb = 256 };
FIXTURE_VARIANT_ADD(munmap, mb512) { .mb = 512 };

FIXTURE_SETUP(munmap)
{
	zsf_env_load();
	if (!zsf_size_selected(variant->mb))
		SKIP(return, "%d MB not selected by ZSGATE_SIZES_MB", variant->mb);
	if (!zsf_setup_or_skip(_metadata, &self->c, 0))
		return;
}

FIXTURE_TEARDOWN(munmap)
{
	ZSF_TEARDOWN();
}

TEST_F_TIMEOUT(munmap, latency, 300)
{
	int mb = zsf_size_mb(variant->mb), rounds = zsf_env.rounds, r;
	size_t bytes = mb * ZSF_MB;
	uint64_t *t = calloc(rounds, 8), *cpu = calloc(rounds, 8), *dr = calloc(rounds, 8);
	uint64_t *kw = calloc(rounds, 8), *tot = calloc(rounds, 8);
	struct zsf_pct pt, pc, pd, pk, ptot;
	bool have_kw = true;

	for (r = 0; r < rounds; r++) {
		char *p = zsf_region(bytes);
		uint64_t t0, c0, k0 = 0, k1 = 0;
		double ms;

		ASSERT_NE(NULL, p);
		zsf_prepare(_metadata, p, bytes, 0x1000 + r);
		have_kw &= zsf_kworker_cpu_ns(&k0);
		c0 = zsf_thread_cpu_ns();
		zsf_fault("release");
		t0 = zsf_now_ns();
		ASSERT_EQ(0, munmap(p, bytes));
		t[r] = zsf_now_ns() - t0;
		cpu[r] = zsf_thread_cpu_ns() - c0;
		ms = zsf_check_clean(_metadata, &self->c);
		ASSERT_LE(0, ms);
		dr[r] = ms * 1000;
		have_kw &= zsf_kworker_cpu_ns(&k1);
		kw[r] = k1 > k0 ? k1 - k0 : 0;
		tot[r] = cpu[r] + kw[r];
	}
	pt = zsf_percentiles(t, rounds);
	pc = zsf_percentiles(cpu, rounds);
	pd = zsf_percentiles(dr, rounds);
	pk = zsf_percentiles(kw, rounds);
	ptot = zsf_percentiles(tot, rounds);
	if (have_kw)
		zsf_figure(&self->c,
			   "case=munmap size_mb=%d procs=1 median_us=%llu p10_us=%llu p90_us=%llu cpu_us=%llu kworker_us=%llu cpu_total_us=%llu drain_ms=%.1f rounds=%d",
			   mb, US(pt.med), US(pt.p10), US(pt.p90), US(pc.med), US(pk.med),
			   US(ptot.med), pd.med / 1000.0, rounds);
	else
		zsf_figure(&self->c,
			   "case=munmap size_mb=%d procs=1 median_us=%llu p10_us=%llu p90_us=%llu cpu_us=%llu drain_ms=%.1f rounds=%d",
			   mb, US(pt.med), US(pt.p10), US(pt.p90), US(pc.med),
			   pd.med / 1000.0, rounds);
	free(kw);
	free(tot);
}

/* ------------------------------------------------------------------ */
/* N worker processes released together; shared by teardown and return_rate */

struct zsf_worker {
	uint64_t start, end, cpu;
	long swapped, bad;
	int failed;
};

struct zsf_sample {
	uint64_t t, pool, avail;
};

struct zsf_sampler {
	struct zsf_ctx *c;
	struct zsf_sample *s;
	int n, max;
	int stop;	/* __atomic_*: written by the test, read by the thread */
};

static void *zsf_sampler_fn(void *arg)
{
	struct zsf_sampler *sm = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!__atomic_load_n(&sm->stop, __ATOMIC_RELAXED) && sm->n < sm->max) {
		struct zsf_stats st;
		struct zsf_sample *x = &sm->s[sm->n];

		zsf_stats(sm->c, &st);
		x->t = zsf_now_ns();
		x->pool = st.pool_bytes;
		x->avail = zsf_memavailable();
		sm->n++;
		next.tv_nsec += 1000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return NULL;
}

struct zsf_round {
	uint64_t per[8];	/* per-process release time */
	uint64_t cpu[8];
	uint64_t wall;
	double drain_ms;
	/* return rate (sampled rounds only) */
	double ret50, ret90, av50, av90;
	uint64_t freed;
};

/* first time (ms after t0) the sampled value reached target; -1 if never */
static double zsf_reached(struct zsf_sampler *sm, uint64_t t0, bool pool,
			  uint64_t target)
{
	for (int i = 0; i < sm->n; i++) {
		struct zsf_sample *x = &sm->s[i];

		if (x->t < t0)
			continue;
		if (pool ? x->pool <= target : x->avail >= target)
			return (x->t - t0) / 1e6;
	}
	return -1;
}

static void zsf_release_round(struct __test_metadata *_metadata,
			      struct zsf_ctx *c, int mb, int procs,
			      bool by_exit, bool sample, uint32_t seed,
			      struct zsf_round *out)
{
	struct zsf_worker *w = zsf_shared(sizeof(*w) * procs);
	struct zsf_barrier *ready = zsf_barrier_new(procs + 1);
	struct zsf_barrier *go = zsf_barrier_new(procs + 1);
	size_t bytes = mb * ZSF_MB;
	struct zsf_sampler sm = { .c = c };
	pthread_t th;
	pid_t pids[8];
	uint64_t first = UINT64_MAX, last = 0, t_go;
	int i, left;

	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, ready);
	ASSERT_NE(NULL, go);
	memset(out, 0, sizeof(*out));
	for (i = 0; i < procs; i++) {
		pids[i] = zsf_fork(c);
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			char *p = zsf_region(bytes);
			long n = bytes / PG;
			uint64_t t0, c0;

			if (!p) {
				w[i].failed = 1;
				zsf_barrier_wait(ready);
				zsf_barrier_wait(go);
				_exit(1);
			}
			zsf_fill(p, bytes, seed + i);
			w[i].swapped = zsf_pageout(p, bytes);
			w[i].bad = zsf_verify(p, bytes, seed + i, 64);
			if (ZSF_SWAPPED_OK(w[i].swapped, n))
				w[i].swapped = zsf_pageout(p, bytes);
			zsf_barrier_wait(ready);
			zsf_barrier_wait(go);
			c0 = zsf_thread_cpu_ns();
			t0 = zsf_now_ns();
			w[i].start = t0;
			if (by_exit)
				_exit(0);
			munmap(p, bytes);
			w[i].end = zsf_now_ns();
			w[i].cpu = zsf_thread_cpu_ns() - c0;
			_exit(0);
		}
	}
	zsf_barrier_wait(ready);
	for (i = 0; i < procs; i++) {
		EXPECT_EQ(0, w[i].failed);
		EXPECT_TRUE(ZSF_SWAPPED_OK(w[i].swapped, (long)(bytes / PG)))
			TH_LOG("worker %d: %ld of %zu pages swapped", i, w[i].swapped, bytes / PG);
		EXPECT_EQ(0, w[i].bad)
			TH_LOG("worker %d: %ld sampled pages read back wrong", i, w[i].bad);
	}
	if (sample) {
		sm.max = 30000;
		sm.s = calloc(sm.max, sizeof(*sm.s));
		ASSERT_NE(NULL, sm.s);
		ASSERT_EQ(0, pthread_create(&th, NULL, zsf_sampler_fn, &sm));
		usleep(20000);	/* a few samples before the release */
	}
	t_go = zsf_now_ns();
	zsf_barrier_wait(go);
	for (left = procs; left > 0;) {
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		uint64_t now = zsf_now_ns();

		if (pid < 0)
			break;
		for (i = 0; i < procs; i++)
			if (pids[i] == pid) {
				if (by_exit)
					w[i].end = now;
				EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
					TH_LOG("worker %d ended with status 0x%x", i, st);
				left--;
			}
	}
	for (i = 0; i < procs; i++) {
		if (w[i].start && w[i].start < first)
			first = w[i].start;
		if (w[i].end > last)
			last = w[i].end;
		out->per[i] = w[i].end > w[i].start ? w[i].end - w[i].start : 0;
		out->cpu[i] = w[i].cpu;
	}
	out->wall = last > first ? last - first : 0;
	out->drain_ms = zsf_check_clean(_metadata, c);
	if (sample) {
		uint64_t before = 0, avail0 = 0;

		usleep(20000);	/* let the sampler see the drained pool */
		__atomic_store_n(&sm.stop, 1, __ATOMIC_RELAXED);
		pthread_join(th, NULL);
		/* values just before the release */
		for (i = 0; i < sm.n && sm.s[i].t < t_go; i++) {
			before = sm.s[i].pool;
			avail0 = sm.s[i].avail;
		}
		out->freed = before > c->base.pool_bytes ? before - c->base.pool_bytes : 0;
		out->ret50 = zsf_reached(&sm, first, true, before - out->freed / 2);
		out->ret90 = zsf_reached(&sm, first, true, before - out->freed * 9 / 10);
		out->av50 = zsf_reached(&sm, first, false, avail0 + out->freed / 2);
		out->av90 = zsf_reached(&sm, first, false, avail0 + out->freed * 9 / 10);
		free(sm.s);
	}
	zsf_barrier_free(ready);
	zsf_barrier_free(go);
	munmap(w, sizeof(*w) * procs);
}

/* ------------------------------------------------------------------ */
/*
 * Concurrent teardown: 1..4 processes of 256 MB each, all swapped out,
 * released at once by munmap() or by exit. Per-process and wall time; the
 * series must keep N concurrent releases from serialising on the pool lock.
 * Catches lost frees (leak check) and broken data (sampled read-back).
 */
FIXTURE(teardown) {
	struct zsf_ctx c;
};

FIXTURE_VARIANT(teardown) {
	int procs;
	bool by_exit;
};

FIXTURE_VARIANT_ADD(teardown, p1_munmap) { .procs = 1 };
FIXTURE_VARIANT_ADD(teardown, p2_munmap) { .procs = 2 };
FIXTURE_VARIANT_ADD(teardown, p3_munmap) { .procs = 3 };
FIXTURE_VARIANT_ADD(teardown, p4_munmap) { .procs = 4 };
FIXTURE_VARIANT_ADD(teardown, p1_exit) { .procs = 1, .by_exit = true };
FIXTURE_VARIANT_ADD(teardown, p2_exit) { .procs = 2, .by_exit = true };
FIXTURE_VARIANT_ADD(teardown, p3_exit) { .procs = 3, .by_exit = true };
FIXTURE_VARIANT_ADD(teardown, p4_exit) { .procs = 4, .by_exit = true };

FIXTURE_SETUP(teardown)
{
	if (!zsf_setup_or_skip(_metadata, &self->c, 0))
		return;
}

FIXTURE_TEARDOWN(teardown)
{
	ZSF_TEARDOWN();
}

TEST_F_TIMEOUT(teardown, concurrent, 300)
{
	int mb = zsf_size_mb(256), rounds = zsf_env.rounds_multi, procs = variant->procs;
	uint64_t *per = calloc(rounds * procs, 8), *cpu = calloc(rounds * procs, 8);
	uint64_t *wall = calloc(rounds, 8);
	struct zsf_pct pp, pw, pc;
	struct zsf_round rr;
	int r, i;

	for (r = 0; r < rounds; r++) {
		zsf_release_round(_metadata, &self->c, mb, procs, variant->by_exit,
				  false, 0x2000 + r * 8, &rr);
		ASSERT_LE(0, rr.drain_ms);
		for (i = 0; i < procs; i++) {
			per[r * procs + i] = rr.per[i];
			cpu[r * procs + i] = rr.cpu[i];
		}
		wall[r] = rr.wall;
	}
	pp = zsf_percentiles(per, rounds * procs);
	pw = zsf_percentiles(wall, rounds);
	pc = zsf_percentiles(cpu, rounds * procs);
	if (variant->by_exit)
		zsf_figure(&self->c,
			   "case=teardown_exit size_mb=%d procs=%d median_us=%llu p10_us=%llu p90_us=%llu wall_us=%llu rounds=%d",
			   mb, procs, US(pp.med), US(pp.p10), US(pp.p90), US(pw.med), rounds);
	else
		zsf_figure(&self->c,
			   "case=teardown_munmap size_mb=%d procs=%d median_us=%llu p10_us=%llu p90_us=%llu wall_us=%llu cpu_us=%llu rounds=%d",
			   mb, procs, US(pp.med), US(pp.p10), US(pp.p90), US(pw.med),
			   US(pc.med), rounds);
}

/* ------------------------------------------------------------------ */
/*
 * Memory return rate: the series' promise is to give memory back quickly.
 * During a 256 MB x N release, a thread samples the pool size and
 * MemAvailable every millisecond; the figure is the time until 50 % and
 * 90 % of the pool growth is back, beside the release time. Deferred frees
 * make munmap()/exit return sooner but may return the memory later: both
 * show here. Fails only when the memory never comes back (leak check).
 */
FIXTURE(return_rate) {
	struct zsf_ctx c;
};

FIXTURE_VARIANT(return_rate) {
	int procs;
	bool by_exit;
};

FIXTURE_VARIANT_ADD(return_rate, p1_munmap) { .procs = 1 };
FIXTURE_VARIANT_ADD(return_rate, p4_munmap) { .procs = 4 };
FIXTURE_VARIANT_ADD(return_rate, p4_exit) { .procs = 4, .by_exit = true };

FIXTURE_SETUP(return_rate)
{
	if (!zsf_setup_or_skip(_metadata, &self->c, 0))
		return;
}

FIXTURE_TEARDOWN(return_rate)
{
	ZSF_TEARDOWN();
}

static uint64_t zsf_ms_us(double ms)
{
	return ms < 0 ? UINT64_MAX : (uint64_t)(ms * 1000);
}

/* lower median without averaging: "never reached" (UINT64_MAX) stays -1 */
static double zsf_med_ms(uint64_t *us, int n)
{
	uint64_t m = zsf_percentiles(us, n).med;

	if (n % 2 == 0)
		m = us[n / 2 - 1];
	return m == UINT64_MAX ? -1 : m / 1000.0;
}

TEST_F_TIMEOUT(return_rate, sampled, 300)
{
	int mb = zsf_size_mb(256), procs = variant->procs;
	int rounds = zsf_env.rounds_multi < 16 ? zsf_env.rounds_multi : 16;
	uint64_t r50[16], r90[16], a50[16], a90[16], wall[16], freed[16];
	struct zsf_round rr;
	int r;

	for (r = 0; r < rounds; r++) {
		zsf_release_round(_metadata, &self->c, mb, procs, variant->by_exit,
				  true, 0x3000 + r * 8, &rr);
		ASSERT_LE(0, rr.drain_ms);
		r50[r] = zsf_ms_us(rr.ret50);
		r90[r] = zsf_ms_us(rr.ret90);
		a50[r] = zsf_ms_us(rr.av50);
		a90[r] = zsf_ms_us(rr.av90);
		wall[r] = rr.wall / 1000;
		freed[r] = rr.freed / 1024;
		if (!rr.freed)	/* zswap rejecting stores (pool was full): no figure */
			TH_LOG("round %d: the pool did not grow, nothing to return", r);
	}
	zsf_figure(&self->c,
		   "case=%s size_mb=%d procs=%d wall_us=%llu freed_kb=%llu ret50_ms=%.1f ret90_ms=%.1f avail50_ms=%.1f avail90_ms=%.1f rounds=%d",
		   variant->by_exit ? "return_exit" : "return_munmap", mb, procs,
		   (unsigned long long)zsf_percentiles(wall, rounds).med,
		   (unsigned long long)zsf_percentiles(freed, rounds).med,
		   zsf_med_ms(r50, rounds), zsf_med_ms(r90, rounds),
		   zsf_med_ms(a50, rounds), zsf_med_ms(a90, rounds), rounds);
}

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
	if (have)
		ASSERT_TRUE(zsf_deferred_quiet(c, &d0, ZSF_DEADLINE_MS))
			TH_LOG(
			       "deferred frees of the page-out never drained: pending %llu, enqueued %llu, drained %llu",
			       (unsigned long long)d0.pending, (unsigned long long)d0.enqueued,
			       (unsigned long long)d0.drained);
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
	EXPECT_TRUE(zsf_deferred_quiet(c, &d1, ZSF_DEADLINE_MS))
		TH_LOG(
		       "deferred frees never drained after the burst: pending %llu, enqueued %llu, drained %llu",
		       (unsigned long long)d1.pending, (unsigned long long)d1.enqueued,
		       (unsigned long long)d1.drained);
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
	ASSERT_TRUE(ZSF_SWAPPED_OK(sw, n)) TH_LOG("%ld of %ld pages swapped", sw, n);
	bad = zsf_verify(a, bytes, 0x5001, 1);
	ASSERT_EQ(0, bad) TH_LOG("%ld of %ld pages wrong after full swap-in", bad, n);
	/* rewrite the second half, page both out, read both back */
	zsf_fill(a + half, half, 0x5002);
	sw = zsf_pageout(a, bytes);
	ASSERT_TRUE(ZSF_SWAPPED_OK(sw, n)) TH_LOG("%ld of %ld pages swapped", sw, n);
	bad = zsf_verify(a, half, 0x5001, 1) + zsf_verify(a + half, half, 0x5002, 1);
	ASSERT_EQ(0, bad) TH_LOG("%ld of %ld pages wrong after rewrite + swap-in", bad, n);
	/* free the first half while swapped, reuse its slots and handles */
	sw = zsf_pageout(a, bytes);
	ASSERT_TRUE(ZSF_SWAPPED_OK(sw, n)) TH_LOG("%ld of %ld pages swapped", sw, n);
	ASSERT_EQ(0, munmap(a, half));
	b = zsf_region(half);
	ASSERT_NE(NULL, b);
	zsf_fill(b, half, 0x5003);
	sw = zsf_pageout(b, half);
	ASSERT_TRUE(ZSF_SWAPPED_OK(sw, n / 2)) TH_LOG("%ld of %ld pages swapped", sw, n / 2);
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
			    const FIXTURE_VARIANT(race) *variant, int secs);

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
	tool = zsf_race_extra(_metadata, &self->c, variant, secs);
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
