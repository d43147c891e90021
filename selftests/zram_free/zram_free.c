// SPDX-License-Identifier: GPL-2.0
/*
 * zram_free - how fast and how safely swapped-out memory on zram is freed.
 *
 * Swap on our own zram device (hot_add, else an unconfigured zram0) at the
 * highest priority; the scenarios are in ../zsfree_common/zsfree_tests.h,
 * knobs and figure keys in ../zsfree_common/swapfree.h.
 */
#define ZSF_BACKEND ZSF_ZRAM
#define ZSF_RELEASE_FN "zram_slot_free_notify"	/* frees a swapped-out page's object */
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
			    enum zsf_race_kind kind, int secs)
{
	char why[256], dev[64], rt[32];
	pid_t pid;
	int id;

	if (kind != RACE_FIO)
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
		char *const argv[] = { "fio", "--thread", "--name=zsgate-discard",
				 dev, "--direct=1", "--time_based", rt, "--bs=4k", "--iodepth=1",
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

/*
 * Buffer allocation failure: the pool of our zram device is created while
 * fail_function makes zs_deferred_alloc_buffers() (the reference series'
 * buffer allocation) fail, as an allocation failure at pool creation would.
 * The injection must have fired (fail_function's "times" counted down);
 * the pool must work with synchronous frees: data intact through swap-in
 * (which frees slots too), the pool back at baseline after munmap(). With
 * the reference's counters also: capacity 0, nothing enqueued, every free
 * counted as overflow. Catches a NULL buffer dereference, a handle queued
 * into a buffer that is not there (lost), or frees that wait for a drain
 * that never runs. SKIPs naming what is missing: CONFIG_FAIL_FUNCTION, or
 * the zs_deferred_alloc_buffers target (any other Part B shape).
 */
FIXTURE(nobuffers) {
	struct zsf_ctx c;
};

FIXTURE_SETUP(nobuffers)
{
	if (!zsf_setup_or_skip(_metadata, &self->c, ZSF_NO_DEFERRED_BUFFERS))
		return;
}

FIXTURE_TEARDOWN(nobuffers)
{
	ZSF_TEARDOWN();
}

TEST_F_TIMEOUT(nobuffers, sync_fallback, 300)
{
	size_t bytes = zsf_size_mb(64) * ZSF_MB;
	long pages = bytes / PG, sw, bad;
	struct zsf_deferred d0, d1;
	char *p = zsf_region(bytes), why[512];
	bool have = zsf_deferred(&self->c, &d0);

	ASSERT_LT(0, self->c.failfn_hits) {
		TH_LOG("fail_function never made zs_deferred_alloc_buffers() fail");
		TH_LOG("while zram%d's pool was created (hits %ld): the case would test nothing",
		       self->c.zram_id, self->c.failfn_hits);
	}
	if (have)
		ASSERT_EQ(0, d0.capacity)
			TH_LOG("zram%d has %llu-entry buffers: their allocation was made to fail",
			       self->c.zram_id, (unsigned long long)d0.capacity);
	ASSERT_NE(NULL, p);
	zsf_prepare(_metadata, p, bytes, 0x5000);
	bad = zsf_verify(p, bytes, 0x5000, 1);	/* swap-in of every page */
	ASSERT_EQ(0, bad) TH_LOG("%ld of %ld pages read back wrong", bad, pages);
	sw = zsf_pageout(p, bytes);
	ASSERT_TRUE(zsf_swapped_ok(sw, pages)) TH_LOG("%ld of %ld pages swapped", sw, pages);
	ASSERT_EQ(0, munmap(p, bytes));
	ASSERT_LE(0, zsf_check_clean(_metadata, &self->c));
	if (!have) {
		/* injection, data and accounting were checked; the counters cannot be */
		zsf_no_counters_why(&self->c, why, sizeof(why));
		TH_LOG("capacity/enqueued/overflow not checked: %s", why);
		return;
	}
	ASSERT_TRUE(zsf_deferred(&self->c, &d1));
	EXPECT_EQ(d0.enqueued, d1.enqueued)
		TH_LOG("%llu frees queued into buffers that were never allocated",
		       (unsigned long long)(d1.enqueued - d0.enqueued));
	/* every slot of the (>= 98 % swapped) region is freed at least once */
	EXPECT_LE(d0.overflow + pages - pages / 50, d1.overflow)
		TH_LOG("%llu synchronous frees counted for %ld swapped pages",
		       (unsigned long long)(d1.overflow - d0.overflow), pages);
	zsf_figure(&self->c,
		   "case=nobuffers size_mb=%zu procs=1 overflow=%llu capacity=%llu rounds=1",
		   bytes / ZSF_MB, (unsigned long long)(d1.overflow - d0.overflow),
		   (unsigned long long)d1.capacity);
}

TEST_HARNESS_MAIN
