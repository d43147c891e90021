// SPDX-License-Identifier: GPL-2.0
/*
 * zsf_guard.c - the restore guardian: state-file records (zsf_rec()), the
 * process that undoes them however the test ends, the repair of what dead
 * runs left (also ZSGATE_REPAIR=1), and the ZSGATE_FAULT kill points.
 * API in swapfree.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "swapfree.h"
#include "zsf_internal.h"

struct zsf_ctx *zsf_current;	/* the setup zsf_fault() acts on */

void zsf_rec(struct zsf_ctx *c, const char *fmt, ...)
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
		r = zsf_write_str(p, "1");
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
			int w = zsf_write_str("/sys/class/zram-control/hot_remove", arg);

			r = (w == -ENODEV || w == -ENOENT) ? 0 : w;
		}
	} else if (sscanf(line, "zram_reset %d", &id) == 1) {
		r = zram_reset(id);
	} else if (sscanf(line, "zswap %127s %399s", arg2, arg) == 2) {
		char p[256];

		snprintf(p, sizeof(p), "/sys/module/zswap/parameters/%s", arg2);
		r = zsf_write_str(p, arg);
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
		r = zsf_write_str(DEBUGFS "/fail_function/inject", arg);
		r = r == -ENOENT ? 0 : r;	/* not armed (any more) */
	} else if (sscanf(line, "write %127s %399s", arg2, arg) == 2) {
		r = zsf_write_str(arg2, arg);
	} else if (sscanf(line, "trace %127s %399s", arg2, arg) == 2) {
		/* tracefs: usually removed already by zsf_percall_stop() */
		zsf_write_str(arg2, arg);
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

int zsf_start_guardian(struct zsf_ctx *c, char *why, size_t whylen)
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

/* ------------------------------------------------------ fault points */

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
