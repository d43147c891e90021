// SPDX-License-Identifier: GPL-2.0
/*
 * zsf_percall.c - per-call time of the free path's functions with the
 * kernel's own tracing (Documentation/trace/histogram.rst, "Synthetic
 * Events"): per function F a kprobe and a kretprobe event (zsgate/F_in,
 * zsgate/F_out), a synthetic event zsgate_F_lat carrying exit - entry in
 * ns (paired by pid), and a hist trigger on it that buckets the
 * latencies. Nothing goes to the ring buffer. Every tracefs change is
 * recorded for the guardian before it is made, so a killed test leaves no
 * probe behind. API in swapfree.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "swapfree.h"
#include "zsf_internal.h"

#define TRACEFS_A "/sys/kernel/tracing"
#define TRACEFS_B DEBUGFS "/tracing"

static const char *tracefs_dir(struct zsf_ctx *c)
{
	if (!access(TRACEFS_A "/kprobe_events", F_OK) || !access(TRACEFS_A "/README", F_OK))
		return TRACEFS_A;
	if (!access(TRACEFS_B "/README", F_OK))
		return TRACEFS_B;
	if (!access(TRACEFS_A, F_OK) && mount("tracefs", TRACEFS_A, "tracefs", 0, NULL) == 0) {
		zsf_rec(c, "umount %s", TRACEFS_A);
		return TRACEFS_A;
	}
	return NULL;
}

/* write @val to tracefs file @rel; record @undo (no spaces) for the guardian */
static int tset(struct zsf_percall *p, const char *rel, const char *val,
		const char *undo)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", p->tracefs, rel);
	if (undo)
		zsf_rec(p->c, "trace %s %s", path, undo);
	return zsf_write_str(path, val);
}

static void tundo(struct zsf_percall *p, const char *rel, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", p->tracefs, rel);
	zsf_write_str(path, val);
}

/* the trigger strings of function @f (identical for add and "!" remove) */
static void triggers(const char *f, char *in, char *out, char *lat, size_t len)
{
	snprintf(in, len, "hist:keys=common_pid:t0_%s=common_timestamp", f);
	snprintf(out, len,
		 "hist:keys=common_pid:lat_%s=common_timestamp-$t0_%s:onmatch(zsgate.%s_in).trace(zsgate_%s_lat,$lat_%s)",
		 f, f, f, f, f);
	snprintf(lat, len, "hist:keys=lat.buckets=%d:size=16384", ZSF_PERCALL_BUCKET_NS);
}

static int fn_on(struct zsf_percall *p, struct zsf_percall_fn *x, char *why, size_t len)
{
	char val[512], undo[512], rel[256], t_in[512], t_out[512], t_lat[512];
	const char *f = x->fn;
	int r;

	snprintf(val, sizeof(val), "zsgate_%s_lat u64 lat", f);
	snprintf(undo, sizeof(undo), "!zsgate_%s_lat", f);
	r = tset(p, "synthetic_events", val, undo);
	if (r) {
		snprintf(why, len, "synthetic event for %s: %s", f, strerror(-r));
		return r;
	}
	snprintf(val, sizeof(val), "p:zsgate/%s_in %s", f, f);
	snprintf(undo, sizeof(undo), "-:zsgate/%s_in", f);
	r = tset(p, "kprobe_events", val, undo);
	if (!r) {
		snprintf(val, sizeof(val), "r:zsgate/%s_out %s", f, f);
		snprintf(undo, sizeof(undo), "-:zsgate/%s_out", f);
		r = tset(p, "kprobe_events", val, undo);
	}
	if (r) {
		snprintf(why, len, "kprobe on %s: %s", f, strerror(-r));
		return r;
	}
	triggers(f, t_in, t_out, t_lat, sizeof(t_in));
	snprintf(rel, sizeof(rel), "events/synthetic/zsgate_%s_lat/trigger", f);
	snprintf(undo, sizeof(undo), "!%s", t_lat);
	r = tset(p, rel, t_lat, undo);
	if (!r) {
		snprintf(rel, sizeof(rel), "events/zsgate/%s_in/trigger", f);
		snprintf(undo, sizeof(undo), "!%s", t_in);
		r = tset(p, rel, t_in, undo);
	}
	if (!r) {
		snprintf(rel, sizeof(rel), "events/zsgate/%s_out/trigger", f);
		snprintf(undo, sizeof(undo), "!%s", t_out);
		r = tset(p, rel, t_out, undo);
	}
	if (r) {
		snprintf(why, len, "hist trigger for %s: %s (CONFIG_HIST_TRIGGERS)", f,
			 strerror(-r));
		return r;
	}
	x->on = true;
	return 0;
}

