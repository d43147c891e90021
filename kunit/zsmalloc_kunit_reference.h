/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zsmalloc KUnit suite (zsgate), reference layer: white-box cases of
 * series/deferred-free (per-cpu buffers, its stats, capacity and flush
 * calls). Each case is compiled only where the revision declares every
 * call it uses, and SKIPs naming what is missing elsewhere; the contract
 * layer (zsmalloc_kunit_contract.h) is what every Part B revision runs.
 * Included by zsmalloc_kunit.c; not built on its own.
 */

#if defined(ZSMALLOC_KUNIT_HAVE_DEFERRED) && \
	defined(ZSMALLOC_KUNIT_HAVE_DEFERRED_FLUSH) && \
	defined(ZSMALLOC_KUNIT_HAVE_DEFERRED_STATS) && \
	defined(ZSMALLOC_KUNIT_HAVE_DEFERRED_CAPACITY)
#define ZST_REFERENCE_API 1
#endif

#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED
#define ZST_MISS_DEFERRED ""
#else
#define ZST_MISS_DEFERRED " zs_free_deferred()"
#endif
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED_FLUSH
#define ZST_MISS_FLUSH ""
#else
#define ZST_MISS_FLUSH " zs_free_deferred_flush()"
#endif
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED_STATS
#define ZST_MISS_STATS ""
#else
#define ZST_MISS_STATS " zs_free_deferred_stats()"
#endif
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED_CAPACITY
#define ZST_MISS_CAPACITY ""
#else
#define ZST_MISS_CAPACITY " zs_free_deferred_capacity()"
#endif

#define ZST_NEED_DEFERRED(test)						\
	kunit_skip(test,						\
		   "white-box case of series/deferred-free's API; this revision does not declare:" \
		   ZST_MISS_DEFERRED ZST_MISS_FLUSH ZST_MISS_STATS ZST_MISS_CAPACITY)

#ifdef ZST_REFERENCE_API
struct zst_batch_case {
	const char *desc;
	const char *runs;	/* e.g. "A16 B16 C16": class letter + run length */
};

/* classes A..E */
static const size_t zst_batch_sizes[] = { 64, 500, 1500, 3000, PAGE_SIZE };

static const struct zst_batch_case zst_batch_cases[] = {
	{ "one class, 64 handles", "A64" },
	{ "3 classes, one run each", "A16 B16 C16" },
	{ "2 classes in 4 runs", "A8 B8 A8 B8" },
	{ "2 classes alternating singly", "A1 B1 A1 B1 A1 B1 A1 B1 A1 B1 A1 B1 A1 B1 A1 B1" },
	{ "5 classes incl. huge, runs of 7..13", "A7 B9 C11 D13 E8 A10" },
};

static void zst_batch_desc(const struct zst_batch_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s: %s", c->desc, c->runs);
}

KUNIT_ARRAY_PARAM(zst_batch, zst_batch_cases, zst_batch_desc);

static void zst_stats(struct zs_pool *pool, struct zs_deferred_stats *st)
{
	memset(st, 0, sizeof(*st));
	zs_free_deferred_stats(pool, st);
}

/* @delta: how much the deferred stats counter @field grew; @want: expected. */
#define ZST_EXPECT_DELTA(test, field, delta, want)			\
	do {								\
		u64 __delta = (delta);					\
		u64 __want = (want);					\
									\
		KUNIT_EXPECT_EQ_MSG(test, __delta, __want,		\
				    "deferred stats: " #field " +%llu expected, found +%llu", \
				    __want, __delta);			\
	} while (0)
#endif

/*
 * N handles queued on one CPU (preemption off, so the owner-CPU partial
 * drain cannot run in between) and flushed: the drain takes class->lock
 * once per run of same-class handles, so batches grows by the number of
 * runs; nothing is lost or freed twice (pool back to zero pages).
 * Catches: a drain that locks per handle (batches == N), one that never
 * switches class (wrong lock held: lockdep / lost frees), a flush that
 * leaves the partial buffer pending.
 */
