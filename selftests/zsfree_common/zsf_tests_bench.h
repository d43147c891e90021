/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zsf_tests_bench.h - the cases `make bench` adds to the latency ones, one
 * per question of the seed thread's reviewers (docs: issue 14):
 *   swapin       256 MB of patterned pages swapped out, then faulted back
 *                in: the cover letter's "swap-in is faster too" (1.22x)
 *   mixed        one munmap() of a region 50 % resident / 50 % swapped and,
 *                for comparison, 100 % swapped, with the memory-return curve
 *                (pool and MemAvailable sampled every 1 ms, as return_rate)
 *   compaction   one munmap() while a thread loops vm.compact_memory and the
 *                backend's compaction (zs_page_migrate(), pool->lock writers)
 *   pressure     one munmap(), and 4 processes exiting, with every CPU
 *                busy (stress-ng --cpu N at normal priority): release
 *                time, memory back, total CPU
 * Neither ci/ab's DEFAULT_FILTER nor the gate's CORRECTNESS set selects
 * them; `make bench` runs them by fixture (-f swapin -f mixed ...). Every
 * test ends in zsf_check_clean() like the others: data intact, pool back at
 * baseline (unless ZSGATE_CONTROL=1, see swapfree.h), no splat.
 */
#ifndef ZSGATE_ZSF_TESTS_BENCH_H
#define ZSGATE_ZSF_TESTS_BENCH_H

#include "zsf_tests_fixture.h"
#include "zsf_tests_latency.h"	/* the 1 ms sampler, zsf_reached(), zsf_ms_us() */

/* one timed munmap() of a prepared region, as munmap.latency times it */
struct zsf_bench_round {
	uint64_t t, cpu, kw;
	bool have_kw;
	double drain_ms;
	/* with the sampler only */
	double ret50, ret90, av50, av90;
	uint64_t freed;		/* pool bytes expected back */
};

/*
 * Release @p by munmap(), timed; then zsf_check_clean(). With @sample, the
 * 1 ms sampler of return_rate runs from just before the release until the
 * pool is back: ret50/ret90 are the pool's growth back by 50/90 %, av50/av90
 * MemAvailable up by 50/90 % of that growth plus @resident bytes (the
 * resident pages the munmap() frees at once).
 */
static void zsf_bench_release(struct __test_metadata *_metadata,
			      struct zsf_ctx *c, char *p, size_t bytes,
			      uint64_t resident, bool sample,
			      struct zsf_bench_round *out)
{
	struct zsf_sampler sm = { .c = c };
	uint64_t t0, c0, k0 = 0, k1 = 0, avail_pre = 0;
	struct zsf_stats st0 = { 0 };
	pthread_t th;

	memset(out, 0, sizeof(*out));
	if (sample) {
		sm.max = 30000;
		sm.s = calloc(sm.max, sizeof(*sm.s));
		ASSERT_NE(NULL, sm.s);
		ASSERT_EQ(0, pthread_create(&th, NULL, zsf_sampler_fn, &sm));
		usleep(20000);	/* a few samples before the release */
	}
	if (sample) {
		zsf_stats(c, &st0);
		avail_pre = zsf_memavailable();
	}
	out->have_kw = zsf_kworker_cpu_ns(&k0);
	c0 = zsf_thread_cpu_ns();
	zsf_fault("release");
	t0 = zsf_now_ns();
	ASSERT_EQ(0, munmap(p, bytes));
	out->t = zsf_now_ns() - t0;
	out->cpu = zsf_thread_cpu_ns() - c0;
	out->drain_ms = zsf_check_clean(_metadata, c);
	out->have_kw &= zsf_kworker_cpu_ns(&k1);
	out->kw = k1 > k0 ? k1 - k0 : 0;
	if (sample) {
		uint64_t before = 0, avail0 = 0, back;
		int i;

		/*
		 * MemAvailable lags the pool: freed pages sit in the per-cpu
		 * page lists until those drain, so sample on until it is up by
		 * 90 % of what comes back, or 2 s after the drain.
		 */
		back = (st0.pool_bytes > c->base.pool_bytes ?
			st0.pool_bytes - c->base.pool_bytes : 0) + resident;
		for (i = 0; i < 400 && zsf_memavailable() < avail_pre + back * 9 / 10; i++)
			usleep(5000);
		usleep(20000);	/* let the sampler see the drained pool */
		__atomic_store_n(&sm.stop, 1, __ATOMIC_RELAXED);
		pthread_join(th, NULL);
		for (i = 0; i < sm.n && sm.s[i].t < t0; i++) {
			before = sm.s[i].pool;
			avail0 = sm.s[i].avail;
		}
		out->freed = before > c->base.pool_bytes ? before - c->base.pool_bytes : 0;
		back = out->freed + resident;
		out->ret50 = zsf_reached(&sm, t0, true, before - out->freed / 2);
		out->ret90 = zsf_reached(&sm, t0, true, before - out->freed * 9 / 10);
		out->av50 = zsf_reached(&sm, t0, false, avail0 + back / 2);
		out->av90 = zsf_reached(&sm, t0, false, avail0 + back * 9 / 10);
		free(sm.s);
	}
}

