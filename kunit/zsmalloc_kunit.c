// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for zsmalloc (zsgate).
 *
 * This file is not built on its own: it lives in mm/tests/ with the
 * zsmalloc_kunit_*.h files beside it and is included at the end of
 * mm/zsmalloc.c under CONFIG_ZSMALLOC_KUNIT_TEST, the way mm/damon
 * includes its tests. The cases need the static helpers
 * (location_to_obj(), obj_to_location(), struct size_class, ...) and the
 * pool internals; VISIBLE_IF_KUNIT would have to export a dozen of them
 * and the struct layouts, so inclusion keeps mm/zsmalloc.c untouched.
 *
 * mm/tests/zsmalloc_kunit_caps.h says what the tree declares, each thing
 * on its own (Part A in mm/zsmalloc.c; zs_free_deferred(), its flush, the
 * reference's stats and capacity calls, the callback-ops API in
 * include/linux/zsmalloc.h). zsgate's tree glue generates it for each
 * revision it gates; a tree that carries the suite commits it, and a patch
 * adding one of these interfaces defines its macro there. A case relies
 * only on what is declared and SKIPs naming what is not, so the suite
 * compiles against every revision shape.
 *
 * Layers, one file each:
 *  - zsmalloc_kunit_splat.h: the kernel-log lines that fail a case,
 *    generated from zsgate's one list (ci/zsgate/splat.py);
 *  - zsmalloc_kunit_helpers.h: log watcher, pools, patterned objects,
 *    accounting with deadlines, kthreads, page migration;
 *  - zsmalloc_kunit_part_a.h: class_idx in obj (encoding, migration,
 *    compaction, the pool->lock fallback, zs_free() racing migration);
 *  - zsmalloc_kunit_contract.h: what every revision declaring
 *    zs_free_deferred() must do, through that call and zsmalloc's
 *    accounting only;
 *  - zsmalloc_kunit_reference.h: white-box cases of series/deferred-free
 *    (its stats, capacity and flush calls);
 *  - zsmalloc_kunit_ops.h: the callback-ops shape (struct zs_deferred_ops).
 *
 * Every case also fails if the kernel log gets a zsmalloc error, a
 * WARNING or a BUG line while it runs (a console registered by the
 * suite counts them, see zst_console_write()).
 */

#include <kunit/test.h>
#include <linux/console.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/migrate.h>
#include <linux/mmzone.h>
#include <linux/moduleparam.h>
#include <linux/preempt.h>
#include <linux/random.h>
#include <linux/vmalloc.h>
#include <linux/vmstat.h>

#include "zsmalloc_kunit_caps.h"

static unsigned int kunit_race_ms = 3000;
module_param(kunit_race_ms, uint, 0444);
MODULE_PARM_DESC(kunit_race_ms,
		 "run time of the zsmalloc KUnit free/migrate race (ms)");

#ifndef ZSMALLOC_KUNIT_HAVE_PART_A
/* A pre-Part-A zsmalloc: obj is [PFN | obj_idx], no class field. */
#define ZS_OBJ_CLASS_BITS	0
#define ZS_OBJ_CLASS_MASK	0UL
#define ZS_OBJ_PFN_SHIFT	OBJ_INDEX_BITS
#define ZS_OBJ_IDX_BITS		OBJ_INDEX_BITS
#define ZS_OBJ_IDX_MASK		OBJ_INDEX_MASK
#endif

#define ZST_PFN_MAX	((_AC(1, UL) << _PFN_BITS) - 1)
#define ZST_BITS_01	(~0UL / 3)		/* 0x5555... */
#define ZST_BITS_10	(~0UL / 3 * 2)		/* 0xaaaa... */

#if !defined(ZSMALLOC_KUNIT_HAVE_PART_A) || \
	(ZS_OBJ_CLASS_BITS == 0 && !defined(CONFIG_COMPACTION))
/* mm/zsmalloc.c builds obj_to_class_idx() only where something uses it */
static unsigned int obj_to_class_idx(unsigned long obj)
{
	return 0;
}
#endif

#include "zsmalloc_kunit_splat.h"
#include "zsmalloc_kunit_helpers.h"
#include "zsmalloc_kunit_part_a.h"
#include "zsmalloc_kunit_contract.h"
#include "zsmalloc_kunit_reference.h"
#include "zsmalloc_kunit_ops.h"

static struct kunit_case zsmalloc_test_cases[] = {
	/* Part A */
	KUNIT_CASE_PARAM(test_encoding_roundtrip, zst_enc_gen_params),
	KUNIT_CASE_PARAM(test_encoding_live_classes, zst_live_gen_params),
	KUNIT_CASE(test_lookup_fallback_after_migration),
	KUNIT_CASE(test_migration_keeps_location),
	KUNIT_CASE(test_compaction_keeps_class),
	KUNIT_CASE_SLOW(test_free_migrate_race),
	/* Part B contract: any revision declaring zs_free_deferred() */
	KUNIT_CASE_PARAM(test_contract_deferred_all_freed, zst_all_freed_gen_params),
	KUNIT_CASE(test_contract_deferred_neighbours_intact),
	KUNIT_CASE(test_contract_deferred_destroy_pending),
	KUNIT_CASE(test_contract_deferred_all_cpus),
	KUNIT_CASE(test_contract_deferred_burst),
	KUNIT_CASE_SLOW(test_contract_deferred_race),
	/* Part B, the callback-ops shape */
	KUNIT_CASE(test_contract_ops_drained_once),
	KUNIT_CASE(test_contract_ops_destroy_pending),
	/* Part B, white-box cases of series/deferred-free */
#ifdef ZST_REFERENCE_API
	KUNIT_CASE_PARAM(test_deferred_drain_batching, zst_batch_gen_params),
#else
	KUNIT_CASE(test_deferred_drain_batching),
#endif
	KUNIT_CASE(test_deferred_overflow),
	KUNIT_CASE(test_deferred_flush_on_destroy),
	KUNIT_CASE_SLOW(test_deferred_enqueue_vs_drain),
	{}
};

static struct kunit_suite zsmalloc_test_suite = {
	.name = "zsmalloc",
	.suite_init = zst_suite_init,
	.suite_exit = zst_suite_exit,
	.init = zst_case_init,
	.exit = zst_case_exit,
	.test_cases = zsmalloc_test_cases,
};

kunit_test_suite(zsmalloc_test_suite);
