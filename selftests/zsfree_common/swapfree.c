// SPDX-License-Identifier: GPL-2.0
/* swapfree.c - see swapfree.h */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <linux/loop.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "swapfree.h"

#define KSFT_SKIP_RC 4
#define ZRAM_DISKSIZE (4ULL << 30)
#define ZSWAP_FILESIZE (3ULL << 30)
#define SWAP_PRIO 32767
#define ZSWAP_DBG "/sys/kernel/debug/zswap"
#define DEBUGFS "/sys/kernel/debug"
#define TMPFS_MAGIC_ 0x01021994

struct zsf_env zsf_env;
static long pagesz;
static struct zsf_ctx *zsf_current;	/* the setup zsf_fault() acts on */

static void pg_init(void)
{
	if (!pagesz)
		pagesz = sysconf(_SC_PAGESIZE);
}

void zsf_env_load(void)
{
	const char *v;

	pg_init();
	memset(&zsf_env, 0, sizeof(zsf_env));
	v = getenv("ZSGATE_QUICK");
	zsf_env.quick = v && *v && strcmp(v, "0");
	zsf_env.rounds = zsf_env.quick ? 2 : 5;
	zsf_env.rounds_multi = zsf_env.quick ? 2 : 3;
	zsf_env.race_s = zsf_env.quick ? 2 : 5;
	v = getenv("ZSGATE_ROUNDS");
	if (v && atoi(v) > 0)
		zsf_env.rounds = zsf_env.rounds_multi = atoi(v);
	v = getenv("ZSGATE_RACE_S");
	if (v && atoi(v) > 0)
		zsf_env.race_s = atoi(v);
	v = getenv("ZSGATE_SIZES_MB");
	if (v && *v) {
		char *s = strdup(v), *tok, *save = NULL;

		for (tok = strtok_r(s, ", ", &save); tok && zsf_env.nsizes < 16;
		     tok = strtok_r(NULL, ", ", &save))
			if (atoi(tok) > 0)
				zsf_env.sizes_mb[zsf_env.nsizes++] = atoi(tok);
		free(s);
	}
	zsf_env.swapdir = getenv("ZSGATE_SWAPDIR");
	zsf_env.statedir = getenv("ZSGATE_STATE_DIR");
	if (!zsf_env.statedir || !*zsf_env.statedir)
		zsf_env.statedir = "/run/zsgate";
}

int zsf_size_mb(int mb)
{
	if (!zsf_env.quick)
		return mb;
	mb /= 4;
	return mb < 16 ? 16 : mb;
}

bool zsf_size_selected(int mb)
{
	int i;

	if (!zsf_env.nsizes)
		return true;
	for (i = 0; i < zsf_env.nsizes; i++)
		if (zsf_env.sizes_mb[i] == mb)
			return true;
	return false;
}

/* ---------------------------------------------------------------- files */

static int write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

static int read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

static long long read_ll(const char *path)
{
	char buf[64];

	if (read_str(path, buf, sizeof(buf)))
		return -1;
	return atoll(buf);
}

static bool debugfs_mounted(void)
{
	struct stat a, b;

	if (stat(DEBUGFS, &a) || stat("/sys/kernel", &b))
		return false;
	return a.st_dev != b.st_dev;
}

/* ---------------------------------------------------------- Part B caps */

#define FAILFN_TARGET "zs_deferred_alloc_buffers"
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
static int failfn_injectable(const char *fn)
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
		k->failfn = failfn_injectable(FAILFN_TARGET);
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
static void partb_desc(char *buf, size_t len, const char *verb)
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
	partb_desc(partb, sizeof(partb), "exposes none");
	snprintf(buf, len, "no deferred counters (debugfs zsmalloc/%s/deferred%s): %s",
		 pool, have_dir ? "" :
		 "; no zsmalloc/<pool>/ at all: CONFIG_ZSMALLOC_STAT or debugfs missing",
		 partb);
}

static void caps_print_once(struct zsf_ctx *c)
{
	char s[192];

	if (__atomic_exchange_n(&caps_sh->printed, 1, __ATOMIC_SEQ_CST))
		return;
	zsf_caps_str(c, s, sizeof(s));
	printf("# zsgate: caps backend=%s %s\n", c->name, s);
	fflush(stdout);
}

/* ------------------------------------------------------ guardian/restore */

static void rec(struct zsf_ctx *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	fd = open(c->state_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, line, n) != n)
			perror("zsgate: state write");
		close(fd);
	}
}

static void glog(const char *fmt, ...)
{
	char path[300], line[600];
	va_list ap;
	int fd, n;

	snprintf(path, sizeof(path), "%s/guardian.log", zsf_env.statedir);
	n = snprintf(line, sizeof(line), "%ld [%d] ", (long)time(NULL), getpid());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, n) < 0)
			;
		close(fd);
	}
}

