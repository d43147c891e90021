/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zsmalloc KUnit suite (zsgate): the kernel-log watcher and the helpers
 * every layer shares (pools, patterned objects, accounting with
 * deadlines, kthreads, page migration the way mm/migrate.c does it).
 * Included by zsmalloc_kunit.c; not built on its own.
 */

/* ------------------------------------------------------------------ */
/* Kernel log watcher: zsmalloc errors, WARNING and BUG lines fail a case */

#define ZST_LOG_LINE	160

static atomic_t zst_log_armed;
static atomic_t zst_log_hits;
static atomic_t zst_log_saved;
static char zst_log_first[ZST_LOG_LINE];

/*
 * The patterns are zsgate's one list (ci/zsgate/splat.py), generated into
 * zsmalloc_kunit_splat.h. A KCSAN data-race report (ZST_KCSAN_REPORT) is
 * not a splat here: it may name any part of the kernel (a watchdog, a
 * driver) that raced while a case ran. The pipeline judges the reports of
 * a KCSAN kernel (ci/kunit --kcsan, ci/summary), counting those in
 * zsmalloc, zram, zswap and this suite.
 */
static bool zst_log_is_splat(const char *s, unsigned int n)
{
	int i;

	if (strnstr(s, ZST_KCSAN_REPORT, n))
		return false;
	for (i = 0; i < ARRAY_SIZE(zst_splats); i++)
		if (strnstr(s, zst_splats[i], n))
			return true;
	return false;
}

static void zst_console_write(struct console *con, const char *s,
			      unsigned int n)
{
	if (!atomic_read(&zst_log_armed) || !zst_log_is_splat(s, n))
		return;
	atomic_inc(&zst_log_hits);
	if (atomic_cmpxchg(&zst_log_saved, 0, 1) == 0)
		strscpy(zst_log_first, s, min_t(unsigned int, n + 1,
						sizeof(zst_log_first)));
}

static struct console zst_console = {
	.name	= "zstest",
	.write	= zst_console_write,
	.flags	= CON_ENABLED,
	.index	= 0,
};

static int zst_suite_init(struct kunit_suite *suite)
{
	register_console(&zst_console);
	return 0;
}

static void zst_suite_exit(struct kunit_suite *suite)
{
	unregister_console(&zst_console);
}

static int zst_case_init(struct kunit *test)
{
	/*
	 * KTAP names a case only when it ends: this line names the case
	 * running when the kernel crashes or hangs (ci/zsgate/bounded.py).
	 */
	kunit_info(test, "zsgate: case start\n");
	atomic_set(&zst_log_hits, 0);
	atomic_set(&zst_log_saved, 0);
	zst_log_first[0] = '\0';
	atomic_set(&zst_log_armed, 1);
	return 0;
}

static void zst_case_exit(struct kunit *test)
{
	/* push every record printed so far through the consoles */
	console_lock();
	console_unlock();
	atomic_set(&zst_log_armed, 0);
	if (atomic_read(&zst_log_hits))
		KUNIT_FAIL(test,
			   "kernel log: expected no zsmalloc error/WARNING/BUG line, found %d, first: %s",
			   atomic_read(&zst_log_hits), zst_log_first);
}

/* ------------------------------------------------------------------ */
/* Shared helpers */

static atomic_t zst_pool_seq = ATOMIC_INIT(0);

static void zst_pool_destroy_action(void *pool)
{
	zs_destroy_pool(pool);
}

/* A private pool, destroyed by the test's cleanup if the case aborts. */
static struct zs_pool *zst_create_pool(struct kunit *test)
{
	struct zs_pool *pool;
	char name[32];

	snprintf(name, sizeof(name), "kunit-%d",
		 atomic_inc_return(&zst_pool_seq));
	pool = zs_create_pool(name);
	KUNIT_ASSERT_NOT_NULL_MSG(test, pool, "zs_create_pool(%s) failed", name);
	KUNIT_ASSERT_EQ_MSG(test, 0,
			    kunit_add_action_or_reset(test, zst_pool_destroy_action, pool),
			    "test setup: registering the pool cleanup: expected 0");
	return pool;
}