/* per-round values of the timed single-process cases, and their figure */
struct zsf_bench_stats {
	int n;
	bool have_kw, sampled;
	uint64_t t[64], cpu[64], kw[64], tot[64], dr[64];
	uint64_t r50[64], r90[64], a50[64], a90[64], freed[64];
};

static void zsf_bench_add(struct zsf_bench_stats *st, const struct zsf_bench_round *r,
			  bool sampled)
{
	int i = st->n++;

	if (!i)
		st->have_kw = true;
	st->have_kw &= r->have_kw;
	st->sampled = sampled;
	st->t[i] = r->t;
	st->cpu[i] = r->cpu;
	st->kw[i] = r->kw;
	st->tot[i] = r->cpu + r->kw;
	st->dr[i] = r->drain_ms < 0 ? 0 : r->drain_ms * 1000;
	st->r50[i] = zsf_ms_us(r->ret50);
	st->r90[i] = zsf_ms_us(r->ret90);
	st->a50[i] = zsf_ms_us(r->av50);
	st->a90[i] = zsf_ms_us(r->av90);
	st->freed[i] = r->freed / 1024;
}

/*
 * "case=<name> size_mb=.. procs=1 <extra> median_us .. rounds=..": keys as
 * munmap.latency's, the return-curve keys of return_rate when sampled.
 */
static void zsf_bench_figure(struct zsf_ctx *c, const char *name, int mb,
			     const char *extra, struct zsf_bench_stats *st)
{
	struct zsf_pct pt = zsf_percentiles(st->t, st->n);
	struct zsf_pct pc = zsf_percentiles(st->cpu, st->n);
	char kw[128] = "", ret[192] = "";

	if (st->have_kw)
		snprintf(kw, sizeof(kw), " kworker_us=%llu cpu_total_us=%llu",
			 US(zsf_percentiles(st->kw, st->n).med),
			 US(zsf_percentiles(st->tot, st->n).med));
	if (st->sampled)
		snprintf(ret, sizeof(ret),
			 " freed_kb=%llu ret50_ms=%.1f ret90_ms=%.1f avail50_ms=%.1f avail90_ms=%.1f",
			 (unsigned long long)zsf_percentiles(st->freed, st->n).med,
			 zsf_med_ms(st->r50, st->n), zsf_med_ms(st->r90, st->n),
			 zsf_med_ms(st->a50, st->n), zsf_med_ms(st->a90, st->n));
	zsf_figure(c,
		   "case=%s size_mb=%d procs=1%s median_us=%llu p10_us=%llu p90_us=%llu cpu_us=%llu%s%s drain_ms=%.1f rounds=%d",
		   name, mb, extra, US(pt.med), US(pt.p10), US(pt.p90), US(pc.med),
		   kw, ret, zsf_percentiles(st->dr, st->n).med / 1000.0, st->n);
}