static int zram_reset(int id)
{
	char p[128];
	int i, r = 0;

	snprintf(p, sizeof(p), "/sys/block/zram%d/reset", id);
	/* EBUSY while a closer (udev probe, a killed tool) is in flight */
	for (i = 0; i < 300; i++) {
		r = write_str(p, "1");
		if (r != -EBUSY)
			break;
		usleep(100000);
	}
	return r == -ENOENT ? 0 : r;
}

static int undo(char *line)
{
	char arg[400], arg2[128];
	int id, r = 0;

	if (sscanf(line, "pgrp %d", &id) == 1) {
		/* kill the tool's group and wait (10 s) until it is gone */
		for (int i = 0; id > 1 && i < 1000 && kill(-id, SIGKILL) == 0; i++)
			usleep(10000);
	} else if (sscanf(line, "swap %399s", arg) == 1) {
		if (swapoff(arg) && errno != EINVAL && errno != ENOENT)
			r = -errno;
	} else if (sscanf(line, "zram_hot %d", &id) == 1) {
		r = zram_reset(id);
		snprintf(arg, sizeof(arg), "%d", id);
		if (!r) {
			int w = write_str("/sys/class/zram-control/hot_remove", arg);

			r = (w == -ENODEV || w == -ENOENT) ? 0 : w;
		}
	} else if (sscanf(line, "zram_reset %d", &id) == 1) {
		r = zram_reset(id);
	} else if (sscanf(line, "zswap %127s %399s", arg2, arg) == 2) {
		char p[256];

		snprintf(p, sizeof(p), "/sys/module/zswap/parameters/%s", arg2);
		r = write_str(p, arg);
	} else if (sscanf(line, "loop %d", &id) == 1) {
		char p[64];
		int fd;

		snprintf(p, sizeof(p), "/dev/loop%d", id);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (ioctl(fd, LOOP_CLR_FD, 0) && errno != ENXIO)
				r = -errno;
			close(fd);
		}
	} else if (sscanf(line, "file %399s", arg) == 1) {
		if (unlink(arg) && errno != ENOENT)
			r = -errno;
	} else if (sscanf(line, "failfn %127s", arg2) == 1) {
		snprintf(arg, sizeof(arg), "!%s", arg2);
		r = write_str(DEBUGFS "/fail_function/inject", arg);
		r = r == -ENOENT ? 0 : r;	/* not armed (any more) */
	} else if (sscanf(line, "write %127s %399s", arg2, arg) == 2) {
		r = write_str(arg2, arg);
	} else if (sscanf(line, "umount %399s", arg) == 1) {
		if (umount2(arg, MNT_DETACH) && errno != EINVAL)
			r = -errno;
	}
	return r;
}

/* undo a state file's records in reverse order; returns failed steps */
static int restore_file(const char *path)
{
	char *lines[128], buf[512];
	int n = 0, i, fails = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	while (n < 128 && fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = 0;
		lines[n++] = strdup(buf);
	}
	fclose(f);
	/* kill spawned tools first, whatever their position */
	for (i = n - 1; i >= 0; i--)
		if (!strncmp(lines[i], "pgrp ", 5))
			undo(lines[i]);
	for (i = n - 1; i >= 0; i--) {
		int r;

		if (!strncmp(lines[i], "pgrp ", 5) || !strncmp(lines[i], "owner ", 6))
			continue;
		r = undo(lines[i]);
		if (r) {
			fails++;
			glog("%s: undo '%s' failed: %s", path, lines[i], strerror(-r));
		} else {
			glog("%s: undone '%s'", path, lines[i]);
		}
	}
	for (i = 0; i < n; i++)
		free(lines[i]);
	unlink(path);
	return fails;
}

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/*
 * Repair what a dead run left behind, and wait (up to 60 s) for guardians
 * still restoring; returns false if some other run stays active.
 */
