// SPDX-License-Identifier: GPL-2.0
/*
 * zsf_env.c - the ZSGATE_* knobs (zsf_env_load(), sizes), the page size,
 * and the small sysfs/procfs file helpers every unit uses.
 * API in swapfree.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "swapfree.h"
#include "zsf_internal.h"

struct zsf_env zsf_env;

long zsf_pagesz;

void zsf_pg_init(void)
{
	if (!zsf_pagesz)
		zsf_pagesz = sysconf(_SC_PAGESIZE);
}

void zsf_env_load(void)
{
	const char *v;

	zsf_pg_init();
	memset(&zsf_env, 0, sizeof(zsf_env));
	v = getenv("ZSGATE_QUICK");
	zsf_env.quick = v && *v && strcmp(v, "0");
	zsf_env.rounds = zsf_env.quick ? 2 : 5;
	zsf_env.rounds_multi = zsf_env.quick ? 2 : 3;
	zsf_env.race_s = zsf_env.quick ? 2 : 5;
	v = getenv("ZSGATE_ROUNDS");
	if (v && atoi(v) > 0) {
		zsf_env.rounds = atoi(v);
		zsf_env.rounds_multi = zsf_env.rounds;
	}
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
	v = getenv("ZSGATE_CONTROL");
	zsf_env.control = v && *v && strcmp(v, "0");
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

int zsf_write_str(const char *path, const char *val)
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

int zsf_read_str(const char *path, char *buf, size_t len)
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

long long zsf_read_ll(const char *path)
{
	char buf[64];

	if (zsf_read_str(path, buf, sizeof(buf)))
		return -1;
	return atoll(buf);
}

bool zsf_debugfs_mounted(void)
{
	struct stat a, b;

	if (stat(DEBUGFS, &a) || stat("/sys/kernel", &b))
		return false;
	return a.st_dev != b.st_dev;
}