static int zsf_bench_rounds(void)
{
	return zsf_env.rounds < 64 ? zsf_env.rounds : 64;
}

/* ------------------------------------------------------------------ */
/*
 * Swap-in: 256 MB (quick 64) of patterned pages, all swapped out (pagemap),
 * then faulted back in by reading one word per page, timed; every page is
 * then compared with its pattern, and the region released. With Part B the
 * release work of the slot a page came from (zram frees the slot when a
 * swapped-in page is exclusive; zswap's exclusive loads free the entry) may
 * leave the fault path. The figure is the fault-in time (case=swapin), the
 * compare is not timed.
 */
FIXTURE(swapin) {
	struct zsf_ctx c;
};

FIXTURE_SETUP(swapin)
{
	if (!zsf_setup_or_skip(_metadata, &self->c, 0))
		return;
}

FIXTURE_TEARDOWN(swapin)
{
	ZSF_TEARDOWN();
}

TEST_F_TIMEOUT(swapin, readback, 300)
{
	int mb = zsf_size_mb(256), rounds = zsf_bench_rounds(), r;
	size_t bytes = mb * ZSF_MB, n = bytes / PG;
	uint64_t t[64], cpu[64];
	struct zsf_pct pt, pc;

	for (r = 0; r < rounds; r++) {
		char *p = zsf_region(bytes);
		uint64_t t0, c0;
		long sw, bad;
		unsigned char sum = 0;
		size_t i;

		ASSERT_NE(NULL, p);
		zsf_fill(p, bytes, 0x7000 + r);
		sw = zsf_pageout(p, bytes);
		ASSERT_TRUE(zsf_swapped_ok(sw, (long)n))
			TH_LOG("pagemap: %ld of %zu pages swapped after MADV_PAGEOUT", sw, n);
		c0 = zsf_thread_cpu_ns();
		t0 = zsf_now_ns();
		for (i = 0; i < n; i++)
			sum += p[i * PG + 64];
		/* sum is used: the compiler keeps every read, i.e. every fault */
		asm volatile("" : : "r"(sum));
		t[r] = zsf_now_ns() - t0;
		cpu[r] = zsf_thread_cpu_ns() - c0;
		sw = zsf_count_swapped(p, bytes);
		EXPECT_EQ(0, sw) TH_LOG("%ld pages still swapped after reading every page", sw);
		bad = zsf_verify(p, bytes, 0x7000 + r, 1);
		ASSERT_EQ(0, bad)
			TH_LOG("%ld of %zu pages read back wrong after swap-in", bad, n);
		ASSERT_EQ(0, munmap(p, bytes));
		ASSERT_LE(0, zsf_check_clean(_metadata, &self->c));
	}
	pt = zsf_percentiles(t, rounds);
	pc = zsf_percentiles(cpu, rounds);
	zsf_figure(&self->c,
		   "case=swapin size_mb=%d procs=1 median_us=%llu p10_us=%llu p90_us=%llu cpu_us=%llu rounds=%d",
		   mb, US(pt.med), US(pt.p10), US(pt.p90), US(pc.med), rounds);
}

/* ------------------------------------------------------------------ */
/*
 * Mixed resident/swapped: 256 MB (quick 64) filled, then MADV_PAGEOUT on
 * every other 1 MB chunk (resident50: half the region stays resident) or on
 * all of it (resident0: 100 % swapped, the same fixture's comparison),
 * checked chunk by chunk with pagemap and sampled read-back; one munmap()
 * timed with the memory-return curve. A process mostly resident frees its
 * anonymous pages at once, the swapped half through the backend: how much a
 * deferred free gains there is the question (case=munmap_mixed,
 * resident_pct=50 or 0).
 */
#define ZSF_CHUNK ZSF_MB

FIXTURE(mixed) {
	struct zsf_ctx c;
};

FIXTURE_VARIANT(mixed) {
	int resident_pct;	/* 0 or 50 */
};