#define ZST_ASSERT_ALLOC(test, p)					\
	KUNIT_ASSERT_NOT_NULL_MSG(test, p,				\
				  "test setup: allocating " #p ": expected memory, found NULL")

#define ZST_ASSERT_HANDLE(test, h, size)				\
	KUNIT_ASSERT_NE_MSG(test, h, 0UL,				\
			    "test setup: zs_malloc(%zu): expected a handle, found none", \
			    (size_t)(size))

/* Bytes an object with @seed holds at offset @i. */
static inline u8 zst_byte(u32 seed, size_t i)
{
	u32 x = seed * 0x9e3779b9u + (u32)i * 0x85ebca6bu;

	return (x >> 24) ^ x;
}

static unsigned long zst_alloc(struct zs_pool *pool, size_t size, u32 seed,
			       u8 *scratch)
{
	unsigned long handle;
	size_t i;

	handle = zs_malloc(pool, size, GFP_KERNEL, NUMA_NO_NODE);
	if (IS_ERR_VALUE(handle))
		return 0;
	for (i = 0; i < size; i++)
		scratch[i] = zst_byte(seed, i);
	zs_obj_write(pool, handle, scratch, size);
	return handle;
}

/* Returns the offset of the first wrong byte, or -1 when intact. */
static long zst_verify(struct zs_pool *pool, unsigned long handle,
		       size_t size, u32 seed, u8 *scratch, u8 *found)
{
	const u8 *p;
	long bad = -1;
	size_t i;

	p = zs_obj_read_begin(pool, handle, size, scratch);
	for (i = 0; i < size; i++) {
		if (p[i] != zst_byte(seed, i)) {
			bad = i;
			*found = p[i];
			break;
		}
	}
	zs_obj_read_end(pool, handle, size, (void *)p);
	return bad;
}

#define ZST_EXPECT_INTACT(test, pool, h, size, seed, scratch, what)	\
	do {								\
		size_t __size = (size);					\
		u32 __seed = (seed);					\
		u8 __found = 0;						\
		long __bad = zst_verify(pool, h, __size, __seed,	\
					scratch, &__found);		\
		KUNIT_EXPECT_EQ_MSG(test, __bad, -1L,			\
			"%s: object seed %u size %zu: byte %ld expected 0x%02x found 0x%02x", \
			what, __seed, __size, __bad,			\
			__bad < 0 ? 0 : zst_byte(__seed, __bad), __found); \
	} while (0)

/* Smallest request size that zs_malloc() puts into size_class[@i]. */
static size_t zst_size_of_index(int i)
{
	long size = 1;

	if (i > 0)
		size = ZS_MIN_ALLOC_SIZE + (long)(i - 1) * ZS_SIZE_CLASS_DELTA + 1 -
		       (long)ZS_HANDLE_SIZE;
	return clamp_t(long, size, 1, ZS_MAX_ALLOC_SIZE);
}

static struct size_class *zst_class_of_size(struct zs_pool *pool, size_t size)
{
	return pool->size_class[zs_lookup_class_index(pool, size)];
}

static unsigned long zst_obj_pfn(unsigned long obj)
{
	return obj >> ZS_OBJ_PFN_SHIFT;
}

static unsigned int zst_obj_idx(unsigned long obj)
{
	struct zpdesc *zpdesc;
	unsigned int obj_idx;

	obj_to_location(obj, &zpdesc, &obj_idx);
	return obj_idx;
}

/*
 * The size class that owns the zspage the obj points to, found through
 * the page (zpdesc->zspage->class), i.e. without trusting the class bits.
 * Returns -1 when the PFN is not a live zsmalloc page.
 */
static int zst_obj_page_class(struct zs_pool *pool, unsigned long obj)
{
	unsigned long pfn = zst_obj_pfn(obj);
	struct zpdesc *zpdesc;
	struct zspage *zspage;

	if (!pfn_valid(pfn) || !PageZsmalloc(pfn_to_page(pfn)))
		return -1;
	zpdesc = pfn_zpdesc(pfn);
	zspage = zpdesc->zspage;
	if (!zspage || zspage->magic != ZSPAGE_MAGIC || zspage->pool != pool)
		return -1;
	return zspage_class(pool, zspage)->index;
}

/* Objects in use, allocated object slots and listed zspages of a pool. */
struct zst_pool_count {
	unsigned long pages, inuse, allocated, listed;
};

static void zst_pool_count(struct zs_pool *pool, struct zst_pool_count *c)
{
	int i, fg;

	memset(c, 0, sizeof(*c));
	zs_flush_migration(pool);
	for (i = 0; i < ZS_SIZE_CLASSES; i++) {
		struct size_class *class = pool->size_class[i];

		if (class->index != i)
			continue;
		spin_lock(&class->lock);
		c->inuse += class_stat_read(class, ZS_OBJS_INUSE);
		c->allocated += class_stat_read(class, ZS_OBJS_ALLOCATED);
		for (fg = 0; fg < NR_FULLNESS_GROUPS; fg++)
			c->listed += list_count_nodes(&class->fullness_list[fg]);
		spin_unlock(&class->lock);
	}
	c->pages = zs_get_total_pages(pool);
}

static unsigned long __maybe_unused zst_objs_inuse(struct zs_pool *pool)
{
	struct zst_pool_count c;

	zst_pool_count(pool, &c);
	return c.inuse;
}

/*
 * A revision may return memory asynchronously (deferred handles, deferred
 * zspage freeing, a worker that frees empty zspages): "back to N" is a
 * wait with a deadline, never an assertion at once. Polls @done until it
 * holds or ZST_DEADLINE_MS pass; returns the milliseconds waited, or -1
 * at the deadline.
 */
#define ZST_DEADLINE_MS	10000

#define zst_wait_for(done)						\
	({								\
		unsigned long __t0 = jiffies;				\
		long __waited = -1;					\
									\
		for (;;) {						\
			if (done) {					\
				__waited = jiffies_to_msecs(jiffies - __t0); \
				break;					\
			}						\
			if (time_after(jiffies, __t0 +			\
				       msecs_to_jiffies(ZST_DEADLINE_MS))) \
				break;					\
			msleep(20);					\
		}							\
		__waited;						\
	})

static bool zst_pool_is_empty(struct zs_pool *pool, struct zst_pool_count *c)
{
	zst_pool_count(pool, c);
	return !c->pages && !c->inuse && !c->allocated && !c->listed;
}

/* Pages, objects in use, allocated slots and listed zspages drop to 0. */
static void zst_expect_pool_empty(struct kunit *test, struct zs_pool *pool,
				  const char *when)
{
	struct zst_pool_count c;
	long waited = zst_wait_for(zst_pool_is_empty(pool, &c));

	if (waited > 0)
		kunit_info(test, "%s: pool emptied after %ld ms\n", when, waited);
	KUNIT_EXPECT_EQ_MSG(test, c.pages, 0UL,
			    "%s: pool pages expected 0 within %d ms found %lu",
			    when, ZST_DEADLINE_MS, c.pages);
	KUNIT_EXPECT_EQ_MSG(test, c.inuse, 0UL,
			    "%s: objects in use expected 0 within %d ms found %lu",
			    when, ZST_DEADLINE_MS, c.inuse);
	KUNIT_EXPECT_EQ_MSG(test, c.allocated, 0UL,
			    "%s: allocated object slots expected 0 within %d ms found %lu",
			    when, ZST_DEADLINE_MS, c.allocated);
	KUNIT_EXPECT_EQ_MSG(test, c.listed, 0UL,
			    "%s: zspages on fullness lists expected 0 within %d ms found %lu",
			    when, ZST_DEADLINE_MS, c.listed);
}

/*
 * Let every zs_free_deferred() queued on @pool so far take effect: the
 * revision's flush call where it declares one; otherwise nothing, since a
 * revision without a flush must free within ZST_DEADLINE_MS on its own,
 * and the callers' deadline waits judge that.
 */
static void zst_deferred_settle(struct zs_pool *pool)
{
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED_FLUSH
	zs_free_deferred_flush(pool);
#endif
}

/* Check the pool is empty, then destroy it inside the case. */
static void zst_finish_pool(struct kunit *test, struct zs_pool *pool)
{
	if (test->status == KUNIT_FAILURE)
		return;	/* zst_free_set() leaked the pool */
	zst_expect_pool_empty(test, pool, "before zs_destroy_pool");
	kunit_release_action(test, zst_pool_destroy_action, pool);
}

static unsigned long __maybe_unused zst_nr_zspages(void)
{
	struct zone *zone;
	long sum = 0;

	for_each_populated_zone(zone)
		sum += zone_page_state_snapshot(zone, NR_ZSPAGES);
	return sum;
}

static void zst_kthread_stop_action(void *task)
{
	kthread_stop(task);
}

static struct task_struct *zst_start_kthread(struct kunit *test,
					     int (*fn)(void *), void *data,
					     unsigned int cpu, const char *name)
{
	struct task_struct *t;

	t = kthread_run_on_cpu(fn, data, cpu, name);
	KUNIT_ASSERT_NOT_ERR_OR_NULL_MSG(test, t,
					 "test setup: kthread %s on CPU %u: expected a task, found %d",
					 name, cpu, PTR_ERR_OR_ZERO(t));
	KUNIT_ASSERT_EQ_MSG(test, 0,
			    kunit_add_action_or_reset(test, zst_kthread_stop_action, t),
			    "test setup: registering the kthread cleanup: expected 0");
	return t;
}

/*
 * Per-CPU test kthreads: each thread's struct embeds a struct zst_thread;
 * the threads of a case are an array of those structs, @stride bytes
 * apart. zst_threads_start() fills the zst_thread in and passes it to the
 * thread function (container_of() gets its struct), the thread ends with
 * zst_thread_done(), zst_threads_stop() waits for that and stops it.
 */
struct zst_thread {
	struct task_struct *task;
	unsigned int cpu;
	struct completion done;
};

static struct zst_thread *__maybe_unused zst_thread_nr(struct zst_thread *first,
					size_t stride, unsigned int k)
{
	return (void *)first + k * stride;
}

/*
 * Start @fn on the first @nr online CPUs (fewer when fewer are online),
 * one kthread each, thread k with the k-th zst_thread from @first, its
 * cpu set. Returns how many run.
 */
static unsigned int __maybe_unused
zst_threads_start(struct kunit *test, struct zst_thread *first, size_t stride,
		  unsigned int nr, int (*fn)(void *), const char *name)
{
	unsigned int cpu, k = 0;

	for_each_online_cpu(cpu) {
		struct zst_thread *th = zst_thread_nr(first, stride, k);

		if (k == nr)
			break;
		th->cpu = cpu;
		init_completion(&th->done);
		th->task = zst_start_kthread(test, fn, th, cpu, name);
		k++;
	}
	return k;
}

/*
 * The end of a thread's work: tell the test, then wait for kthread_stop()
 * (the task must live until the test stops it). Returns 0 for the thread.
 */
static int __maybe_unused zst_thread_done(struct zst_thread *th)
{
	complete(&th->done);
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ / 50);
	return 0;
}