static bool repair_stale(char *why, size_t whylen)
{
	uint64_t deadline = zsf_now_ns() + 60ULL * 1000000000ULL;
	char path[512];

	for (;;) {
		bool busy = false;
		struct dirent *de;
		DIR *d = opendir(zsf_env.statedir);

		if (!d)
			return true;
		while ((de = readdir(d))) {
			pid_t gpid = atoi(de->d_name), owner = 0;
			FILE *f;

			if (!strstr(de->d_name, ".state"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", zsf_env.statedir, de->d_name);
			f = fopen(path, "re");
			if (f) {
				if (fscanf(f, "owner %d", &owner) != 1)
					owner = 0;
				fclose(f);
			}
			if (pid_alive(gpid) || pid_alive(owner)) {
				busy = true;
				continue;
			}
			glog("repairing stale %s", path);
			restore_file(path);
		}
		closedir(d);
		if (!busy)
			return true;
		if (zsf_now_ns() > deadline) {
			snprintf(why, whylen, "another zsgate run is active (state in %s)",
				 zsf_env.statedir);
			return false;
		}
		usleep(100000);
	}
}

static void guardian(int rfd, const char *state)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };
	char b[64];
	int fd, fails;

	setsid();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	prctl(PR_SET_NAME, "zsgate-guard");
	fd = open("/dev/null", O_RDWR);
	for (int i = 0; i < 1024; i++)
		if (i != rfd && i != fd)
			close(i);
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	for (;;) {
		ssize_t n = read(rfd, b, sizeof(b));

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	fails = restore_file(state);
	_exit(fails ? 1 : 0);
}

static int start_guardian(struct zsf_ctx *c, char *why, size_t whylen)
{
	int p[2], fd;
	pid_t pid;
	char tmp[300];

	mkdir(zsf_env.statedir, 0755);
	if (access(zsf_env.statedir, W_OK)) {
		zsf_env.statedir = "/tmp/zsgate";
		mkdir(zsf_env.statedir, 0755);
	}
	if (!repair_stale(why, whylen))
		return KSFT_SKIP_RC;
	if (pipe2(p, O_CLOEXEC)) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -1;
	}
	/* the state file is named after the guardian: create it in the child */
	snprintf(tmp, sizeof(tmp), "%s/tmp.%d", zsf_env.statedir, getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(why, whylen, "state file %s: %s", tmp, strerror(errno));
		return -1;
	}
	dprintf(fd, "owner %d\n", getpid());
	close(fd);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		return -1;
	}
	snprintf(c->state_path, sizeof(c->state_path), "%s/%d.state",
		 zsf_env.statedir, pid ? pid : getpid());
	if (pid == 0) {
		close(p[1]);
		guardian(p[0], c->state_path);
	}
	close(p[0]);
	if (rename(tmp, c->state_path)) {
		snprintf(why, whylen, "rename %s: %s", tmp, strerror(errno));
		close(p[1]);
		return -1;
	}
	c->guard_wfd = p[1];
	c->guard_pid = pid;
	return 0;
}

/* ------------------------------------------------------------- swap */

static int mkswap_fd(int fd, uint64_t bytes)
{
	char *page = calloc(1, pagesz);
	uint32_t *w = (uint32_t *)(page + 1024);
	int r = 0;

	w[0] = 1;				/* version */
	w[1] = bytes / pagesz - 1;		/* last_page */
	w[2] = 0;				/* nr_badpages */
	memcpy(page + 1024 + 12, "zsgate-uuid-0001", 16);
	memcpy(page + 1024 + 28, "zsgate", 6);
	memcpy(page + pagesz - 10, "SWAPSPACE2", 10);
	if (pwrite(fd, page, pagesz, 0) != pagesz || fsync(fd))
		r = errno ? -errno : -EIO;
	free(page);
	return r;
}

static int zram_find(struct zsf_ctx *c, char *why, size_t whylen, bool *hot)
{
	char buf[64];
	int id;

	*hot = false;
	if (access("/sys/class/zram-control/hot_add", R_OK) == 0 &&
	    read_str("/sys/class/zram-control/hot_add", buf, sizeof(buf)) == 0) {
		id = atoi(buf);
		*hot = true;
		return id;
	}
	/* no hot_add: an unconfigured zram0 only */
	if (read_ll("/sys/block/zram0/disksize") == 0)
		return 0;
	if (access("/sys/block/zram0", F_OK))
		snprintf(why, whylen, "no zram device (CONFIG_ZRAM, modprobe zram)");
	else
		snprintf(why, whylen, "zram0 is in use and zram-control/hot_add is missing");
	return -1;
}

static int zram_configure(int id, uint64_t size)
{
	char p[128], v[32];

	snprintf(p, sizeof(p), "/sys/block/zram%d/disksize", id);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)size);
	return write_str(p, v);
}

static int zram_new(struct zsf_ctx *c, uint64_t size, char *why, size_t whylen)
{
	bool hot;
	int id = zram_find(c, why, whylen, &hot), r;

	if (id < 0)
		return -1;
	rec(c, hot ? "zram_hot %d" : "zram_reset %d", id);
	r = zram_configure(id, size);
	if (r) {
		snprintf(why, whylen, "zram%d disksize: %s", id, strerror(-r));
		return -1;
	}
	return id;
}

int zsf_extra_zram(struct zsf_ctx *c, uint64_t size, char *why, size_t whylen)
{
	return zram_new(c, size, why, whylen);
}

/*
 * Make @fn (an ALLOW_ERROR_INJECTION function) return @retval on every call
 * through fail_function, until failfn_disarm(); the previous fail_function
 * settings and the disarm are recorded for restore. KSFT_SKIP_RC when the
 * kernel cannot inject into @fn.
 */
