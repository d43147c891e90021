/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zsf_tests_latency.h - the latency scenarios: munmap (one release of
 * 64..512 MB), teardown (1..4 processes released together by munmap() or
 * exit), return_rate (how fast the pool and MemAvailable come back) and
 * percall (the free path's functions timed per call, kernel-side). Their
 * figures are what ci/ab compares: its DEFAULT_FILTER selects these
 * fixtures only (-f munmap, -r teardown.pN_munmap.concurrent,
 * -r return_rate.pN_munmap.sampled, -f percall). Each also ends in zsf_check_clean(),
 * so the gate's correctness set (CORRECTNESS in ci/vm) runs three of them
 * for their checks: munmap.mb64.latency, teardown.p4_{munmap,exit}.concurrent.
 */
#ifndef ZSGATE_ZSF_TESTS_LATENCY_H
#define ZSGATE_ZSF_TESTS_LATENCY_H

#include "zsf_tests_fixture.h"

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

/*
 * @hogs: a process group (stress-ng, zsf_tests_bench.h's pressure case) the
 * caller stopped (SIGSTOP) so that the workers prepare undisturbed; it is
 * continued once they are ready, 100 ms before the release. -1: none.
 */
static void zsf_release_round_hogs(struct __test_metadata *_metadata,
				   struct zsf_ctx *c, int mb, int procs,
				   bool by_exit, bool sample, uint32_t seed,
				   pid_t hogs, struct zsf_round *out)
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
			if (zsf_swapped_ok(w[i].swapped, n))
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
	if (hogs > 0) {
		kill(-hogs, SIGCONT);
		usleep(100000);	/* hogs back on every CPU */
	}
	for (i = 0; i < procs; i++) {
		EXPECT_EQ(0, w[i].failed);
		EXPECT_TRUE(zsf_swapped_ok(w[i].swapped, (long)(bytes / PG)))
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

static void zsf_release_round(struct __test_metadata *_metadata,
			      struct zsf_ctx *c, int mb, int procs,
			      bool by_exit, bool sample, uint32_t seed,
			      struct zsf_round *out)
{
	zsf_release_round_hogs(_metadata, c, mb, procs, by_exit, sample, seed, -1, out);
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
 * percall: the free path timed per call, kernel-side (zsf_percall.c). One
 * munmap of 64 MB (quick: 16) per round as in munmap.latency, with a
 * kprobe/kretprobe pair and a latency histogram armed on the backend's
 * release entry point, zs_free() and zs_free_deferred() (those the kernel
 * has) from just before the munmap() until the pool is back at baseline,
 * so that deferred frees count too. The probes slow the release: a pass of
 * its own, after the other latency cases. ci/ab compares the per-call
 * medians of each function (docs/vm-ab.md). A kernel without kprobe
 * events or hist triggers SKIPs, naming the option.
 */
FIXTURE(percall) {
	struct zsf_ctx c;
	struct zsf_percall *p;
};

FIXTURE_SETUP(percall)
{
	static const char *const fns[] = {
		ZSF_RELEASE_FN,
		"zs_free", "zs_free_deferred",
	};
	char why[256] = "";
	int r;

	self->p = NULL;
	if (!zsf_setup_or_skip(_metadata, &self->c, 0))
		return;
	self->p = calloc(1, sizeof(*self->p));
	ASSERT_NE(NULL, self->p);
	r = zsf_percall_init(&self->c, self->p, fns, ARRAY_SIZE(fns), why, sizeof(why));
	if (r == KSFT_SKIP)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, r);
}

FIXTURE_TEARDOWN(percall)
{
	if (self->p) {
		zsf_percall_stop(self->p);	/* after a failed ASSERT */
		free(self->p);
	}
	ZSF_TEARDOWN();
}

TEST_F_TIMEOUT(percall, free_path, 300)
{
	int mb = zsf_size_mb(64), rounds = zsf_env.rounds, r;
	size_t bytes = mb * ZSF_MB;
	char why[256] = "";

	for (r = 0; r < rounds; r++) {
		char *p = zsf_region(bytes);
		double ms;

		ASSERT_NE(NULL, p);
		zsf_prepare(_metadata, p, bytes, 0x5000 + r);
		if (zsf_percall_start(self->p, why, sizeof(why)))
			SKIP(return, "cannot time the free path here: %s", why);
		ASSERT_EQ(0, munmap(p, bytes));
		ms = zsf_check_clean(_metadata, &self->c);
		zsf_percall_stop(self->p);
		ASSERT_LE(0, ms);
	}
	zsf_percall_figures(&self->c, self->p, mb, rounds);
}

#endif