/*
 * Wait until the first @n threads from @first are done, calling
 * @wait(@arg) every 100 ms meanwhile when given, and stop each as soon as
 * it is.
 */
static void __maybe_unused
zst_threads_stop(struct kunit *test, struct zst_thread *first, size_t stride,
		 unsigned int n, void (*wait)(void *), void *arg)
{
	unsigned int k;

	for (k = 0; k < n; k++) {
		struct zst_thread *th = zst_thread_nr(first, stride, k);

		if (!wait)
			wait_for_completion(&th->done);
		else
			while (!wait_for_completion_timeout(&th->done, HZ / 10))
				wait(arg);
		kunit_release_action(test, zst_kthread_stop_action, th->task);
	}
}

#ifdef CONFIG_COMPACTION
static void zst_putback_page(struct page *page)
{
	/* putback_movable_ops_page() */
	lock_page(page);
	zsmalloc_mops.putback_page(page);
	ClearPageMovableOpsIsolated(page);
	unlock_page(page);
	put_page(page);
}

/*
 * Move one zspage page the way mm/migrate.c moves a movable_ops page:
 * isolate (reference + page lock + ->isolate_page()), then either put it
 * back (@abort) or migrate it to a fresh page with both pages locked;
 * a failed migration is put back. The caller holds its own reference.
 * Returns 0 when moved (*@new_pfn set), -EAGAIN when isolation was
 * refused, -ECANCELED for @abort, else the ->migrate_page() error.
 */