FIXTURE_VARIANT_ADD(mixed, resident50) { .resident_pct = 50 };
FIXTURE_VARIANT_ADD(mixed, resident0) { .resident_pct = 0 };

FIXTURE_SETUP(mixed)
{
	if (!zsf_setup_or_skip(_metadata, &self->c, 0))
		return;
}

FIXTURE_TEARDOWN(mixed)
{
	ZSF_TEARDOWN();
}

static bool zsf_mixed_out(int resident_pct, size_t chunk)
{
	return resident_pct == 0 || chunk % 2 == 1;
}

/* page out the chunks that go out; returns pages swapped among them */
static long zsf_mixed_pageout(char *p, size_t bytes, int resident_pct)
{
	long sw = 0;

	for (size_t k = 0; k < bytes / ZSF_CHUNK; k++)
		if (zsf_mixed_out(resident_pct, k))
			sw += zsf_pageout(p + k * ZSF_CHUNK, ZSF_CHUNK);
	return sw;
}

TEST_F_TIMEOUT(mixed, munmap, 300)
{
	int mb = zsf_size_mb(256), rounds = zsf_bench_rounds(), pct = variant->resident_pct;
	size_t bytes = mb * ZSF_MB, chunks = bytes / ZSF_CHUNK, k;
	long per = ZSF_CHUNK / PG, out_pages = 0;
	struct zsf_bench_stats *st = calloc(1, sizeof(*st));
	struct zsf_bench_round rr;
	char extra[32];
	int r;

	ASSERT_NE(NULL, st);
	for (k = 0; k < chunks; k++)
		out_pages += zsf_mixed_out(pct, k) ? per : 0;
	for (r = 0; r < rounds; r++) {
		char *p = zsf_region(bytes);
		long sw, bad, stray = 0, res = 0;

		ASSERT_NE(NULL, p);
		zsf_fill(p, bytes, 0x8000 + r);
		sw = zsf_mixed_pageout(p, bytes, pct);
		ASSERT_TRUE(zsf_swapped_ok(sw, out_pages))
			TH_LOG("pagemap: %ld of %ld pages swapped after MADV_PAGEOUT",
			       sw, out_pages);
		bad = zsf_verify(p, bytes, 0x8000 + r, 64);
		ASSERT_EQ(0, bad)
			TH_LOG("%ld of %zu sampled pages read back wrong", bad, bytes / PG / 64);
		sw = zsf_mixed_pageout(p, bytes, pct);
		ASSERT_TRUE(zsf_swapped_ok(sw, out_pages))
			TH_LOG("pagemap: %ld of %ld pages swapped after the second MADV_PAGEOUT",
			       sw, out_pages);
		for (k = 0; k < chunks; k++)
			if (!zsf_mixed_out(pct, k)) {
				stray += zsf_count_swapped(p + k * ZSF_CHUNK, ZSF_CHUNK);
				res += per;
			}
		ASSERT_EQ(0, stray)
			TH_LOG("%ld pages of the resident chunks were swapped out", stray);
		zsf_bench_release(_metadata, &self->c, p, bytes, res * PG, true, &rr);
		ASSERT_LE(0, rr.drain_ms);
		zsf_bench_add(st, &rr, true);
	}
	snprintf(extra, sizeof(extra), " resident_pct=%d", pct);
	zsf_bench_figure(&self->c, "munmap_mixed", mb, extra, st);
	free(st);
}

/* ------------------------------------------------------------------ */
/*
 * Compaction: 256 MB (quick 64) all swapped out, released by one munmap()
 * while a thread loops the backend's compaction (zram "compact" of our
 * device, zswap's debugfs zsmalloc compact) and vm.compact_memory (zsmalloc
 * page migration: zs_page_migrate(), the pool->lock writers the free path
 * contends with), every 10 ms from before the release until the pool is
 * back (case=munmap_compact, compactions = triggers during the round).
 */
FIXTURE(compaction) {
	struct zsf_ctx c;
};

FIXTURE_SETUP(compaction)
{
	if (!zsf_setup_or_skip(_metadata, &self->c, 0))
		return;
}

