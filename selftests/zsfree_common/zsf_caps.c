// SPDX-License-Identifier: GPL-2.0
/*
 * zsf_caps.c - which Part B the running kernel has (struct zsf_caps: the
 * calls by name in /proc/kallsyms, the fail_function target), detected and
 * printed once per run, and the words SKIP messages use for it.
 * API in swapfree.h.
 */
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "swapfree.h"
#include "zsf_internal.h"

#ifndef ZSF_KALLSYMS	/* -DZSF_KALLSYMS='"file"' to try the parser on a copy */
#define ZSF_KALLSYMS "/proc/kallsyms"
#endif

/*
 * Detected once and printed once per run: the harness forks every test from
 * the main process, so the state lives in a shared page mapped before that.
 */
struct caps_shared {
	int kallsyms_done;
	int printed;
	struct zsf_caps caps;
};

static struct caps_shared caps_private, *caps_sh = &caps_private;

__attribute__((constructor)) static void caps_map(void)
{
	void *p = mmap(NULL, sizeof(*caps_sh), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		caps_sh = p;	/* else: detected and printed per test */
}

/* the Part B calls by name among /proc/kallsyms' text symbols */
static void kallsyms_scan(struct zsf_caps *k)
{
	static const char *const names[] = {
		"zs_free_deferred", "zs_free_deferred_flush",
		"zs_pool_enable_deferred_free",
	};
	int *found[] = { &k->deferred, &k->flush, &k->ops };
	char line[512], type, name[256];
	FILE *f = fopen(ZSF_KALLSYMS, "re");
	long lines = 0;

	for (int i = 0; i < 3; i++)
		*found[i] = f ? 0 : -1;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		lines++;
		if (sscanf(line, "%*s %c %255s", &type, name) != 2 ||
		    !strchr("tTwW", type) || strncmp(name, "zs_", 3))
			continue;
		for (int i = 0; i < 3; i++) {
			size_t l = strlen(names[i]);

			/* the name itself, or a compiler clone (name.cold, name.isra.0) */
			if (!strncmp(name, names[i], l) && (!name[l] || name[l] == '.'))
				*found[i] = 1;
		}
	}
	fclose(f);
	if (!lines)	/* CONFIG_KALLSYMS off: the file may exist and be empty */
		for (int i = 0; i < 3; i++)
			*found[i] = -1;
}

/* @fn listed in fail_function/injectable: 1 yes, 0 no, -1 no fail_function */
int zsf_failfn_injectable(const char *fn)
{
	FILE *f = fopen(DEBUGFS "/fail_function/injectable", "re");
	char line[256], p[160];
	int found = 0;

	if (!f)
		return -1;
	snprintf(p, sizeof(p), "%s\t", fn);	/* "<function>\t<type>" per line */
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, p, strlen(p));
	fclose(f);
	return found;
}

const struct zsf_caps *zsf_caps_get(void)
{
	struct zsf_caps *k = &caps_sh->caps;

	if (!caps_sh->kallsyms_done) {
		kallsyms_scan(k);
		k->failfn = -1;
		caps_sh->kallsyms_done = 1;
	}
	if (k->failfn < 0)	/* debugfs may be mounted only by a later setup */
		k->failfn = zsf_failfn_injectable(FAILFN_TARGET);
	return k;
}

static const char *tri(int v)
{
	return v < 0 ? "?" : v ? "1" : "0";
}

void zsf_caps_str(struct zsf_ctx *c, char *buf, size_t len)
{
	const struct zsf_caps *k = zsf_caps_get();
	struct zsf_deferred d;

	snprintf(buf, len, "zs_free_deferred=%s flush=%s ops=%s counters=%d failfn=%s",
		 tri(k->deferred), tri(k->flush), tri(k->ops),
		 zsf_deferred(c, &d), tri(k->failfn));
}

/* "this kernel's Part B (zs_free_deferred, ...) <verb>" or why there is none */
void zsf_partb_desc(char *buf, size_t len, const char *verb)
{
	const struct zsf_caps *k = zsf_caps_get();

	if (k->deferred < 0) {
		snprintf(buf, len,
			 "this kernel's Part B is unknown (no /proc/kallsyms: CONFIG_KALLSYMS)");
	} else if (k->deferred || k->flush || k->ops) {
		char names[128] = "";

		if (k->deferred)
			strcat(names, ", zs_free_deferred");
		if (k->flush)
			strcat(names, ", zs_free_deferred_flush");
		if (k->ops)
			strcat(names, ", zs_pool_enable_deferred_free");
		snprintf(buf, len, "this kernel's Part B (%s) %s", names + 2, verb);
	} else {
		snprintf(buf, len,
			 "this kernel has no Part B in zsmalloc (no zs_free_deferred, zs_free_deferred_flush or zs_pool_enable_deferred_free in /proc/kallsyms)");
	}
}

static void pool_name(struct zsf_ctx *c, char *buf, size_t len)
{
	if (c->be == ZSF_ZRAM)
		snprintf(buf, len, "zram%d", c->zram_id);
	else
		snprintf(buf, len, "zswap*");
}

void zsf_no_counters_why(struct zsf_ctx *c, char *buf, size_t len)
{
	char pool[32], dir[128], partb[256];
	glob_t g;
	bool have_dir;

	pool_name(c, pool, sizeof(pool));
	snprintf(dir, sizeof(dir), DEBUGFS "/zsmalloc/%s", pool);
	have_dir = !glob(dir, GLOB_ONLYDIR, NULL, &g);
	if (have_dir)
		globfree(&g);
	zsf_partb_desc(partb, sizeof(partb), "exposes none");
	snprintf(buf, len, "no deferred counters (debugfs zsmalloc/%s/deferred%s): %s",
		 pool, have_dir ? "" :
		 "; no zsmalloc/<pool>/ at all: CONFIG_ZSMALLOC_STAT or debugfs missing",
		 partb);
}

void zsf_caps_print_once(struct zsf_ctx *c)
{
	char s[192];

	if (__atomic_exchange_n(&caps_sh->printed, 1, __ATOMIC_SEQ_CST))
		return;
	zsf_caps_str(c, s, sizeof(s));
	printf("# zsgate: caps backend=%s %s\n", c->name, s);
	fflush(stdout);
}