static void test_deferred_drain_batching(struct kunit *test)
{
#ifdef ZST_REFERENCE_API
	const struct zst_batch_case *c = test->param_value;
	struct zs_deferred_stats s0, s1;
	const int max_n = 128;
	unsigned long *handles;
	unsigned int cap, *cls;
	unsigned long runs = 0;
	struct zs_pool *pool;
	const char *p = c->runs;
	u8 *scratch;
	int i, n = 0;

	pool = zst_create_pool(test);
	scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	handles = kunit_kcalloc(test, max_n, sizeof(*handles), GFP_KERNEL);
	cls = kunit_kcalloc(test, max_n, sizeof(*cls), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, scratch);
	ZST_ASSERT_ALLOC(test, handles);
	ZST_ASSERT_ALLOC(test, cls);

	while (*p) {
		int letter = *p++ - 'A', len = 0;
		size_t size;

		while (*p >= '0' && *p <= '9')
			len = len * 10 + (*p++ - '0');
		while (*p == ' ')
			p++;
		KUNIT_ASSERT_TRUE_MSG(test, letter >= 0 &&
				      letter < (int)ARRAY_SIZE(zst_batch_sizes),
				      "test table: class letter expected A..E found %c",
				      'A' + letter);
		size = zst_batch_sizes[letter];
		for (i = 0; i < len; i++) {
			KUNIT_ASSERT_LT_MSG(test, n, max_n,
					    "test table: expected at most %d handles", max_n);
			handles[n] = zst_alloc(pool, size, n, scratch);
			ZST_ASSERT_HANDLE(test, handles[n], size);
			cls[n] = zs_lookup_class_index(pool, size);
			if (n == 0 || cls[n] != cls[n - 1])
				runs++;
			n++;
		}
	}
	cap = zs_free_deferred_capacity(pool);
	KUNIT_ASSERT_GT_MSG(test, cap, (unsigned int)n,
			    "per-cpu buffer capacity: expected > %d handles found %u",
			    n, cap);

	zs_free_deferred_flush(pool);
	zst_stats(pool, &s0);
	preempt_disable();
	for (i = 0; i < n; i++)
		zs_free_deferred(pool, handles[i]);
	preempt_enable();
	zs_free_deferred_flush(pool);
	zst_stats(pool, &s1);

	ZST_EXPECT_DELTA(test, enqueued, s1.enqueued - s0.enqueued, n);
	ZST_EXPECT_DELTA(test, drained, s1.drained - s0.drained, n);
	ZST_EXPECT_DELTA(test, overflow, s1.overflow - s0.overflow, 0);
	ZST_EXPECT_DELTA(test, batches, s1.batches - s0.batches, runs);
	KUNIT_EXPECT_EQ_MSG(test, s1.pending, 0ULL,
			    "pending after flush: expected 0 found %llu", s1.pending);
	zst_finish_pool(test, pool);
#else
	ZST_NEED_DEFERRED(test);
#endif
}

/*
 * A kthread pinned to one CPU queues capacity + M handles without being
 * preempted: the buffer takes capacity of them, the M others are freed
 * synchronously (overflow +M). After the flush the pool holds only the
 * live objects, whose data is intact, then drains to zero.
 * Catches: an overflowing handle dropped (leak) or written past the
 * buffer end (KASAN, corrupted neighbours), overflow not counted.
 */
