// SPDX-License-Identifier: GPL-2.0
/*
 * zsf_backend.c - backend setup and teardown: swap on our own zram device,
 * or on our own swap file (a loop device over it where the file system
 * refuses swap files) with zswap enabled; fail_function at pool creation,
 * extra zram devices, compaction triggers, zswap parameters. Every change
 * is first recorded for the guardian (zsf_guard.c).
 * API in swapfree.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "swapfree.h"
#include "zsf_internal.h"

#define ZRAM_DISKSIZE (4ULL << 30)
#define ZSWAP_FILESIZE (3ULL << 30)
#define SWAP_PRIO 32767
#define TMPFS_MAGIC_ 0x01021994

static int mkswap_fd(int fd, uint64_t bytes)
{
	char *page = calloc(1, zsf_pagesz);
	uint32_t *w = (uint32_t *)(page + 1024);
	int r = 0;

	w[0] = 1;				/* version */
	w[1] = bytes / zsf_pagesz - 1;		/* last_page */
	w[2] = 0;				/* nr_badpages */
	memcpy(page + 1024 + 12, "zsgate-uuid-0001", 16);
	memcpy(page + 1024 + 28, "zsgate", 6);
	memcpy(page + zsf_pagesz - 10, "SWAPSPACE2", 10);
	if (pwrite(fd, page, zsf_pagesz, 0) != zsf_pagesz || fsync(fd))
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
	    zsf_read_str("/sys/class/zram-control/hot_add", buf, sizeof(buf)) == 0) {
		id = atoi(buf);
		*hot = true;
		return id;
	}
	/* no hot_add: an unconfigured zram0 only */
	if (zsf_read_ll("/sys/block/zram0/disksize") == 0)
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
	return zsf_write_str(p, v);
}

static int zram_new(struct zsf_ctx *c, uint64_t size, char *why, size_t whylen)
{
	bool hot;
	int id = zram_find(c, why, whylen, &hot), r;

	if (id < 0)
		return -1;
	zsf_rec(c, hot ? "zram_hot %d" : "zram_reset %d", id);
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
	int r, inj = zsf_failfn_injectable(fn);

	if (inj < 0) {
		snprintf(why, whylen,
			 "no %s/fail_function (CONFIG_FAIL_FUNCTION): cannot make %s() fail",
			 DEBUGFS, fn);
		return KSFT_SKIP_RC;
	}
	if (!inj) {
		zsf_partb_desc(partb, sizeof(partb), "has none");
		snprintf(why, whylen,
			 "no fail_function target %s (the reference series' buffer allocation): %s",
			 fn, partb);
		return KSFT_SKIP_RC;
	}
	for (size_t i = 0; i < ARRAY_SIZE(knobs); i++) {
		if (zsf_read_str(knobs[i][0], v, sizeof(v)) == 0)
			zsf_rec(c, "write %s %s", knobs[i][0], v);
		r = zsf_write_str(knobs[i][0], knobs[i][1]);
		if (r) {
			snprintf(why, whylen, "write %s: %s", knobs[i][0], strerror(-r));
			return -1;
		}
	}
	snprintf(p, sizeof(p), "!%s", fn);
	zsf_write_str(DEBUGFS "/fail_function/inject", p);	/* left armed by a killed run */
	zsf_rec(c, "failfn %s", fn);
	r = zsf_write_str(DEBUGFS "/fail_function/inject", fn);
	snprintf(p, sizeof(p), DEBUGFS "/fail_function/%s/retval", fn);
	/* a u64 debugfs attribute: kstrtoull takes 0x..., not "-12" */
	snprintf(v, sizeof(v), "%#llx", (unsigned long long)(long long)retval);
	r = r ?: zsf_write_str(p, v);
	if (r)
		snprintf(why, whylen, "arm fail_function for %s: %s", fn, strerror(-r));
	return r;
}

/* failures injected since failfn_arm(); -1 when unreadable */
static long failfn_hits(void)
{
	long long left = zsf_read_ll(DEBUGFS "/fail_function/times");

	return left < 0 ? -1 : atol(FAILFN_TIMES) - left;
}

static int failfn_disarm(const char *fn)
{
	char p[160];

	snprintf(p, sizeof(p), "!%s", fn);
	return zsf_write_str(DEBUGFS "/fail_function/inject", p);
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
	zsf_rec(c, "swap %s", c->swapdev);
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
	zsf_rec(c, "loop %d", id);
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
		if (zsf_read_str(p, v, sizeof(v)) == 0)
			zsf_rec(c, "zswap %s %s", params[i], v);
	}
	if (!dir || !*dir)
		dir = access("/var/tmp", W_OK) == 0 ? "/var/tmp" : "/tmp";
	snprintf(c->swapfile, sizeof(c->swapfile), "%s/zsgate-swap.%d", dir, getpid());
	zsf_rec(c, "file %s", c->swapfile);
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
	zsf_rec(c, "swap %s", c->swapdev);
	if (swapon(c->swapdev, prio | flags)) {
		/* fs without swapfile support (tmpfs, ...): use a loop device */
		lfd = loop_attach(c, c->swapfile, why, whylen);
		if (lfd < 0)
			return -1;
		zsf_rec(c, "swap %s", c->swapdev);
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
	if (zsf_read_str("/sys/module/zswap/parameters/enabled", v, sizeof(v)) || v[0] != 'Y') {
		snprintf(why, whylen, "zswap refused to enable (compressor/zpool missing?)");
		return KSFT_SKIP_RC;
	}
	return 0;
}

int zsf_zswap_param(const char *name, const char *val)
{
	char p[256];

	snprintf(p, sizeof(p), "/sys/module/zswap/parameters/%s", name);
	return zsf_write_str(p, val);
}

int zsf_setup(struct zsf_ctx *c, enum zsf_backend be, int flags, char *why, size_t whylen)
{
	int r;

	zsf_pg_init();
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
	r = zsf_start_guardian(c, why, whylen);
	if (r)
		return r;
	c->active = true;
	if (!zsf_debugfs_mounted() && mount("debugfs", DEBUGFS, "debugfs", 0, NULL) == 0)
		zsf_rec(c, "umount %s", DEBUGFS);
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
	zsf_caps_print_once(c);
	zsf_current = c;
	zsf_fault("setup");
	return 0;
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

/* -------------------------------------------------------- compaction */

void zsf_compact_backend(struct zsf_ctx *c)
{
	char p[64];
	glob_t g;

	if (c->be == ZSF_ZRAM) {
		snprintf(p, sizeof(p), "/sys/block/zram%d/compact", c->zram_id);
		zsf_write_str(p, "1");
		return;
	}
	/* zswap has no compact knob; its zsmalloc pool compacts via the shrinker */
	if (!glob("/sys/kernel/debug/zsmalloc/zswap*/compact", 0, NULL, &g)) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			zsf_write_str(g.gl_pathv[i], "1");
		globfree(&g);
	}
}

void zsf_compact_memory(void)
{
	zsf_write_str("/proc/sys/vm/compact_memory", "1");
}