FIXTURE_TEARDOWN(compaction)
{
	ZSF_TEARDOWN();
}

struct zsf_compactor {
	struct zsf_ctx *c;
	int stop;	/* __atomic_*: written by the test, read by the thread */
	long n;
};

static void *zsf_compactor_fn(void *arg)
{
	struct zsf_compactor *k = arg;

	while (!__atomic_load_n(&k->stop, __ATOMIC_RELAXED)) {
		zsf_compact_backend(k->c);
		zsf_compact_memory();
		k->n++;
		usleep(10000);
	}
	return NULL;
}

TEST_F_TIMEOUT(compaction, munmap, 300)
{
	int mb = zsf_size_mb(256), rounds = zsf_bench_rounds(), r;
	size_t bytes = mb * ZSF_MB;
	struct zsf_bench_stats *st = calloc(1, sizeof(*st));
	uint64_t comp[64];
	struct zsf_bench_round rr;
	char extra[64];

	ASSERT_NE(NULL, st);
	for (r = 0; r < rounds; r++) {
		struct zsf_compactor k = { .c = &self->c };
		char *p = zsf_region(bytes);
		pthread_t th;

		ASSERT_NE(NULL, p);
		zsf_prepare(_metadata, p, bytes, 0x9000 + r);
		ASSERT_EQ(0, pthread_create(&th, NULL, zsf_compactor_fn, &k));
		usleep(50000);	/* compaction under way before the release */
		zsf_bench_release(_metadata, &self->c, p, bytes, 0, false, &rr);
		__atomic_store_n(&k.stop, 1, __ATOMIC_RELAXED);
		pthread_join(th, NULL);
		ASSERT_LE(0, rr.drain_ms);
		EXPECT_LE(1, k.n) TH_LOG("compaction never completed during the round");
		comp[r] = k.n;
		zsf_bench_add(st, &rr, false);
	}
	snprintf(extra, sizeof(extra), " compactions=%llu",
		 (unsigned long long)zsf_percentiles(comp, rounds).med);
	zsf_bench_figure(&self->c, "munmap_compact", mb, extra, st);
	free(st);
}

/* ------------------------------------------------------------------ */
/*
 * Pressure: the release with every CPU busy (stress-ng --cpu N, N = online
 * CPUs, normal priority), so Part B's drain worker competes with the hogs
 * as on a loaded phone. The hogs are stopped (SIGSTOP) while a round
 * prepares and run from 100 ms before the release until the pool is back.
 *   p1_munmap  256 MB (quick 64) all swapped out, one munmap(): release
 *              time, CPU of munmap() + all kworkers, the memory-return
 *              curve (case=munmap_pressure, hogs=N)
 *   p4_exit    4 processes of 256 MB (quick 64) exiting together, as
 *              teardown.p4_exit: per-process and wall time, the memory-return
 *              curve (case=teardown_exit_pressure, hogs=N)
 * SKIPs without stress-ng.
 */
FIXTURE(pressure) {
	struct zsf_ctx c;
	pid_t hogs;
};

FIXTURE_VARIANT(pressure) {
	int procs;
	bool by_exit;
};

FIXTURE_VARIANT_ADD(pressure, p1_munmap) { .procs = 1 };
FIXTURE_VARIANT_ADD(pressure, p4_exit) { .procs = 4, .by_exit = true };

FIXTURE_SETUP(pressure)
{
	self->hogs = -1;
	zsf_env_load();
	if (!zsf_have_tool("stress-ng"))
		SKIP(return, "stress-ng not installed: no CPU hogs for the pressure case");
	if (!zsf_setup_or_skip(_metadata, &self->c, 0))
		return;
}

FIXTURE_TEARDOWN(pressure)
{
	zsf_reap(self->hogs, SIGKILL);
	ZSF_TEARDOWN();
}