#define FAILFN_TIMES "1000000"

static int failfn_arm(struct zsf_ctx *c, const char *fn, int retval,
		      char *why, size_t whylen)
{
	/* times counts down per injected failure: failfn_hits() reads it back */
	static const char *const knobs[][2] = {
		{ DEBUGFS "/fail_function/probability", "100" },
		{ DEBUGFS "/fail_function/interval", "1" },
		{ DEBUGFS "/fail_function/times", FAILFN_TIMES },
		{ DEBUGFS "/fail_function/verbose", "0" },
	};
	char p[256], v[32], partb[256];
	int r, inj = failfn_injectable(fn);

	if (inj < 0) {
		snprintf(why, whylen,
			 "no %s/fail_function (CONFIG_FAIL_FUNCTION): cannot make %s() fail",
			 DEBUGFS, fn);
		return KSFT_SKIP_RC;
	}
	if (!inj) {
		partb_desc(partb, sizeof(partb), "has none");
		snprintf(why, whylen,
			 "no fail_function target %s (the reference series' buffer allocation): %s",
			 fn, partb);
		return KSFT_SKIP_RC;
	}
	for (size_t i = 0; i < ARRAY_SIZE(knobs); i++) {
		if (read_str(knobs[i][0], v, sizeof(v)) == 0)
			rec(c, "write %s %s", knobs[i][0], v);
		r = write_str(knobs[i][0], knobs[i][1]);
		if (r) {
			snprintf(why, whylen, "write %s: %s", knobs[i][0], strerror(-r));
			return -1;
		}
	}
	snprintf(p, sizeof(p), "!%s", fn);
	write_str(DEBUGFS "/fail_function/inject", p);	/* left armed by a killed run */
	rec(c, "failfn %s", fn);
	r = write_str(DEBUGFS "/fail_function/inject", fn);
	snprintf(p, sizeof(p), DEBUGFS "/fail_function/%s/retval", fn);
	/* a u64 debugfs attribute: kstrtoull takes 0x..., not "-12" */
	snprintf(v, sizeof(v), "%#llx", (unsigned long long)(long long)retval);
	r = r ?: write_str(p, v);
	if (r)
		snprintf(why, whylen, "arm fail_function for %s: %s", fn, strerror(-r));
	return r;
}

/* failures injected since failfn_arm(); -1 when unreadable */
static long failfn_hits(void)
{
	long long left = read_ll(DEBUGFS "/fail_function/times");

	return left < 0 ? -1 : atol(FAILFN_TIMES) - left;
}

static int failfn_disarm(const char *fn)
{
	char p[160];

	snprintf(p, sizeof(p), "!%s", fn);
	return write_str(DEBUGFS "/fail_function/inject", p);
}

static int setup_zram(struct zsf_ctx *c, int flags, char *why, size_t whylen)
{
	int fd, r;

	if (access("/sys/block/zram0", F_OK) &&
	    access("/sys/class/zram-control", F_OK)) {
		snprintf(why, whylen, "zram not available (CONFIG_ZRAM, modprobe zram)");
		return KSFT_SKIP_RC;
	}
	if (flags & ZSF_NO_DEFERRED_BUFFERS) {
		r = failfn_arm(c, FAILFN_TARGET, -ENOMEM, why, whylen);
		if (r)
			return r;
	}
	c->zram_id = zram_new(c, ZRAM_DISKSIZE, why, whylen);
	if (flags & ZSF_NO_DEFERRED_BUFFERS) {
		c->failfn_hits = failfn_hits();
		r = failfn_disarm(FAILFN_TARGET);
		if (r && c->zram_id >= 0) {
			snprintf(why, whylen, "disarm fail_function: %s", strerror(-r));
			return -1;
		}
		flags &= ~ZSF_NO_DEFERRED_BUFFERS;
	}
	if (c->zram_id < 0)
		return KSFT_SKIP_RC;
	snprintf(c->swapdev, sizeof(c->swapdev), "/dev/zram%d", c->zram_id);
	for (int i = 0; i < 50 && access(c->swapdev, F_OK); i++)
		usleep(20000);	/* devtmpfs node may lag hot_add */
	fd = open(c->swapdev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "open %s: %s", c->swapdev, strerror(errno));
		return -1;
	}
	r = mkswap_fd(fd, ZRAM_DISKSIZE);
	close(fd);
	if (r) {
		snprintf(why, whylen, "mkswap %s: %s", c->swapdev, strerror(-r));
		return -1;
	}
	rec(c, "swap %s", c->swapdev);
	if (swapon(c->swapdev, SWAP_FLAG_PREFER |
		   ((SWAP_PRIO << SWAP_FLAG_PRIO_SHIFT) & SWAP_FLAG_PRIO_MASK) | flags)) {
		snprintf(why, whylen, "swapon %s: %s%s", c->swapdev, strerror(errno),
			 errno == EINVAL ? " (CONFIG_SWAP?)" : "");
		return errno == EPERM ? KSFT_SKIP_RC : -1;
	}
	return 0;
}

