// SPDX-License-Identifier: GPL-2.0
/*
 * zsf_kmsg.c - the kernel-log splat check: /dev/kmsg from setup on,
 * each record matched against the splat patterns.
 * API in swapfree.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "swapfree.h"

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