static void zsf_pressure_exit(struct __test_metadata *_metadata,
			      struct zsf_ctx *c, int mb, int procs, pid_t hogs,
			      const char *ncpu)
{
	int rounds = zsf_env.rounds_multi < 16 ? zsf_env.rounds_multi : 16, r, i;
	uint64_t per[16 * 8], wall[16], r50[16], r90[16], a50[16], a90[16], freed[16];
	struct zsf_pct pp, pw;
	struct zsf_round rr;

	for (r = 0; r < rounds; r++) {
		kill(-hogs, SIGSTOP);
		zsf_release_round_hogs(_metadata, c, mb, procs, true, true,
				       0xb000 + r * 8, hogs, &rr);
		ASSERT_LE(0, rr.drain_ms);
		for (i = 0; i < procs; i++)
			per[r * procs + i] = rr.per[i];
		wall[r] = rr.wall;
		r50[r] = zsf_ms_us(rr.ret50);
		r90[r] = zsf_ms_us(rr.ret90);
		a50[r] = zsf_ms_us(rr.av50);
		a90[r] = zsf_ms_us(rr.av90);
		freed[r] = rr.freed / 1024;
	}
	pp = zsf_percentiles(per, rounds * procs);
	pw = zsf_percentiles(wall, rounds);
	zsf_figure(c,
		   "case=teardown_exit_pressure size_mb=%d procs=%d hogs=%s median_us=%llu p10_us=%llu p90_us=%llu wall_us=%llu freed_kb=%llu ret50_ms=%.1f ret90_ms=%.1f avail50_ms=%.1f avail90_ms=%.1f rounds=%d",
		   mb, procs, ncpu, US(pp.med), US(pp.p10), US(pp.p90), US(pw.med),
		   (unsigned long long)zsf_percentiles(freed, rounds).med,
		   zsf_med_ms(r50, rounds), zsf_med_ms(r90, rounds),
		   zsf_med_ms(a50, rounds), zsf_med_ms(a90, rounds), rounds);
}

TEST_F_TIMEOUT(pressure, release, 300)
{
	int mb = zsf_size_mb(256), rounds = zsf_bench_rounds(), r;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t bytes = mb * ZSF_MB;
	struct zsf_bench_stats *st = calloc(1, sizeof(*st));
	struct zsf_bench_round rr;
	char ncpu[24], extra[32];
	char *const argv[] = { "stress-ng", "--cpu", ncpu, "--timeout", "3600s", "-q", NULL };

	ASSERT_NE(NULL, st);
	snprintf(ncpu, sizeof(ncpu), "%ld", cpus > 0 ? cpus : 1);
	self->hogs = zsf_spawn(&self->c, argv, "/tmp/zsgate-stress-ng-cpu.log");
	ASSERT_LT(0, self->hogs);
	usleep(200000);	/* stress-ng forks its hogs */
	if (variant->by_exit) {
		zsf_pressure_exit(_metadata, &self->c, mb, variant->procs, self->hogs, ncpu);
	} else {
		for (r = 0; r < rounds; r++) {
			char *p = zsf_region(bytes);

			ASSERT_NE(NULL, p);
			kill(-self->hogs, SIGSTOP);
			zsf_prepare(_metadata, p, bytes, 0xa000 + r);
			kill(-self->hogs, SIGCONT);
			usleep(100000);	/* hogs back on every CPU */
			zsf_bench_release(_metadata, &self->c, p, bytes, 0, true, &rr);
			ASSERT_LE(0, rr.drain_ms);
			zsf_bench_add(st, &rr, true);
		}
	}
	/* the hogs must have run all along, else there was no pressure */
	EXPECT_EQ(0, waitpid(self->hogs, NULL, WNOHANG))
		TH_LOG("stress-ng ended early: see /tmp/zsgate-stress-ng-cpu.log");
	zsf_reap(self->hogs, SIGKILL);
	self->hogs = -1;
	if (!variant->by_exit) {
		snprintf(extra, sizeof(extra), " hogs=%s", ncpu);
		zsf_bench_figure(&self->c, "munmap_pressure", mb, extra, st);
	}
	free(st);
}

#endif