static int loop_attach(struct zsf_ctx *c, const char *file, char *why, size_t whylen)
{
	int ctl, id, fd, lfd;
	char p[64];
	struct loop_config cfg = { 0 };

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		snprintf(why, whylen, "/dev/loop-control: %s (CONFIG_BLK_DEV_LOOP)",
			 strerror(errno));
		return -1;
	}
	id = ioctl(ctl, LOOP_CTL_GET_FREE);
	close(ctl);
	if (id < 0) {
		snprintf(why, whylen, "LOOP_CTL_GET_FREE: %s", strerror(errno));
		return -1;
	}
	snprintf(p, sizeof(p), "/dev/loop%d", id);
	for (int i = 0; i < 50 && access(p, F_OK); i++)
		usleep(20000);
	lfd = open(p, O_RDWR | O_CLOEXEC);
	fd = open(file, O_RDWR | O_CLOEXEC);
	if (lfd < 0 || fd < 0) {
		snprintf(why, whylen, "open %s / %s: %s", p, file, strerror(errno));
		return -1;
	}
	cfg.fd = fd;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	rec(c, "loop %d", id);
	if (ioctl(lfd, LOOP_CONFIGURE, &cfg)) {
		snprintf(why, whylen, "LOOP_CONFIGURE %s: %s", p, strerror(errno));
		close(fd);
		close(lfd);
		return -1;
	}
	close(fd);
	/* lfd stays open until swapon holds the device (autoclear) */
	c->loop_id = id;
	snprintf(c->swapdev, sizeof(c->swapdev), "%s", p);
	return lfd;
}

static int setup_zswap(struct zsf_ctx *c, int flags, char *why, size_t whylen)
{
	static const char * const params[] = { "enabled", "max_pool_percent",
					"shrinker_enabled", "accept_threshold_percent" };
	const char *dir = zsf_env.swapdir;
	int fd, r, prio, lfd = -1;
	struct statfs sfs;
	char v[64], p[256];

	if (access("/sys/module/zswap/parameters/enabled", F_OK)) {
		snprintf(why, whylen, "zswap not available (CONFIG_ZSWAP)");
		return KSFT_SKIP_RC;
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(params); i++) {
		snprintf(p, sizeof(p), "/sys/module/zswap/parameters/%s", params[i]);
		if (read_str(p, v, sizeof(v)) == 0)
			rec(c, "zswap %s %s", params[i], v);
	}
	if (!dir || !*dir)
		dir = access("/var/tmp", W_OK) == 0 ? "/var/tmp" : "/tmp";
	snprintf(c->swapfile, sizeof(c->swapfile), "%s/zsgate-swap.%d", dir, getpid());
	rec(c, "file %s", c->swapfile);
	fd = open(c->swapfile, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, whylen, "create %s: %s", c->swapfile, strerror(errno));
		return -1;
	}
	/* tmpfs: sparse (fallocate would take the RAM), it goes on a loop device */
	if ((fstatfs(fd, &sfs) || sfs.f_type != TMPFS_MAGIC_ ||
	     ftruncate(fd, ZSWAP_FILESIZE)) &&
	    fallocate(fd, 0, 0, ZSWAP_FILESIZE) && ftruncate(fd, ZSWAP_FILESIZE)) {
		snprintf(why, whylen, "size %s: %s", c->swapfile, strerror(errno));
		close(fd);
		return -1;
	}
	r = mkswap_fd(fd, ZSWAP_FILESIZE);
	close(fd);
	if (r) {
		snprintf(why, whylen, "mkswap %s: %s", c->swapfile, strerror(-r));
		return -1;
	}
	prio = SWAP_FLAG_PREFER | ((SWAP_PRIO << SWAP_FLAG_PRIO_SHIFT) & SWAP_FLAG_PRIO_MASK);
	snprintf(c->swapdev, sizeof(c->swapdev), "%s", c->swapfile);
	rec(c, "swap %s", c->swapdev);
	if (swapon(c->swapdev, prio | flags)) {
		/* fs without swapfile support (tmpfs, ...): use a loop device */
		lfd = loop_attach(c, c->swapfile, why, whylen);
		if (lfd < 0)
			return -1;
		rec(c, "swap %s", c->swapdev);
		if (swapon(c->swapdev, prio | flags)) {
			snprintf(why, whylen, "swapon %s: %s", c->swapdev, strerror(errno));
			close(lfd);
			return errno == EPERM ? KSFT_SKIP_RC : -1;
		}
		close(lfd);
	}
	r = zsf_zswap_param("shrinker_enabled", "N");
	r = r ?: zsf_zswap_param("max_pool_percent", "20");
	r = r ?: zsf_zswap_param("accept_threshold_percent", "90");
	r = r ?: zsf_zswap_param("enabled", "Y");
	if (r) {
		snprintf(why, whylen, "zswap parameters: %s", strerror(-r));
		return -1;
	}
	if (read_str("/sys/module/zswap/parameters/enabled", v, sizeof(v)) || v[0] != 'Y') {
		snprintf(why, whylen, "zswap refused to enable (compressor/zpool missing?)");
		return KSFT_SKIP_RC;
	}
	return 0;
}

