/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zsmalloc KUnit suite (zsgate), contract layer: what every Part B
 * revision that declares
 *	void zs_free_deferred(struct zs_pool *pool, unsigned long handle);
 * must do, whatever its shape (per-cpu buffers, a per-pool trylock queue,
 * page pools, drain lists). The cases use only that call, zs_malloc(),
 * zs_free(), zs_destroy_pool() and zsmalloc's own accounting (class
 * objects in use, pool pages, NR_ZSPAGES), plus zs_free_deferred_flush()
 * where the revision declares it. Without a flush the contract is: every
 * deferred free takes effect within ZST_DEADLINE_MS with no further call,
 * and zs_destroy_pool() leaves nothing behind.
 * Included by zsmalloc_kunit.c; not built on its own.
 */

#define ZST_NO_DEFERRED							\
	"zs_free_deferred(struct zs_pool *, unsigned long) is not declared by this revision " \
	"(no Part B in zsmalloc, or another API): see the tree's mm/tests/zsmalloc_kunit_caps.h"

#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED_FLUSH
#define ZST_SETTLED "after zs_free_deferred_flush()"
#else
#define ZST_SETTLED "within 10 s, no flush declared"
#endif

/*
 * Objects in use in @pool reach @want once the deferred frees took
 * effect: at once after a declared flush (it must wait for the frees it
 * starts), else within ZST_DEADLINE_MS. Fewer than @want means a live
 * object was freed (a doubled or misdirected free).
 */
static void zst_expect_inuse(struct kunit *test, struct zs_pool *pool,
			     unsigned long want, const char *what)
{
	unsigned long found;
	long waited = 0;

	zst_deferred_settle(pool);
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED_FLUSH
	found = zst_objs_inuse(pool);
#else
	waited = zst_wait_for((found = zst_objs_inuse(pool)) == want);
#endif
	if (waited > 0)
		kunit_info(test, "%s: deferred frees took effect after %ld ms\n",
			   what, waited);
	KUNIT_EXPECT_EQ_MSG(test, found, want,
			    "%s: objects in use " ZST_SETTLED ": expected %lu found %lu",
			    what, want, found);
}

KUNIT_DEFINE_ACTION_WRAPPER(zst_vfree_action, vfree, const void *);

static unsigned long *zst_handles(struct kunit *test, unsigned int n)
{
	unsigned long *h = vcalloc(n, sizeof(*h));

	ZST_ASSERT_ALLOC(test, h);
	KUNIT_ASSERT_EQ_MSG(test, 0,
			    kunit_add_action_or_reset(test, zst_vfree_action, h),
			    "test setup: registering the handle array cleanup: expected 0");
	return h;
}

static const size_t zst_contract_sizes[] = { 32, 100, 240, 500, 1500, 3000 };

/* Size of the @i-th object of a set: mostly small, every 16th large. */
static size_t zst_contract_size(unsigned int i)
{
	return zst_contract_sizes[(i & 15) ? i % 4 : 4 + (i / 16) % 2];
}

static void zst_alloc_handles(struct kunit *test, struct zs_pool *pool,
			      unsigned long *h, unsigned int n, u8 *scratch)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		h[i] = zst_alloc(pool, zst_contract_size(i), i, scratch);
		ZST_ASSERT_HANDLE(test, h[i], zst_contract_size(i));
		if (!(i & 1023))
			cond_resched();
	}
}

/* Queues handles [from, to) from one CPU with preemption disabled. */
struct zst_enqueue {
	struct zs_pool *pool;
	unsigned long *handles;
	unsigned int from, to;
	struct completion done;
};

static int zst_enqueue_thread(void *data)
{
	struct zst_enqueue *e = data;
	unsigned int i;

	preempt_disable();
	for (i = e->from; i < e->to; i++)
		zs_free_deferred(e->pool, e->handles[i]);
	preempt_enable();
	complete(&e->done);
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ / 50);
	return 0;
}

