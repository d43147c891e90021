// SPDX-License-Identifier: GPL-2.0
/*
 * zsf_measure.c - measurement: CLOCK_MONOTONIC and thread CPU time,
 * kworker CPU time, percentiles, and the "# zsgate:" figure lines.
 * API in swapfree.h.
 */
#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "swapfree.h"

uint64_t zsf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

uint64_t zsf_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * CPU time of one task in ns: se.sum_exec_runtime of /proc/<pid>/sched
 * ("<ms>.<ns, 6 digits>", always there since 6.16), else the first field
 * of /proc/<pid>/schedstat (CONFIG_SCHED_INFO). false when neither exists.
 */
static bool task_cpu_ns(const char *pid, uint64_t *ns)
{
	char path[32 + NAME_MAX], line[256];
	unsigned long long ms, frac;
	bool ok = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/sched", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "se.sum_exec_runtime", 19) || !colon)
			continue;
		if (sscanf(colon + 1, " %llu.%llu", &ms, &frac) == 2) {
			*ns = ms * 1000000ULL + frac;
			ok = true;
		}
		break;
	}
	if (f)
		fclose(f);
	if (ok)
		return true;
	snprintf(path, sizeof(path), "/proc/%s/schedstat", pid);
	f = fopen(path, "r");
	if (f && fscanf(f, "%llu", &ms) == 1) {
		*ns = ms;
		ok = true;
	}
	if (f)
		fclose(f);
	return ok;
}

bool zsf_kworker_cpu_ns(uint64_t *total)
{
	struct dirent *de;
	bool any = false;
	DIR *d = opendir("/proc");

	*total = 0;
	while (d && (de = readdir(d))) {
		char path[32 + NAME_MAX], comm[64] = "";
		uint64_t ns;
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (strncmp(comm, "kworker/", 8))
			continue;
		if (task_cpu_ns(de->d_name, &ns)) {
			*total += ns;
			any = true;
		}
	}
	if (d)
		closedir(d);
	return any;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct zsf_pct zsf_percentiles(uint64_t *v, int n)
{
	struct zsf_pct r = { 0 };

	if (n <= 0)
		return r;
	qsort(v, n, sizeof(*v), cmp_u64);
	/* nearest rank */
	r.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	r.p10 = v[(n * 10 + 99) / 100 - 1 < 0 ? 0 : (n * 10 + 99) / 100 - 1];
	r.p90 = v[(n * 90 + 99) / 100 - 1];
	return r;
}

void zsf_figure(struct zsf_ctx *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("# zsgate: backend=%s %s\n", c->name, line);
	fflush(stdout);
}