static void test_deferred_overflow(struct kunit *test)
{
#ifdef ZST_REFERENCE_API
	const unsigned int extra = 32, nr_live = 64;
	const size_t size = 64;
	struct zs_deferred_stats s0, s1;
	struct task_struct *t;
	struct zst_enqueue *o;
	struct zs_pool *pool;
	unsigned long *live;
	unsigned int cap, nr, i, attempt;
	unsigned long live_pages;
	u64 enq = 0, ovf = 0;
	u8 *scratch;

	pool = zst_create_pool(test);
	scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	o = kunit_kzalloc(test, sizeof(*o), GFP_KERNEL);
	live = kunit_kcalloc(test, nr_live, sizeof(*live), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, scratch);
	ZST_ASSERT_ALLOC(test, o);
	ZST_ASSERT_ALLOC(test, live);
	cap = zs_free_deferred_capacity(pool);
	KUNIT_ASSERT_GT_MSG(test, cap, 0U,
			    "per-cpu buffer capacity: expected > 0 found %u", cap);
	o->pool = pool;
	nr = cap + extra;
	o->from = 0;
	o->to = nr;
	o->handles = kunit_kcalloc(test, nr, sizeof(*o->handles), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, o->handles);

	for (i = 0; i < nr_live; i++) {
		live[i] = zst_alloc(pool, size, 0x11110000 + i, scratch);
		ZST_ASSERT_HANDLE(test, live[i], size);
	}
	live_pages = zs_get_total_pages(pool);

	/*
	 * The enqueue that fills the buffer queues the drain on an unbound
	 * worker; if that worker swaps the buffer on another CPU before the
	 * last M enqueues, some of them are accepted instead of overflowing.
	 * Retry a few times for a clean run; the accounting must hold anyway.
	 */
	for (attempt = 1; attempt <= 3; attempt++) {
		for (i = 0; i < nr; i++) {
			o->handles[i] = zst_alloc(pool, size, i, scratch);
			ZST_ASSERT_HANDLE(test, o->handles[i], size);
		}
		zs_free_deferred_flush(pool);
		zst_stats(pool, &s0);
		init_completion(&o->done);
		t = zst_start_kthread(test, zst_enqueue_thread, o,
				      cpumask_first(cpu_online_mask), "zst_ovf/%u");
		wait_for_completion(&o->done);
		kunit_release_action(test, zst_kthread_stop_action, t);
		zs_free_deferred_flush(pool);
		zst_stats(pool, &s1);

		enq = s1.enqueued - s0.enqueued;
		ovf = s1.overflow - s0.overflow;
		KUNIT_EXPECT_EQ_MSG(test, enq + ovf, (u64)nr,
				    "attempt %u: enqueued %llu + overflow %llu: expected %u calls found %llu",
				    attempt, enq, ovf, nr, enq + ovf);
		KUNIT_EXPECT_EQ_MSG(test, s1.drained - s0.drained, enq,
				    "attempt %u: drained expected %llu (= enqueued) found %llu",
				    attempt, enq, s1.drained - s0.drained);
		KUNIT_EXPECT_EQ_MSG(test, s1.pending, 0ULL,
				    "pending after flush: expected 0 found %llu", s1.pending);
		if (enq == cap)
			break;
		kunit_info(test, "attempt %u: drain worker swapped the buffer mid-run (enqueued %llu, capacity %u), retrying\n",
			   attempt, enq, cap);
	}
	if (enq == cap)
		KUNIT_EXPECT_EQ_MSG(test, ovf, (u64)extra,
				    "overflow: expected +%u (capacity %u + %u queued) found +%llu",
				    extra, cap, extra, ovf);
	else
		kunit_info(test, "no clean run in 3 attempts: only the accounting was checked\n");

	zs_flush_migration(pool);
	KUNIT_EXPECT_EQ_MSG(test, zs_get_total_pages(pool), live_pages,
			    "pool pages with only the %u live objects: expected %lu found %lu",
			    nr_live, live_pages, zs_get_total_pages(pool));
	for (i = 0; i < nr_live; i++) {
		ZST_EXPECT_INTACT(test, pool, live[i], size, 0x11110000 + i, scratch,
				  "live object after overflow");
		zs_free(pool, live[i]);
	}
	zst_finish_pool(test, pool);
#else
	ZST_NEED_DEFERRED(test);
#endif
}

/*
 * Objects freed with zs_free_deferred() and the pool destroyed right
 * away: zs_destroy_pool() must flush first, so no zspage is leaked
 * (NR_ZSPAGES back to its value before the pool existed) and no
 * "Class-N fullness group M is not empty" error is printed (the suite's
 * console watcher fails the case on it). Catches: destroy without flush,
 * a flush that skips other CPUs' buffers.
 */
static void test_deferred_flush_on_destroy(struct kunit *test)
{
#ifdef ZST_REFERENCE_API
	static const size_t sizes[] = { 48, 700, 3000 };
	const int n = 240;
	struct zs_deferred_stats st;
	unsigned long base, *handles;
	struct zs_pool *pool;
	u8 *scratch;
	int i;

	scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	handles = kunit_kcalloc(test, n, sizeof(*handles), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, scratch);
	ZST_ASSERT_ALLOC(test, handles);

	base = zst_nr_zspages();
	pool = zst_create_pool(test);
	for (i = 0; i < n; i++) {
		handles[i] = zst_alloc(pool, sizes[i % ARRAY_SIZE(sizes)], i, scratch);
		ZST_ASSERT_HANDLE(test, handles[i], sizes[i % ARRAY_SIZE(sizes)]);
	}
	KUNIT_ASSERT_GT_MSG(test, zst_nr_zspages(), base,
			    "NR_ZSPAGES with %d objects: expected > %lu found %lu",
			    n, base, zst_nr_zspages());

	/* a slice from every online CPU: each one's buffer holds some */
	zst_enqueue_on_each_cpu(test, pool, handles, n);
	zst_stats(pool, &st);
	kunit_info(test, "at destroy: pending %llu, pool %lu pages\n",
		   st.pending, zs_get_total_pages(pool));
	if (!st.pending)
		kunit_info(test, "nothing pending at destroy: flush not exercised\n");

	kunit_release_action(test, zst_pool_destroy_action, pool);

	KUNIT_EXPECT_EQ_MSG(test, zst_nr_zspages(), base,
			    "NR_ZSPAGES after destroy: expected %lu (before the pool) found %lu",
			    base, zst_nr_zspages());
#else
	ZST_NEED_DEFERRED(test);
#endif
}