int zsf_zswap_param(const char *name, const char *val)
{
	char p[256];

	snprintf(p, sizeof(p), "/sys/module/zswap/parameters/%s", name);
	return write_str(p, val);
}

int zsf_setup(struct zsf_ctx *c, enum zsf_backend be, int flags, char *why, size_t whylen)
{
	int r;

	pg_init();
	if (!zsf_env.rounds)
		zsf_env_load();
	memset(c, 0, sizeof(*c));
	c->be = be;
	c->name = be == ZSF_ZRAM ? "zram" : "zswap";
	c->zram_id = -1;
	c->loop_id = -1;
	c->guard_wfd = -1;
	c->kmsg_fd = -1;
	if (geteuid()) {
		snprintf(why, whylen, "needs root");
		return KSFT_SKIP_RC;
	}
	if (access("/proc/swaps", F_OK)) {
		snprintf(why, whylen, "kernel without swap (CONFIG_SWAP)");
		return KSFT_SKIP_RC;
	}
	r = start_guardian(c, why, whylen);
	if (r)
		return r;
	c->active = true;
	if (!debugfs_mounted() && mount("debugfs", DEBUGFS, "debugfs", 0, NULL) == 0)
		rec(c, "umount %s", DEBUGFS);
	if (zsf_kmsg_start(c)) {
		snprintf(why, whylen, "no /dev/kmsg (%s): the kernel-log splat check cannot run",
			 strerror(errno));
		return KSFT_SKIP_RC;
	}
	r = be == ZSF_ZRAM ? setup_zram(c, flags, why, whylen)
			   : setup_zswap(c, flags, why, whylen);
	if (r)
		return r;
	if (zsf_stats(c, &c->base)) {
		snprintf(why, whylen, "cannot read the %s pool's size (zram mm_stat)", c->name);
		return -1;
	}
	c->base_slots = zsf_swap_used_pages(c);
	caps_print_once(c);
	zsf_current = c;
	zsf_fault("setup");
	return 0;
}

void zsf_fault(const char *phase)
{
	const char *v = getenv("ZSGATE_FAULT");
	size_t n = strlen(phase);

	if (!v || strncmp(v, phase, n) || (v[n] && v[n] != ','))
		return;
	if (strstr(v + n, ",guardian") && zsf_current && zsf_current->guard_pid > 0) {
		kill(zsf_current->guard_pid, SIGKILL);
		waitpid(zsf_current->guard_pid, NULL, 0);
	}
	printf("# zsgate: fault %s: SIGKILL\n", v);
	fflush(NULL);
	raise(SIGKILL);
}

int zsf_teardown(struct zsf_ctx *c)
{
	int st = 0;

	if (!c->active)
		return 0;
	c->active = false;
	if (zsf_current == c)
		zsf_current = NULL;
	if (c->kmsg_fd >= 0)
		close(c->kmsg_fd);
	close(c->guard_wfd);
	if (waitpid(c->guard_pid, &st, 0) != c->guard_pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* --------------------------------------------------------------- stats */

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
			r = used * 1024 / pagesz;
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
		if (read_str(p, buf, sizeof(buf)) ||
		    sscanf(buf, "%llu %llu %llu", &orig, &compr, &used) != 3)
			return -1;
		s->pool_bytes = used;
		s->stored_pages = orig / pagesz;
		return 0;
	}
	if (access(ZSWAP_DBG "/pool_total_size", R_OK) == 0) {
		s->pool_bytes = read_ll(ZSWAP_DBG "/pool_total_size");
		s->stored_pages = read_ll(ZSWAP_DBG "/stored_pages");
		return 0;
	}
	s->pool_bytes = meminfo_kb("Zswap") * 1024;
	s->stored_pages = meminfo_kb("Zswapped") * 1024 / pagesz;
	return 0;
}