static int zst_migrate_page(struct page *page, bool abort,
			    unsigned long *new_pfn)
{
	struct page *newpage;
	bool isolated;
	int rc;

	get_page(page);
	lock_page(page);
	isolated = page_has_movable_ops(page) &&
		   !PageMovableOpsIsolated(page) &&
		   zsmalloc_mops.isolate_page(page, ISOLATE_UNEVICTABLE);
	if (isolated)
		SetPageMovableOpsIsolated(page);
	unlock_page(page);
	if (!isolated) {
		put_page(page);
		return -EAGAIN;
	}
	if (abort) {
		zst_putback_page(page);
		return -ECANCELED;
	}

	newpage = alloc_page(GFP_KERNEL);
	if (!newpage) {
		zst_putback_page(page);
		return -ENOMEM;
	}
	lock_page(page);
	lock_page(newpage);
	rc = zsmalloc_mops.migrate_page(newpage, page, MIGRATE_SYNC);
	if (!rc) {
		ClearPageMovableOpsIsolated(page);
		if (new_pfn)
			*new_pfn = page_to_pfn(newpage);
	}
	unlock_page(newpage);
	/* on success zsmalloc holds its own reference on newpage */
	put_page(newpage);
	unlock_page(page);
	if (rc)
		zst_putback_page(page);
	else
		put_page(page);	/* the isolation reference */
	return rc;
}

