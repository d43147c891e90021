// SPDX-License-Identifier: GPL-2.0
/*
 * zswap_free - how fast and how safely swapped-out memory in zswap is freed.
 *
 * Our own backing swap (a swap file, or a loop device over a file when the
 * file system refuses swap files) at the highest priority and zswap enabled
 * for the test; the scenarios are in ../zsfree_common/zsfree_tests.h, knobs
 * and figure keys in ../zsfree_common/swapfree.h.
 */
#define ZSF_BACKEND ZSF_ZSWAP
#define ZSF_RELEASE_FN "zswap_invalidate"	/* frees a swapped-out page's entry */
#include "zsfree_tests.h"

/*
 * writeback: the zswap shrinker is on and the pool limit flaps between 0 %
 * and 20 %, so zswap writes entries back to the backing swap (freeing them
 * from its zsmalloc pool) while the workers' frees invalidate entries.
 */
FIXTURE_VARIANT_ADD(race, writeback) { .kind = RACE_WRITEBACK };

static pid_t zsf_race_extra(struct __test_metadata *_metadata, struct zsf_ctx *c,
			    enum zsf_race_kind kind, int secs)
{
	if (kind == RACE_WRITEBACK)
		EXPECT_EQ(0, zsf_zswap_param("shrinker_enabled", "Y"));
	return -1;
}

TEST_HARNESS_MAIN