double zsf_wait_baseline(struct zsf_ctx *c, int deadline_ms, struct zsf_stats *last,
			 long *orphans)
{
	uint64_t t0 = zsf_now_ns(), t_move = t0, prev = UINT64_MAX;
	/* zsmalloc keeps no empty zspage; allow one page of rounding */
	uint64_t slack = pagesz;

	*orphans = 0;
	for (;;) {
		uint64_t now = zsf_now_ns();
		double ms = (now - t0) / 1e6;

		if (zsf_stats(c, last)) {	/* unreadable: not at baseline */
			last->pool_bytes = last->stored_pages = UINT64_MAX;
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
	return read_ll(p);
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

/* ------------------------------------------------------------- memory */

char *zsf_region(size_t bytes)
{
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* one swap entry per 4k page: no THP, the series' unit is the page */
	madvise(p, bytes, MADV_NOHUGEPAGE);
	return p;
}

static const char words[] = "1024 one two three four ";

/*
 * One page: a header naming seed and page index (so a page swapped back
 * into the wrong place is caught), 1 KB of xorshift noise from the same
 * key, then the seed's "1024 one two three four" text: compresses about
 * 3.5:1 with lzo, like ordinary anonymous memory, not 40:1.
 */
static void fill_page(char *pg, uint32_t seed, size_t idx)
{
	size_t wl = sizeof(words) - 1, off;
	uint64_t x = ((uint64_t)seed << 32 ^ idx) * 0x9e3779b97f4a7c15ULL | 1;
	int n = snprintf(pg, 64, "zsgate seed %08x page %012zx ", seed, idx);

	for (off = n; off < 64; off++)
		pg[off] = ' ';
	for (off = 64; off < 64 + 1024; off += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(pg + off, &x, 8);
	}
	for (; off + wl <= (size_t)pagesz; off += wl)
		memcpy(pg + off, words, wl);
	memset(pg + off, '.', pagesz - off);
}

void zsf_fill(char *p, size_t bytes, uint32_t seed)
{
	for (size_t i = 0; i < bytes / pagesz; i++)
		fill_page(p + i * pagesz, seed, i);
}

long zsf_verify(const char *p, size_t bytes, uint32_t seed, size_t step)
{
	char *ref = malloc(pagesz);
	long bad = 0;

	if (!step)
		step = 1;
	for (size_t i = 0; i < bytes / pagesz; i += step) {
		if (i >= bytes / pagesz / 2 && i < bytes / pagesz / 2 + step)
			zsf_fault("verify");	/* half of it swapped back in */
		fill_page(ref, seed, i);
		if (memcmp(ref, p + i * pagesz, pagesz))
			bad++;
	}
	free(ref);
	return bad;
}

long zsf_count_swapped(const char *p, size_t bytes)
{
	size_t n = bytes / pagesz, done = 0;
	uint64_t buf[4096];
	long swapped = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (done < n) {
		size_t want = n - done < 4096 ? n - done : 4096;
		off_t off = ((uintptr_t)p / pagesz + done) * 8;
		ssize_t got = pread(fd, buf, want * 8, off);

		if (got <= 0)
			break;
		for (ssize_t i = 0; i < got / 8; i++)
			if (buf[i] & (1ULL << 62))
				swapped++;
		done += got / 8;
	}
	close(fd);
	return swapped;
}

/*
 * MADV_PAGEOUT drains only the calling CPU's LRU batches: a few pages
 * faulted in while the process ran on another CPU can sit in that CPU's
 * batch, off the LRU, and are skipped (tens of pages in 64k, with several
 * processes on 2 CPUs); callers accept ZSF_SWAPPED_OK(). ZSGATE_PAGEOUT=drain
 * first drains every CPU's batches (mlock() does lru_add_drain_all()) so
 * that all pages go out; on 6.18.44 with zswap that leaves swap slots and
 * zswap entries behind after their owners are gone (seen here, until
 * swapoff), so it is not the default.
 */
static void lru_drain_all(void)
{
	static char *page;

	if (!page)
		page = mmap(NULL, pagesz, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page != MAP_FAILED && mlock(page, pagesz) == 0)
		munlock(page, pagesz);
}

long zsf_pageout(char *p, size_t bytes)
{
	const char *mode = getenv("ZSGATE_PAGEOUT");
	bool drain = mode && !strcmp(mode, "drain");
	long n = bytes / pagesz, s = 0;

	for (int i = 0; i < 5 && s < n; i++) {
		if (i)
			usleep(2000 * i);	/* let other CPUs' LRU batches drain */
		if (drain)
			lru_drain_all();
		if (madvise(p, bytes, MADV_PAGEOUT))
			return -1;
		s = zsf_count_swapped(p, bytes);
	}
	zsf_fault("pageout");
	return s;
}

/* --------------------------------------------------------------- time */

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

/* ---------------------------------------------------------------- kmsg */

int zsf_kmsg_start(struct zsf_ctx *c)
{
	c->kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (c->kmsg_fd < 0)
		return -1;
	lseek(c->kmsg_fd, 0, SEEK_END);
	return 0;
}

/* zsf_splats[]: zsgate's one list of splats (ci/zsgate/splat.py) */
#include "zsfree_splat.h"

int zsf_kmsg_scan(struct zsf_ctx *c, char *buf, size_t len)
{
	char rec_[8192];
	size_t used = 0;
	int hits = 0;

	if (buf && len)
		buf[0] = 0;
	if (c->kmsg_fd < 0)
		return -1;
	for (;;) {
		ssize_t n = read(c->kmsg_fd, rec_, sizeof(rec_) - 1);
		char *msg;

		if (n < 0) {
			if (errno == EPIPE)	/* overwritten records: go on */
				continue;
			break;
		}
		rec_[n] = 0;
		msg = strchr(rec_, ';');
		msg = msg ? msg + 1 : rec_;
		msg[strcspn(msg, "\n")] = 0;
		for (unsigned int i = 0; i < ARRAY_SIZE(zsf_splats); i++) {
			if (!strstr(msg, zsf_splats[i]))
				continue;
			hits++;
			if (buf && used + strlen(msg) + 3 < len)
				used += snprintf(buf + used, len - used, "%s | ", msg);
			break;
		}
	}
	return hits;
}

/* ----------------------------------------------------------- processes */

pid_t zsf_fork(struct zsf_ctx *c)
{
	pid_t ppid = getpid(), pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		if (c->guard_wfd >= 0)
			close(c->guard_wfd);
		c->guard_wfd = -1;
		c->active = false;	/* never tear down from a worker */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != ppid)
			_exit(1);
	}
	return pid;
}

bool zsf_have_tool(const char *name)
{
	char p[512], *path = getenv("PATH"), *s, *tok, *save = NULL;
	bool ok = false;

	s = strdup(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	for (tok = strtok_r(s, ":", &save); tok && !ok; tok = strtok_r(NULL, ":", &save)) {
		snprintf(p, sizeof(p), "%s/%s", tok, name);
		ok = access(p, X_OK) == 0;
	}
	free(s);
	return ok;
}

pid_t zsf_spawn(struct zsf_ctx *c, char *const argv[], const char *logpath)
{
	pid_t pid = zsf_fork(c);

	if (pid == 0) {
		int fd = open(logpath ? logpath : "/dev/null",
			      O_WRONLY | O_CREAT | O_TRUNC, 0644);

		setpgid(0, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid > 0) {
		setpgid(pid, pid);
		rec(c, "pgrp %d", pid);
	}
	return pid;
}

void zsf_reap(pid_t pid, int sig)
{
	if (pid <= 0)
		return;
	if (sig)
		kill(-pid, sig);
	waitpid(pid, NULL, 0);
	/* the tool's own children (fio jobs) too: they may hold a device */
	for (int i = 0; i < 1000 && kill(-pid, sig ? sig : 0) == 0; i++)
		usleep(10000);
}

void zsf_compact_backend(struct zsf_ctx *c)
{
	char p[64];
	glob_t g;

	if (c->be == ZSF_ZRAM) {
		snprintf(p, sizeof(p), "/sys/block/zram%d/compact", c->zram_id);
		write_str(p, "1");
		return;
	}
	/* zswap has no compact knob; its zsmalloc pool compacts via the shrinker */
	if (!glob("/sys/kernel/debug/zsmalloc/zswap*/compact", 0, NULL, &g)) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			write_str(g.gl_pathv[i], "1");
		globfree(&g);
	}
}

void zsf_compact_memory(void)
{
	write_str("/proc/sys/vm/compact_memory", "1");
}

/* ------------------------------------------------------------- barrier */

struct zsf_barrier {
	pthread_barrier_t b;
};

void *zsf_shared(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

struct zsf_barrier *zsf_barrier_new(int parties)
{
	struct zsf_barrier *b = zsf_shared(sizeof(*b));
	pthread_barrierattr_t a;

	if (!b)
		return NULL;
	pthread_barrierattr_init(&a);
	pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&b->b, &a, parties);
	pthread_barrierattr_destroy(&a);
	return b;
}

void zsf_barrier_wait(struct zsf_barrier *b)
{
	pthread_barrier_wait(&b->b);
}

void zsf_barrier_free(struct zsf_barrier *b)
{
	munmap(b, sizeof(*b));
}

/*
 * ZSGATE_REPAIR=1 ./zram_free (or zswap_free): only undo what dead runs
 * left behind (state files whose owner and guardian are gone), then exit.
 */
__attribute__((constructor)) static void zsf_repair_mode(void)
{
	const char *v = getenv("ZSGATE_REPAIR");
	char why[256] = "";
	bool ok;

	if (!v || !*v || !strcmp(v, "0"))
		return;
	zsf_env_load();
	ok = repair_stale(why, sizeof(why));
	printf("zsgate: repair %s\n", ok ? "done" : why);
	exit(ok ? 0 : 1);
}