/* read the histogram of @x into its buckets, then remove what fn_on() made */
static void fn_off(struct zsf_percall *p, struct zsf_percall_fn *x)
{
	char rel[256], val[600], t_in[512], t_out[512], t_lat[512], line[256];
	unsigned long long lo, hi, n;
	const char *f = x->fn;
	FILE *h;

	snprintf(rel, sizeof(rel), "%s/events/synthetic/zsgate_%s_lat/hist", p->tracefs, f);
	h = x->on ? fopen(rel, "re") : NULL;
	while (h && fgets(line, sizeof(line), h)) {
		if (sscanf(line, "{ lat: ~ %llu-%llu } hitcount: %llu", &lo, &hi, &n) == 3) {
			unsigned long long b = lo / ZSF_PERCALL_BUCKET_NS;

			x->bucket[b < ZSF_PERCALL_NBUCKETS ? b : ZSF_PERCALL_NBUCKETS - 1] += n;
			x->calls += n;
		} else if (sscanf(line, " Dropped: %llu", &n) == 1) {
			x->dropped += n;
		}
	}
	if (h)
		fclose(h);
	triggers(f, t_in, t_out, t_lat, sizeof(t_in));
	snprintf(rel, sizeof(rel), "events/zsgate/%s_out/trigger", f);
	snprintf(val, sizeof(val), "!%s", t_out);
	tundo(p, rel, val);
	snprintf(rel, sizeof(rel), "events/zsgate/%s_in/trigger", f);
	snprintf(val, sizeof(val), "!%s", t_in);
	tundo(p, rel, val);
	snprintf(rel, sizeof(rel), "events/synthetic/zsgate_%s_lat/trigger", f);
	snprintf(val, sizeof(val), "!%s", t_lat);
	tundo(p, rel, val);
	snprintf(val, sizeof(val), "-:zsgate/%s_out", f);
	tundo(p, "kprobe_events", val);
	snprintf(val, sizeof(val), "-:zsgate/%s_in", f);
	tundo(p, "kprobe_events", val);
	snprintf(val, sizeof(val), "!zsgate_%s_lat", f);
	tundo(p, "synthetic_events", val);
	x->on = false;
}

/* @f a text symbol of the running kernel (/proc/kallsyms) */
static bool have_symbol(const char *f)
{
	char line[256], sym[128], t;
	bool found = false;
	FILE *k = fopen("/proc/kallsyms", "re");

	while (k && !found && fgets(line, sizeof(line), k))
		found = sscanf(line, "%*s %c %127s", &t, sym) == 2 &&
			(t == 't' || t == 'T') && !strcmp(sym, f);
	if (k)
		fclose(k);
	return found;
}

int zsf_percall_init(struct zsf_ctx *c, struct zsf_percall *p,
		     const char *const *fns, int nfns, char *why, size_t len)
{
	char path[256];
	int i;

	memset(p, 0, sizeof(*p));
	p->c = c;
	p->tracefs = tracefs_dir(c);
	if (!p->tracefs) {
		snprintf(why, len, "no tracefs (CONFIG_TRACING)");
		return KSFT_SKIP_RC;
	}
	snprintf(path, sizeof(path), "%s/kprobe_events", p->tracefs);
	if (access(path, W_OK)) {
		snprintf(why, len, "no %s (CONFIG_KPROBE_EVENTS)", path);
		return KSFT_SKIP_RC;
	}
	snprintf(path, sizeof(path), "%s/synthetic_events", p->tracefs);
	if (access(path, W_OK)) {
		snprintf(why, len, "no %s (CONFIG_HIST_TRIGGERS)", path);
		return KSFT_SKIP_RC;
	}
	for (i = 0; i < nfns && p->n < ZSF_PERCALL_MAX; i++) {
		if (!have_symbol(fns[i]))
			continue;
		snprintf(p->f[p->n].fn, sizeof(p->f[p->n].fn), "%s", fns[i]);
		p->n++;
	}
	if (!p->n) {
		snprintf(why, len, "none of the free path's functions is in /proc/kallsyms");
		return KSFT_SKIP_RC;
	}
	return 0;
}

int zsf_percall_start(struct zsf_percall *p, char *why, size_t len)
{
	int i, r;

	for (i = 0; i < p->n; i++) {
		r = fn_on(p, &p->f[i], why, len);
		if (r) {
			zsf_percall_stop(p);
			return r;
		}
	}
	return 0;
}

void zsf_percall_stop(struct zsf_percall *p)
{
	int i;

	/* the (last) function first, so that undo runs in reverse */
	for (i = p->n - 1; i >= 0; i--)
		fn_off(p, &p->f[i]);
}

/* the bucket lower bound (ns) at quantile @q of @x's calls */
static uint64_t bucket_q(const struct zsf_percall_fn *x, double q)
{
	uint64_t want = (uint64_t)(q * (x->calls - 1)), seen = 0;
	int b;

	for (b = 0; b < ZSF_PERCALL_NBUCKETS; b++) {
		seen += x->bucket[b];
		if (seen > want)
			break;
	}
	return (uint64_t)b * ZSF_PERCALL_BUCKET_NS + ZSF_PERCALL_BUCKET_NS / 2;
}

void zsf_percall_figures(struct zsf_ctx *c, const struct zsf_percall *p,
			 int mb, int rounds)
{
	int i;

	for (i = 0; i < p->n; i++) {
		const struct zsf_percall_fn *x = &p->f[i];

		if (!x->calls) {
			zsf_figure(c, "case=percall fn=%s size_mb=%d procs=1 calls=0 rounds=%d",
				   x->fn, mb, rounds);
			continue;
		}
		zsf_figure(c,
			   "case=percall fn=%s size_mb=%d procs=1 calls=%llu dropped=%llu median_ns=%llu p10_ns=%llu p90_ns=%llu bucket_ns=%d rounds=%d",
			   x->fn, mb, (unsigned long long)x->calls,
			   (unsigned long long)x->dropped,
			   (unsigned long long)bucket_q(x, 0.5),
			   (unsigned long long)bucket_q(x, 0.1),
			   (unsigned long long)bucket_q(x, 0.9),
			   ZSF_PERCALL_BUCKET_NS, rounds);
	}
}
