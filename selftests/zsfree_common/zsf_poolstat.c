// SPDX-License-Identifier: GPL-2.0
/*
 * zsf_poolstat.c - pool and memory readings: zram mm_stat / zswap pool
 * size, the wait for the pool to get back to its baseline (leak check,
 * orphaned slots), Part B's deferred counters, MemAvailable, SwapCached and
 * who holds swap.
 * API in swapfree.h.
 */
#include <dirent.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swapfree.h"
#include "zsf_internal.h"

static uint64_t meminfo_kb(const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	uint64_t v = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtoull(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

uint64_t zsf_memavailable(void)
{
	return meminfo_kb("MemAvailable") * 1024;
}

uint64_t zsf_swapcached(void)
{
	return meminfo_kb("SwapCached") * 1024;
}

long zsf_swap_used_pages(struct zsf_ctx *c)
{
	char line[512], name[300];
	unsigned long long size, used;
	long r = -1;
	FILE *f = fopen("/proc/swaps", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%299s %*s %llu %llu", name, &size, &used) == 3 &&
		    !strcmp(name, c->swapdev))
			r = used * 1024 / zsf_pagesz;
	fclose(f);
	return r;
}

void zsf_swap_users(char *buf, size_t len)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	size_t used = 0;

	buf[0] = 0;
	if (!d)
		return;
	while ((de = readdir(d)) && used + 64 < len) {
		char p[300], line[256], comm[64] = "?";
		unsigned long kb = 0;
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/status", de->d_name);
		f = fopen(p, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "Name: %63s", comm) == 1)
				continue;
			if (sscanf(line, "VmSwap: %lu", &kb) == 1)
				break;
		}
		fclose(f);
		if (kb)
			used += snprintf(buf + used, len - used, "%s(%s)=%lukB ",
					 de->d_name, comm, kb);
	}
	closedir(d);
}

int zsf_stats(struct zsf_ctx *c, struct zsf_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (c->be == ZSF_ZRAM) {
		char p[64], buf[256];
		unsigned long long orig, compr, used;

		snprintf(p, sizeof(p), "/sys/block/zram%d/mm_stat", c->zram_id);
		if (zsf_read_str(p, buf, sizeof(buf)) ||
		    sscanf(buf, "%llu %llu %llu", &orig, &compr, &used) != 3)
			return -1;
		s->pool_bytes = used;
		s->stored_pages = orig / zsf_pagesz;
		return 0;
	}
	if (access(ZSWAP_DBG "/pool_total_size", R_OK) == 0) {
		s->pool_bytes = zsf_read_ll(ZSWAP_DBG "/pool_total_size");
		s->stored_pages = zsf_read_ll(ZSWAP_DBG "/stored_pages");
		return 0;
	}
	s->pool_bytes = meminfo_kb("Zswap") * 1024;
	s->stored_pages = meminfo_kb("Zswapped") * 1024 / zsf_pagesz;
	return 0;
}

double zsf_wait_baseline(struct zsf_ctx *c, int deadline_ms, struct zsf_stats *last,
			 long *orphans)
{
	uint64_t t0 = zsf_now_ns(), t_move = t0, prev = UINT64_MAX;
	/* zsmalloc keeps no empty zspage; allow one page of rounding */
	uint64_t slack = zsf_pagesz;

	*orphans = 0;
	for (;;) {
		uint64_t now = zsf_now_ns();
		double ms = (now - t0) / 1e6;

		if (zsf_stats(c, last)) {	/* unreadable: not at baseline */
			last->pool_bytes = UINT64_MAX;
			last->stored_pages = UINT64_MAX;
		} else if (last->stored_pages <= c->base.stored_pages &&
			   last->pool_bytes <= c->base.pool_bytes + slack) {
			return ms;
		}
		if (last->stored_pages != prev) {
			prev = last->stored_pages;
			t_move = now;
		}
		if (now - t_move > 3000000000ULL) {
			long extra = last->stored_pages - c->base.stored_pages;
			long slots = zsf_swap_used_pages(c) - c->base_slots;

			if (extra > 0 && slots >= extra) {
				*orphans = slots;
				c->orphans += slots;
				c->base_slots += slots;
				c->base.stored_pages = last->stored_pages;
				c->base.pool_bytes = last->pool_bytes;
				return ms;
			}
		}
		if (ms > deadline_ms)
			return -1;
		usleep(1000);
	}
}

long long zsf_zswap_stat(const char *name)
{
	char p[128];

	snprintf(p, sizeof(p), ZSWAP_DBG "/%s", name);
	return zsf_read_ll(p);
}

bool zsf_deferred(struct zsf_ctx *c, struct zsf_deferred *d)
{
	const char *pat = c->be == ZSF_ZRAM ? NULL : DEBUGFS "/zsmalloc/zswap*/deferred";
	char p[128], line[128], key[64];
	glob_t g;
	bool found = false;

	memset(d, 0, sizeof(*d));
	if (!pat) {
		snprintf(p, sizeof(p), DEBUGFS "/zsmalloc/zram%d/deferred", c->zram_id);
		pat = p;
	}
	if (glob(pat, 0, NULL, &g))
		return false;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "re");
		unsigned long long v;

		if (!f)
			continue;
		found = true;
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%63s %llu", key, &v) != 2)
				continue;
			if (!strcmp(key, "enqueued"))
				d->enqueued += v;
			else if (!strcmp(key, "drained"))
				d->drained += v;
			else if (!strcmp(key, "overflow"))
				d->overflow += v;
			else if (!strcmp(key, "batches"))
				d->batches += v;
			else if (!strcmp(key, "pending"))
				d->pending += v;
			else if (!strcmp(key, "capacity"))
				d->capacity = v;
		}
		fclose(f);
	}
	globfree(&g);
	return found;
}