#ifdef ZST_REFERENCE_API
/* buffer entries of the stream case's pool: a take every few frees */
#define ZST_STREAM_CAP	16U

struct zst_stream {
	struct zs_pool *pool;
	unsigned long deadline;
	unsigned long nr;
	bool alloc_failed;
	struct zst_thread th;
};

/* The owner: allocates and defer-frees one object at a time until the deadline. */
static int zst_stream_thread(void *data)
{
	struct zst_stream *s = container_of(data, struct zst_stream, th);
	unsigned long h;

	while (time_before(jiffies, s->deadline)) {
		h = zs_malloc(s->pool, 32 + (s->nr & 255), GFP_KERNEL, NUMA_NO_NODE);
		if (IS_ERR_VALUE(h)) {
			s->alloc_failed = true;
			break;
		}
		zs_free_deferred(s->pool, h);
		if (!(++s->nr & 63))
			cond_resched();
	}
	return zst_thread_done(&s->th);
}
#endif

/*
 * The one place where a buffer's owner and a drainer touch it at once:
 * an owner kthread pinned to a CPU allocates and zs_free_deferred()s
 * objects for kunit_race_ms; each time its buffer fills, the unbound
 * drain worker (normally on the other CPU) takes it while the owner keeps
 * enqueuing or overflowing. The pool's buffers are cut to ZST_STREAM_CAP
 * entries, so takes happen thousands of times instead of once per 2048
 * frees. Every handle must be freed exactly once: enqueued + overflow ==
 * frees, drained == enqueued, the pool empty. Catches the seed's ordering
 * bug (count reset published before the new buffer pointer, plain
 * accesses instead of release/acquire): under KCSAN
 * (configs/zsmalloc-kcsan.config) as a data-race report, which the
 * suite's console watcher turns into a failure; without KCSAN only when a
 * lost or doubled handle shows.
 */
static void test_deferred_enqueue_vs_drain(struct kunit *test)
{
#ifdef ZST_REFERENCE_API
	struct zs_deferred_stats s0, s1;
	struct zst_stream *s;
	struct zs_pool *pool;
	u64 enq, ovf, drained;
	unsigned int cap;

	if (num_online_cpus() < 2)
		kunit_skip(test, "needs 2 online CPUs: the owner and the drain worker run at once");
	pool = zst_create_pool(test);
	cap = zs_free_deferred_capacity(pool);
	KUNIT_ASSERT_GT_MSG(test, cap, 0U,
			    "per-cpu buffer capacity: expected > 0 found %u", cap);
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED_CAPACITY_FIELD
	/* nothing is queued yet: the shorter buffer is a prefix of the allocated one */
	pool->deferred_capacity = min(cap, ZST_STREAM_CAP);
	cap = zs_free_deferred_capacity(pool);
#endif
	s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, s);
	s->pool = pool;
	zst_stats(pool, &s0);
	s->deadline = jiffies + msecs_to_jiffies(kunit_race_ms);
	/* one owner, on the first online CPU */
	zst_threads_start(test, &s->th, sizeof(*s), 1, zst_stream_thread, "zst_stream/%u");
	zst_threads_stop(test, &s->th, sizeof(*s), 1, NULL, NULL);
	zs_free_deferred_flush(pool);
	zst_stats(pool, &s1);
	enq = s1.enqueued - s0.enqueued;
	ovf = s1.overflow - s0.overflow;
	drained = s1.drained - s0.drained;
	kunit_info(test, "%lu frees in %u ms, capacity %u: enqueued %llu, overflow %llu, drained %llu, batches %llu\n",
		   s->nr, kunit_race_ms, cap, enq, ovf, drained,
		   s1.batches - s0.batches);
	KUNIT_ASSERT_FALSE_MSG(test, s->alloc_failed,
			       "test setup: zs_malloc failed after %lu objects", s->nr);
	KUNIT_EXPECT_EQ_MSG(test, enq + ovf, (u64)s->nr,
			    "enqueued + overflow: expected %lu (every free) found %llu",
			    s->nr, enq + ovf);
	KUNIT_EXPECT_EQ_MSG(test, drained, enq,
			    "drained: expected %llu (= enqueued) found %llu", enq, drained);
	KUNIT_EXPECT_EQ_MSG(test, s1.pending, 0ULL,
			    "pending after flush: expected 0 found %llu", s1.pending);
	KUNIT_EXPECT_GT_MSG(test, enq, 2ULL * cap,
			    "enqueued: expected more than two buffers (%u) found %llu: no take raced the owner",
			    2 * cap, enq);
	zst_finish_pool(test, pool);
#else
	ZST_NEED_DEFERRED(test);
#endif
}