static void zst_enqueue_on_each_cpu(struct kunit *test, struct zs_pool *pool,
				    unsigned long *handles, unsigned int n)
{
	unsigned int cpu, k = 0, nr = num_online_cpus();
	struct zst_enqueue *e;
	struct task_struct *t;

	e = kunit_kcalloc(test, nr, sizeof(*e), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, e);
	for_each_online_cpu(cpu) {
		if (k == nr)
			break;
		e[k].pool = pool;
		e[k].handles = handles;
		e[k].from = n * k / nr;
		e[k].to = n * (k + 1) / nr;
		init_completion(&e[k].done);
		t = zst_start_kthread(test, zst_enqueue_thread, &e[k], cpu,
				      "zst_enq/%u");
		wait_for_completion(&e[k].done);
		kunit_release_action(test, zst_kthread_stop_action, t);
		k++;
	}
	kunit_info(test, "queued %u handles from %u CPUs\n", n, k);
}

#endif /* ZSMALLOC_KUNIT_HAVE_DEFERRED */

struct zst_count_case {
	const char *desc;
	unsigned int n;
};

static const struct zst_count_case zst_all_freed_cases[] = {
	{ "1 handle", 1 },
	{ "64 handles, 4 classes", 64 },
	{ "40000 handles, 6 classes: more than any buffer", 40000 },
};

