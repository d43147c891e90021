/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zsf_internal.h - what the zsf_*.c units share among themselves; the tests
 * use swapfree.h only.
 */
#ifndef ZSGATE_ZSF_INTERNAL_H
#define ZSGATE_ZSF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "swapfree.h"

#define KSFT_SKIP_RC 4
#define DEBUGFS "/sys/kernel/debug"
#define ZSWAP_DBG "/sys/kernel/debug/zswap"
/* the reference series' buffer allocation, a fail_function target */
#define FAILFN_TARGET "zs_deferred_alloc_buffers"

/* zsf_env.c: page size (zsf_pg_init()), sysfs/procfs files (0 or -errno) */
extern long zsf_pagesz;
void zsf_pg_init(void);
int zsf_write_str(const char *path, const char *val);
int zsf_read_str(const char *path, char *buf, size_t len);
long long zsf_read_ll(const char *path);	/* -1 when unreadable */
bool zsf_debugfs_mounted(void);

/* zsf_caps.c */
/* @fn listed in fail_function/injectable: 1 yes, 0 no, -1 no fail_function */
int zsf_failfn_injectable(const char *fn);
/* "this kernel's Part B (zs_free_deferred, ...) <verb>" or why there is none */
void zsf_partb_desc(char *buf, size_t len, const char *verb);
/* the "# zsgate: caps ..." line, once per run */
void zsf_caps_print_once(struct zsf_ctx *c);

/* zsf_guard.c */
/* append one undo record to the state file (before making the change) */
__printf(2, 3)
void zsf_rec(struct zsf_ctx *c, const char *fmt, ...);
/* repair dead runs' state, fork the guardian: 0, KSFT_SKIP_RC or -1 (@why) */
int zsf_start_guardian(struct zsf_ctx *c, char *why, size_t whylen);
/* the setup zsf_fault() acts on (set by zsf_setup(), cleared by teardown) */
extern struct zsf_ctx *zsf_current;

#endif