/*
 * Take a reference on up to @max pages of live zspages of @class,
 * starting at fullness group @fg0. Page chains are stable under
 * class->lock (migration replaces pages under it).
 */
static int zst_grab_pages(struct size_class *class, struct page **pages,
			  int max, int fg0)
{
	struct zspage *zspage;
	struct zpdesc *zpdesc;
	int n = 0, k, fg;

	spin_lock(&class->lock);
	for (k = 0; k < NR_FULLNESS_GROUPS && n < max; k++) {
		fg = (fg0 + k) % NR_FULLNESS_GROUPS;
		list_for_each_entry(zspage, &class->fullness_list[fg], list) {
			for (zpdesc = get_first_zpdesc(zspage); zpdesc && n < max;
			     zpdesc = get_next_zpdesc(zpdesc)) {
				pages[n] = zpdesc_page(zpdesc);
				get_page(pages[n++]);
			}
			if (n >= max)
				break;
		}
	}
	spin_unlock(&class->lock);
	return n;
}
#endif /* CONFIG_COMPACTION */

/* A set of live objects with their pattern seed and encoded obj. */
struct zst_obj {
	unsigned long handle;
	unsigned long obj;	/* obj value recorded at some point */
	size_t size;
	u32 seed;
	unsigned int class_idx;	/* canonical class->index for size */
};

static struct zst_obj *zst_alloc_set(struct kunit *test, struct zs_pool *pool,
				     const size_t *sizes, int nr_sizes,
				     int per_size, u8 *scratch)
{
	struct zst_obj *objs;
	int i, n = nr_sizes * per_size;

	objs = kunit_kcalloc(test, n, sizeof(*objs), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, objs);
	for (i = 0; i < n; i++) {
		struct zst_obj *o = &objs[i];

		o->size = sizes[i % nr_sizes];
		o->seed = 0x5a000000u + i;
		o->class_idx = zs_lookup_class_index(pool, o->size);
		o->handle = zst_alloc(pool, o->size, o->seed, scratch);
		ZST_ASSERT_HANDLE(test, o->handle, o->size);
		o->obj = handle_to_obj(o->handle);
	}
	return objs;
}

/*
 * Free a set of objects, unless the case already failed: then the objs
 * may point into the wrong class or page, and freeing them would corrupt
 * the pool and crash the kernel before the report is out. The objects
 * and the pool are leaked instead.
 */
static bool zst_may_free(struct kunit *test, struct zs_pool *pool, int n)
{
	if (test->status != KUNIT_FAILURE)
		return true;
	kunit_info(test, "case failed: leaking %d objects and the pool rather than freeing through a bad obj\n",
		   n);
	kunit_remove_action(test, zst_pool_destroy_action, pool);
	return false;
}

static void zst_free_set(struct kunit *test, struct zs_pool *pool,
			 struct zst_obj *objs, int n)
{
	int i;

	if (!zst_may_free(test, pool, n))
		return;
	for (i = 0; i < n; i++) {
		if (objs[i].handle)
			zs_free(pool, objs[i].handle);
		objs[i].handle = 0;
	}
}