static void zst_count_desc(const struct zst_count_case *c, char *desc)
{
	strscpy(desc, c->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(zst_all_freed, zst_all_freed_cases, zst_count_desc);

/*
 * N objects freed with zs_free_deferred() from the test thread: all of
 * them are freed (objects in use back to 0), and the pool's pages come
 * back. Catches: a partially filled buffer never drained (no flush, no
 * timer), a drain that skips or repeats a handle, a lost overflow.
 */
static void test_contract_deferred_all_freed(struct kunit *test)
{
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED
	const struct zst_count_case *c = test->param_value;
	struct zs_pool *pool = zst_create_pool(test);
	unsigned long *h = zst_handles(test, c->n);
	u8 *scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	unsigned int i;

	ZST_ASSERT_ALLOC(test, scratch);
	zst_alloc_handles(test, pool, h, c->n, scratch);
	KUNIT_ASSERT_EQ_MSG(test, zst_objs_inuse(pool), (unsigned long)c->n,
			    "test setup: objects in use expected %u found %lu",
			    c->n, zst_objs_inuse(pool));
	for (i = 0; i < c->n; i++)
		zs_free_deferred(pool, h[i]);
	zst_expect_inuse(test, pool, 0, c->desc);
	zst_finish_pool(test, pool);
#else
	kunit_skip(test, ZST_NO_DEFERRED);
#endif
}

/*
 * Half of a set of objects sharing zspages is freed with
 * zs_free_deferred(); new objects are allocated at once, while those
 * frees may still be queued. Every survivor and every newcomer keeps its
 * data, before and after the frees took effect, and exactly they stay in
 * use. Catches: a drain that frees a handle twice (the second free hits
 * a newcomer that reused the slot), frees a neighbour, or writes into a
 * freed object.
 */
static void test_contract_deferred_neighbours_intact(struct kunit *test)
{
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED
	static const size_t sizes[] = { 64, 700, 2000 };
	const int per_size = 256, n = ARRAY_SIZE(sizes) * per_size;
	struct zs_pool *pool = zst_create_pool(test);
	u8 *scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	struct zst_obj *objs, *fresh;
	unsigned long kept = 0;
	int i, pass;

	ZST_ASSERT_ALLOC(test, scratch);
	objs = zst_alloc_set(test, pool, sizes, ARRAY_SIZE(sizes), per_size,
			     scratch);
	for (i = 0; i < n; i++) {
		if ((i / ARRAY_SIZE(sizes)) & 1) {
			zs_free_deferred(pool, objs[i].handle);
			objs[i].handle = 0;
		} else {
			kept++;
		}
	}
	fresh = zst_alloc_set(test, pool, sizes, ARRAY_SIZE(sizes), per_size / 2,
			      scratch);
	for (i = 0; i < n / 2; i++)
		fresh[i].seed ^= 0x00a50000u;	/* zst_alloc_set() seeds from 0 */
	for (i = 0; i < n / 2; i++) {
		/* rewrite with the distinct seed: newcomers differ from survivors */
		u8 *p = scratch;
		size_t k;

		for (k = 0; k < fresh[i].size; k++)
			p[k] = zst_byte(fresh[i].seed, k);
		zs_obj_write(pool, fresh[i].handle, p, fresh[i].size);
	}

	for (pass = 0; pass < 2; pass++) {
		const char *when = pass ? "after the frees took effect" :
					  "while frees may be queued";

		if (pass)
			zst_expect_inuse(test, pool, kept + n / 2, "survivors + newcomers");
		for (i = 0; i < n; i++)
			if (objs[i].handle)
				ZST_EXPECT_INTACT(test, pool, objs[i].handle, objs[i].size,
						  objs[i].seed, scratch, when);
		for (i = 0; i < n / 2; i++)
			ZST_EXPECT_INTACT(test, pool, fresh[i].handle, fresh[i].size,
					  fresh[i].seed, scratch, when);
	}
	zst_free_set(test, pool, objs, n);
	zst_free_set(test, pool, fresh, n / 2);
	zst_finish_pool(test, pool);
#else
	kunit_skip(test, ZST_NO_DEFERRED);
#endif
}

/*
 * Objects freed with zs_free_deferred() from every online CPU and the
 * pool destroyed right away: zs_destroy_pool() must complete or cancel
 * the pending frees itself, so NR_ZSPAGES comes back to its value before
 * the pool existed and no "Class-N fullness group M is not empty" line
 * is printed (the suite's console watcher fails the case on it).
 * Catches: destroy without draining, a drain that skips other CPUs'
 * buffers, a worker still running on the freed pool (KASAN, oops).
 */
static void test_contract_deferred_destroy_pending(struct kunit *test)
{
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED
	const unsigned int n = 3000;
	unsigned long base, found, *h = zst_handles(test, n);
	u8 *scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	struct zs_pool *pool;
	long waited;

	ZST_ASSERT_ALLOC(test, scratch);
	base = zst_nr_zspages();
	pool = zst_create_pool(test);
	zst_alloc_handles(test, pool, h, n, scratch);
	KUNIT_ASSERT_GT_MSG(test, zst_nr_zspages(), base,
			    "test setup: NR_ZSPAGES with %u objects: expected > %lu found %lu",
			    n, base, zst_nr_zspages());
	zst_enqueue_on_each_cpu(test, pool, h, n);
	kunit_release_action(test, zst_pool_destroy_action, pool);

	waited = zst_wait_for((found = zst_nr_zspages()) == base);
	if (waited > 0)
		kunit_info(test, "NR_ZSPAGES back after %ld ms\n", waited);
	KUNIT_EXPECT_EQ_MSG(test, found, base,
			    "NR_ZSPAGES after zs_destroy_pool() with frees pending: expected %lu (before the pool) within %d ms found %lu",
			    base, ZST_DEADLINE_MS, found);
#else
	kunit_skip(test, ZST_NO_DEFERRED);
#endif
}

#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED
#define ZST_RING	64

/* One CPU's churn: allocate, check, zs_free_deferred() the oldest. */
struct zst_churn {
	struct zs_pool *pool;
	unsigned long deadline;
	unsigned long allocs, bad, failed;
	struct zst_thread th;
};

static int zst_churn_thread(void *data)
{
	struct zst_churn *ch = container_of(data, struct zst_churn, th);
	unsigned long ring[ZST_RING] = { };
	u32 seeds[ZST_RING];
	size_t sizes[ZST_RING];
	u8 *scratch = kmalloc(PAGE_SIZE, GFP_KERNEL);
	unsigned int k = 0;

	if (!scratch) {
		ch->failed++;
		goto out;
	}
	while (time_before(jiffies, ch->deadline)) {
		unsigned int slot = k % ZST_RING;

		if (ring[slot]) {
			u8 found;

			if (zst_verify(ch->pool, ring[slot], sizes[slot], seeds[slot],
				       scratch, &found) >= 0)
				ch->bad++;
			zs_free_deferred(ch->pool, ring[slot]);
		}
		sizes[slot] = zst_contract_size(k);
		seeds[slot] = ch->th.cpu << 24 | (k & 0xffffff);
		ring[slot] = zst_alloc(ch->pool, sizes[slot], seeds[slot], scratch);
		if (!ring[slot])
			ch->failed++;
		else
			ch->allocs++;
		if (!(++k & 63))
			cond_resched();
	}
	for (k = 0; k < ZST_RING; k++)
		if (ring[k])
			zs_free_deferred(ch->pool, ring[k]);
	kfree(scratch);
out:
	return zst_thread_done(&ch->th);
}
#endif

/*
 * A kthread on every online CPU allocates, checks and zs_free_deferred()s
 * objects for a second, so queues fill and drain on all CPUs at once,
 * while objects allocated before keep their data. Afterwards exactly the
 * old objects are in use and intact. Catches: a handle lost when two CPUs
 * (or a CPU and the drain worker) touch a queue at once, a trylock or
 * overflow path that drops the free, a drain that frees a live object.
 */
static void test_contract_deferred_all_cpus(struct kunit *test)
{
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED
	static const size_t sizes[] = { 80, 900 };
	const int per_size = 64, n = ARRAY_SIZE(sizes) * per_size;
	unsigned int k, nr = num_online_cpus();
	unsigned long allocs = 0, bad = 0, failed = 0;
	struct zs_pool *pool = zst_create_pool(test);
	u8 *scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	struct zst_churn *ch;
	struct zst_obj *live;
	int i;

	if (nr < 2)
		kunit_warn(test, "one CPU online: no two queues are used at once");
	ch = kunit_kcalloc(test, nr, sizeof(*ch), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, scratch);
	ZST_ASSERT_ALLOC(test, ch);
	live = zst_alloc_set(test, pool, sizes, ARRAY_SIZE(sizes), per_size, scratch);

	for (k = 0; k < nr; k++) {
		ch[k].pool = pool;
		ch[k].deadline = jiffies + msecs_to_jiffies(1000);
	}
	k = zst_threads_start(test, &ch->th, sizeof(*ch), nr, zst_churn_thread,
			      "zst_churn/%u");
	zst_threads_stop(test, &ch->th, sizeof(*ch), k, NULL, NULL);
	for (i = 0; i < k; i++) {
		allocs += ch[i].allocs;
		bad += ch[i].bad;
		failed += ch[i].failed;
	}
	kunit_info(test, "%u CPUs: %lu objects allocated and defer-freed\n", k, allocs);
	KUNIT_ASSERT_EQ_MSG(test, failed, 0UL,
			    "test setup: allocations failed in the churn threads: expected 0 found %lu",
			    failed);
	KUNIT_EXPECT_EQ_MSG(test, bad, 0UL,
			    "churn objects with wrong data before their free: expected 0 found %lu",
			    bad);
	zst_expect_inuse(test, pool, n, "old objects after the churn");
	for (i = 0; i < n; i++)
		ZST_EXPECT_INTACT(test, pool, live[i].handle, live[i].size,
				  live[i].seed, scratch, "old object after the churn");
	zst_free_set(test, pool, live, n);
	zst_finish_pool(test, pool);
#else
	kunit_skip(test, ZST_NO_DEFERRED);
#endif
}

/*
 * One CPU calls zs_free_deferred() 100000 times back to back without
 * being preempted: far more than any buffer or queue holds, so whatever
 * overflow path the revision has (synchronous free, a fresh buffer, a
 * drain list) is taken many times. Every object is freed exactly once.
 * Catches: an overflowing handle dropped or written past a buffer's end
 * (KASAN, corrupted neighbours), a fallback that frees twice.
 */
static void test_contract_deferred_burst(struct kunit *test)
{
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED
	const unsigned int n = 100000;
	struct zs_pool *pool = zst_create_pool(test);
	unsigned long *h = zst_handles(test, n);
	u8 *scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	struct zst_enqueue *e = kunit_kzalloc(test, sizeof(*e), GFP_KERNEL);
	struct task_struct *t;
	unsigned int i;

	ZST_ASSERT_ALLOC(test, scratch);
	ZST_ASSERT_ALLOC(test, e);
	for (i = 0; i < n; i++) {
		h[i] = zst_alloc(pool, 32 + (i & 63), i, scratch);
		ZST_ASSERT_HANDLE(test, h[i], 32 + (i & 63));
		if (!(i & 1023))
			cond_resched();
	}
	e->pool = pool;
	e->handles = h;
	e->from = 0;
	e->to = n;
	init_completion(&e->done);
	t = zst_start_kthread(test, zst_enqueue_thread, e,
			      cpumask_first(cpu_online_mask), "zst_burst/%u");
	wait_for_completion(&e->done);
	kunit_release_action(test, zst_kthread_stop_action, t);
	zst_expect_inuse(test, pool, 0, "after a 100000-free burst");
	zst_finish_pool(test, pool);
#else
	kunit_skip(test, ZST_NO_DEFERRED);
#endif
}

#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED
#define ZST_HANDOFF_BATCH	8192
#define ZST_HANDOFF_RING	16

/*
 * One CPU's side of test_contract_deferred_race, in rounds: allocate a
 * batch of ZST_HANDOFF_BATCH objects, then free it back to back, every
 * sixteenth object with zs_free() and the others with zs_free_deferred().
 * A batch is more than a queue holds before its drain starts (a per-cpu
 * buffer of 2048, half of a per-pool array of 32768 from two CPUs), and
 * the burst takes far less than a drain timer's period even under KCSAN:
 * the queue fills and the revision's worker takes it while this CPU goes
 * on enqueuing, as the other CPUs allocate their batches. A ring of
 * patterned objects is renewed every round, each checked before its
 * deferred free.
 */
struct zst_handoff {
	struct zs_pool *pool;
	unsigned long *handles;
	unsigned long deadline;
	unsigned long rounds, deferred, direct, bad, failed;
	struct zst_thread th;
};

static void zst_handoff_ring(struct zst_handoff *r, unsigned long *ring,
			     u32 *seeds, u8 *scratch, bool renew)
{
	unsigned int slot;
	u8 found;

	for (slot = 0; slot < ZST_HANDOFF_RING; slot++) {
		if (ring[slot]) {
			if (zst_verify(r->pool, ring[slot], zst_contract_size(slot),
				       seeds[slot], scratch, &found) >= 0)
				r->bad++;
			zs_free_deferred(r->pool, ring[slot]);
			r->deferred++;
			ring[slot] = 0;
		}
		if (!renew)
			continue;
		seeds[slot] = r->th.cpu << 24 | (r->rounds & 0xffff) << 8 | slot;
		ring[slot] = zst_alloc(r->pool, zst_contract_size(slot),
				       seeds[slot], scratch);
		if (!ring[slot])
			r->failed++;
	}
}

static int zst_handoff_thread(void *data)
{
	struct zst_handoff *r = container_of(data, struct zst_handoff, th);
	unsigned long ring[ZST_HANDOFF_RING] = { };
	u32 seeds[ZST_HANDOFF_RING];
	u8 *scratch = kmalloc(PAGE_SIZE, GFP_KERNEL);
	unsigned int i, n;

	if (!scratch) {
		r->failed++;
		goto out;
	}
	while (time_before(jiffies, r->deadline) && !r->failed) {
		for (n = 0; n < ZST_HANDOFF_BATCH; n++) {
			r->handles[n] = zs_malloc(r->pool, 32 + (n & 255), GFP_KERNEL,
						  NUMA_NO_NODE);
			if (IS_ERR_VALUE(r->handles[n])) {
				r->failed++;
				break;
			}
			if (!(n & 255))
				cond_resched();
		}
		for (i = 0; i < n; i++) {
			if ((i & 15) == 15) {
				zs_free(r->pool, r->handles[i]);
				r->direct++;
			} else {
				zs_free_deferred(r->pool, r->handles[i]);
				r->deferred++;
			}
		}
		r->rounds++;
		zst_handoff_ring(r, ring, seeds, scratch, true);
		cond_resched();
	}
	zst_handoff_ring(r, ring, seeds, scratch, false);
	kfree(scratch);
out:
	return zst_thread_done(&r->th);
}

/* zst_threads_stop()'s wait: the test thread drains from a third side */
static void zst_settle_action(void *pool)
{
	zst_deferred_settle(pool);
}
#endif

/*
 * The owner/drainer race through the public call only: a kthread on
 * every online CPU allocates batches and frees each back to back with
 * zs_free_deferred() (every sixteenth with zs_free()) for kunit_race_ms,
 * so whatever queue the revision keeps (per-cpu buffers, a per-pool array
 * under a trylock, page pools) fills faster than a timer drains it and the
 * revision's own worker drains it while the owners go on enqueuing; where
 * a flush is declared, the test thread calls it every 100 ms meanwhile, a
 * drain from a third side. Objects allocated before stay in use and
 * intact, and every free takes effect.
 * Catches, under KCSAN (configs/zsmalloc-kcsan.config): an unordered
 * handoff between an owner and a drainer (the seed's count reset before
 * the new buffer pointer) as a data-race report, which fails the case
 * through the suite's console watcher; without KCSAN when the lost or
 * doubled handle shows in the objects in use or in the data.
 */
static void test_contract_deferred_race(struct kunit *test)
{
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED
	static const size_t sizes[] = { 48, 1000 };
	const int per_size = 32, n = ARRAY_SIZE(sizes) * per_size;
	unsigned int k, nr = num_online_cpus();
	unsigned long rounds = 0, deferred = 0, direct = 0, bad = 0, failed = 0;
	struct zs_pool *pool;
	u8 *scratch;
	struct zst_handoff *r;
	struct zst_obj *live;
	int i;

	if (nr < 2)
		kunit_skip(test, "needs 2 online CPUs: owners and the drain run at once");
	pool = zst_create_pool(test);
	scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	r = kunit_kcalloc(test, nr, sizeof(*r), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, scratch);
	ZST_ASSERT_ALLOC(test, r);
	live = zst_alloc_set(test, pool, sizes, ARRAY_SIZE(sizes), per_size, scratch);

	for (k = 0; k < nr; k++) {
		r[k].pool = pool;
		r[k].handles = zst_handles(test, ZST_HANDOFF_BATCH);
		r[k].deadline = jiffies + msecs_to_jiffies(kunit_race_ms);
	}
	k = zst_threads_start(test, &r->th, sizeof(*r), nr, zst_handoff_thread,
			      "zst_handoff/%u");
	zst_threads_stop(test, &r->th, sizeof(*r), k, zst_settle_action, pool);
	for (i = 0; i < k; i++) {
		rounds += r[i].rounds;
		deferred += r[i].deferred;
		direct += r[i].direct;
		bad += r[i].bad;
		failed += r[i].failed;
	}
	kunit_info(test, "%u CPUs, %u ms: %lu rounds of %u, %lu zs_free_deferred(), %lu zs_free()\n",
		   k, kunit_race_ms, rounds, ZST_HANDOFF_BATCH, deferred, direct);
	KUNIT_ASSERT_EQ_MSG(test, failed, 0UL,
			    "test setup: allocations failed in the handoff threads: expected 0 found %lu",
			    failed);
	KUNIT_EXPECT_EQ_MSG(test, bad, 0UL,
			    "ring objects with wrong data before their deferred free: expected 0 found %lu",
			    bad);
	zst_expect_inuse(test, pool, n, "objects allocated before the race");
	for (i = 0; i < n; i++)
		ZST_EXPECT_INTACT(test, pool, live[i].handle, live[i].size,
				  live[i].seed, scratch, "object allocated before the race");
	zst_free_set(test, pool, live, n);
	zst_finish_pool(test, pool);
#else
	kunit_skip(test, ZST_NO_DEFERRED);
#endif
}
