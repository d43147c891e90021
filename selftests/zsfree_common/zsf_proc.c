// SPDX-License-Identifier: GPL-2.0
/*
 * zsf_proc.c - worker processes and tools: a fork that dies with the
 * test, tools in their own process group (recorded for restore), reaping,
 * the process-shared release barrier and shared result memory.
 * API in swapfree.h.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "swapfree.h"
#include "zsf_internal.h"

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
		zsf_rec(c, "pgrp %d", pid);
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
