// SPDX-License-Identifier: GPL-2.0
/*
 * zram_free - how fast and how safely swapped-out memory on zram is freed.
 *
 * Swap on our own zram device (hot_add, else an unconfigured zram0) at the
 * highest priority; the scenarios are in ../zsfree_common/zsfree_tests.h,
 * knobs and figure keys in ../zsfree_common/swapfree.h.
 */
#define ZSF_BACKEND ZSF_ZRAM
#include "zsfree_tests.h"

/*
 * fio_discard: swap on zram with discard (freed swap clusters are discarded,
 * so zram's discard path frees handles of the same pool while the slot-free
 * notify path does), plus fio writing and trimming a second zram device.
 */
FIXTURE_VARIANT_ADD(race, fio_discard) {
	.kind = RACE_FIO,
	.swap_flags = SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_PAGES,
};

static pid_t zsf_race_extra(struct __test_metadata *_metadata, struct zsf_ctx *c,
			    const FIXTURE_VARIANT(race) *variant, int secs)
{
	char why[256], dev[64], rt[32];
	pid_t pid;
	int id;

	if (variant->kind != RACE_FIO)
		return -1;
	id = zsf_extra_zram(c, 256 * ZSF_MB, why, sizeof(why));
	if (id < 0) {
		TH_LOG("no second zram device for fio: %s", why);
		return -1;
	}
	snprintf(dev, sizeof(dev), "--filename=/dev/zram%d", id);
	snprintf(rt, sizeof(rt), "--runtime=%d", secs + 60);	/* we kill it */
	{
		/* --thread: fio jobs are processes in their own sessions otherwise */
		char *argv[] = { "fio", "--thread", "--name=zsgate-discard", dev, "--direct=1",
				 "--time_based", rt, "--bs=4k", "--iodepth=1",
				 "--ioengine=psync", "--numjobs=1",
				 "--rw=randtrim", "--size=200M",
				 "--name=zsgate-write", dev, "--direct=1",
				 "--time_based", rt, "--bs=16k", "--rw=randwrite",
				 "--size=200M", "--buffer_compress_percentage=70",
				 "--refill_buffers", NULL };

		pid = zsf_spawn(c, argv, "/tmp/zsgate-fio.log");
	}
	EXPECT_LT(0, pid);
	return pid;
}

TEST_HARNESS_MAIN
