/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KUnit contract cases for the callback-ops shape of deferred free (RFC v3,
 * 2026-05-08): struct zs_deferred_ops { push, drain } registered with
 * zs_pool_enable_deferred_free(), values queued with zs_free_deferred().
 *
 * Included by zsmalloc_kunit.c (itself included at the end of
 * mm/zsmalloc.c), after its helpers. The cases use only the declared ops
 * API, zs_malloc()/zs_free()/zs_destroy_pool() and zsmalloc's accounting;
 * they skip unless the glue defines ZSMALLOC_KUNIT_HAVE_DEFERRED_OPS
 * (include/linux/zsmalloc.h declares struct zs_deferred_ops and
 * zs_pool_enable_deferred_free()).
 *
 * The contract judged: every value given to zs_free_deferred() is either
 * queued, and then handed to drain() exactly once within
 * ZST_OPS_DEADLINE_MS without any further call, or not queued (the return
 * value says so: no free buffer page), and then processed by the caller,
 * exactly once. zs_destroy_pool() drains what is still queued first.
 */

#define ZST_OPS_MISSING \
	"struct zs_deferred_ops / zs_pool_enable_deferred_free() not declared by this revision"

#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED_OPS

#define ZST_OPS_DEADLINE_MS	10000
#define ZST_OPS_PER_BUF		(PAGE_SIZE / sizeof(unsigned long))
/* every ZST_OPS_HANDLE_EVERY-th value carries an object freed with it */
#define ZST_OPS_HANDLE_EVERY	8

struct zst_ops_ctx {
	struct zs_pool *pool;
	unsigned long nr;		/* values 0 .. nr - 1 */
	unsigned long *seen;		/* bitmap: value processed */
	unsigned long *handles;		/* object to free with a value, or 0 */
	atomic_long_t nr_drained;	/* by drain() */
	atomic_long_t nr_synced;	/* by the caller, not queued */
	atomic_long_t nr_twice;		/* processed a second time */
	atomic_long_t nr_bad;		/* drain() got a value never pushed */
	atomic_long_t nr_drain_calls;
};

/* Processes @value once: records it and frees the object it carries. */
static void zst_ops_process(struct zst_ops_ctx *c, unsigned long value,
			    atomic_long_t *counter)
{
	if (value >= c->nr) {
		atomic_long_inc(&c->nr_bad);
		return;
	}
	if (test_and_set_bit(value, c->seen)) {
		atomic_long_inc(&c->nr_twice);
		return;
	}
	if (c->handles[value])
		zs_free(c->pool, c->handles[value]);
	atomic_long_inc(counter);
}

/* Stores values as unsigned longs; says ZS_PUSH_FULL when out of room. */
static enum zs_push_ret zst_ops_push(void *buf, unsigned int count,
				     unsigned long value)
{
	unsigned long *v = buf;

	if (count >= ZST_OPS_PER_BUF)
		return ZS_PUSH_FULL;
	v[count] = value;
	return ZS_PUSH_OK;
}

static void zst_ops_drain(void *private, void *buf, unsigned int count)
{
	struct zst_ops_ctx *c = private;
	unsigned long *v = buf;
	unsigned int i;

	atomic_long_inc(&c->nr_drain_calls);
	if (count > ZST_OPS_PER_BUF) {
		atomic_long_add(count, &c->nr_bad);
		count = ZST_OPS_PER_BUF;
	}
	for (i = 0; i < count; i++)
		zst_ops_process(c, v[i], &c->nr_drained);
}

static const struct zs_deferred_ops zst_ops = {
	.push	= zst_ops_push,
	.drain	= zst_ops_drain,
};

static void zst_kvfree_action(void *p)
{
	kvfree(p);
}

/*
 * A pool with deferred free enabled and @n values; the value i carries
 * an object when i % ZST_OPS_HANDLE_EVERY == 0. The context outlives the
 * pool (test resources are released in reverse order), so a drain() that
 * runs inside the pool's cleanup still finds it.
 */
static struct zst_ops_ctx *zst_ops_setup(struct kunit *test, unsigned long n)
{
	struct zst_ops_ctx *c;
	unsigned long i;
	size_t size;
	u8 *scratch;
	int ret;

	c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);
	scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, c);
	ZST_ASSERT_ALLOC(test, scratch);
	c->nr = n;
	c->seen = kunit_kcalloc(test, BITS_TO_LONGS(n), sizeof(long),
				GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, c->seen);
	c->handles = kvcalloc(n, sizeof(*c->handles), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, c->handles);
	ret = kunit_add_action_or_reset(test, zst_kvfree_action, c->handles);
	KUNIT_ASSERT_EQ_MSG(test, ret, 0,
			    "test setup: registering the handles cleanup: expected 0 found %d",
			    ret);

	c->pool = zst_create_pool(test);
	for (i = 0; i < n; i += ZST_OPS_HANDLE_EVERY) {
		size = 48 + (i / ZST_OPS_HANDLE_EVERY % 5) * 200;
		c->handles[i] = zst_alloc(c->pool, size, i, scratch);
		ZST_ASSERT_HANDLE(test, c->handles[i], size);
		if (!(i % 4096))
			cond_resched();
	}

	ret = zs_pool_enable_deferred_free(c->pool, &zst_ops, c);
	KUNIT_ASSERT_EQ_MSG(test, ret, 0,
			    "zs_pool_enable_deferred_free(): expected 0 found %d",
			    ret);
	return c;
}

static unsigned long zst_ops_done(struct zst_ops_ctx *c)
{
	return atomic_long_read(&c->nr_drained) +
	       atomic_long_read(&c->nr_synced);
}

struct zst_ops_pusher {
	struct zst_ops_ctx *c;
	unsigned long from, to;
	struct completion *go;
	struct completion done;
};

/* Pushes values [from, to); processes those zs_free_deferred() refused. */
static int zst_ops_push_thread(void *data)
{
	struct zst_ops_pusher *p = data;
	unsigned long v;
	bool queued;

	while (!wait_for_completion_timeout(p->go, HZ / 50))
		if (kthread_should_stop())
			return 0;	/* the case failed before the start */
	for (v = p->from; v < p->to; v++) {
		__auto_type ret = zs_free_deferred(p->c->pool, v);

		/*
		 * Whether the value was queued: a bool says true, an int
		 * 0, an enum zs_push_ret anything but ZS_PUSH_FULL.
		 */
		if (__builtin_types_compatible_p(typeof(ret), bool))
			queued = ret;
		else if (__builtin_types_compatible_p(typeof(ret), int))
			queued = !ret;
		else
			queued = ret != ZS_PUSH_FULL;
		if (!queued)
			zst_ops_process(p->c, v, &p->c->nr_synced);
		if (!(v % 1024))
			cond_resched();
	}
	complete(&p->done);
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ / 50);
	return 0;
}

/*
 * Pushes all values from @nr_cpus online CPUs (1: the first one), all
 * started together, so the pushes take as little time as they can.
 */
static void zst_ops_push_all(struct kunit *test, struct zst_ops_ctx *c,
			     unsigned int nr_cpus)
{
	struct zst_ops_pusher *p;
	struct task_struct **t;
	struct completion *go;
	unsigned int cpu, k = 0;

	p = kunit_kcalloc(test, nr_cpus, sizeof(*p), GFP_KERNEL);
	t = kunit_kcalloc(test, nr_cpus, sizeof(*t), GFP_KERNEL);
	go = kunit_kzalloc(test, sizeof(*go), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, p);
	ZST_ASSERT_ALLOC(test, t);
	ZST_ASSERT_ALLOC(test, go);
	init_completion(go);
	for_each_online_cpu(cpu) {
		if (k == nr_cpus)
			break;
		p[k].c = c;
		p[k].from = c->nr * k / nr_cpus;
		p[k].to = c->nr * (k + 1) / nr_cpus;
		p[k].go = go;
		init_completion(&p[k].done);
		t[k] = zst_start_kthread(test, zst_ops_push_thread, &p[k], cpu,
					 "zst_ops/%u");
		k++;
	}
	complete_all(go);
	KUNIT_ASSERT_EQ_MSG(test, k, nr_cpus,
			    "test setup: pushing CPUs: expected %u found %u",
			    nr_cpus, k);
	for (k = 0; k < nr_cpus; k++) {
		wait_for_completion(&p[k].done);
		kunit_release_action(test, zst_kthread_stop_action, t[k]);
	}
}

/* Every value processed exactly once, none unknown; @when names the moment. */
static void zst_ops_expect_once(struct kunit *test, struct zst_ops_ctx *c,
				const char *when)
{
	unsigned long done = zst_ops_done(c);

	KUNIT_EXPECT_EQ_MSG(test, done, c->nr,
			    "%s: values processed: expected %lu found %lu (drained %ld, by the caller %ld), first missing %lu",
			    when, c->nr, done, atomic_long_read(&c->nr_drained),
			    atomic_long_read(&c->nr_synced),
			    find_first_zero_bit(c->seen, c->nr));
	KUNIT_EXPECT_EQ_MSG(test, atomic_long_read(&c->nr_twice), 0L,
			    "%s: values processed twice: expected 0 found %ld",
			    when, atomic_long_read(&c->nr_twice));
	KUNIT_EXPECT_EQ_MSG(test, atomic_long_read(&c->nr_bad), 0L,
			    "%s: values drain() got that were never pushed: expected 0 found %ld",
			    when, atomic_long_read(&c->nr_bad));
}

static void zst_ops_drained_once(struct kunit *test, unsigned long n,
				 unsigned int nr_cpus)
{
	unsigned long start, deadline, done, pages;
	struct zst_ops_ctx *c;
	char when[64];

	c = zst_ops_setup(test, n);
	start = jiffies;
	zst_ops_push_all(test, c, nr_cpus);

	/* no further call: drain() must get the rest by itself */
	deadline = start + msecs_to_jiffies(ZST_OPS_DEADLINE_MS);
	while (zst_ops_done(c) < n && time_before(jiffies, deadline))
		msleep(20);
	while (zs_get_total_pages(c->pool) && time_before(jiffies, deadline))
		msleep(20);

	snprintf(when, sizeof(when), "%lu values from %u CPU(s), deadline %u ms",
		 n, nr_cpus, ZST_OPS_DEADLINE_MS);
	zst_ops_expect_once(test, c, when);
	KUNIT_EXPECT_GT_MSG(test, atomic_long_read(&c->nr_drained), 0L,
			    "%s: values queued and drained: expected > 0 found 0 (deferral never happened)",
			    when);
	pages = zs_get_total_pages(c->pool);
	KUNIT_EXPECT_EQ_MSG(test, pages, 0UL,
			    "%s: pool pages (every object freed by its value): expected 0 found %lu",
			    when, pages);
	kunit_info(test, "%s: drained %ld in %ld drain() calls, by the caller %ld, done after %u ms\n",
		   when, atomic_long_read(&c->nr_drained),
		   atomic_long_read(&c->nr_drain_calls),
		   atomic_long_read(&c->nr_synced),
		   jiffies_to_msecs(jiffies - start));

	/* destroying the pool must not hand anything out again */
	done = zst_ops_done(c);
	kunit_release_action(test, zst_pool_destroy_action, c->pool);
	KUNIT_EXPECT_EQ_MSG(test, zst_ops_done(c), done,
			    "%s: values processed after zs_destroy_pool(): expected %lu found %lu",
			    when, done, zst_ops_done(c));
	KUNIT_EXPECT_EQ_MSG(test, atomic_long_read(&c->nr_twice), 0L,
			    "%s: values processed twice after zs_destroy_pool(): expected 0 found %ld",
			    when, atomic_long_read(&c->nr_twice));
}
#endif /* ZSMALLOC_KUNIT_HAVE_DEFERRED_OPS */

/*
 * Values pushed with zs_free_deferred() through test ops (push stores the
 * value, drain records it in a bitmap and frees the object it carries),
 * 100 times a buffer's worth, from one CPU and then from every online CPU
 * at once. Within 10 s and with no further call, every value has been
 * drained exactly once, or processed exactly once by the pusher where
 * zs_free_deferred() did not queue it; some were queued; the pool is
 * empty. Catches: a value lost at a buffer swap or a partial buffer never
 * drained, a buffer drained twice or with a wrong count, a drain that
 * skips the last value.
 */
static void test_contract_ops_drained_once(struct kunit *test)
{
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED_OPS
	unsigned long n = 100 * ZST_OPS_PER_BUF;

	zst_ops_drained_once(test, n, 1);
	if (num_online_cpus() > 1)
		zst_ops_drained_once(test, n, num_online_cpus());
	else
		kunit_info(test, "one online CPU: the all-CPU pass is the one-CPU pass\n");
#else
	kunit_skip(test, ZST_OPS_MISSING);
#endif
}

/*
 * Values pushed from every online CPU (one and a half buffers each, so
 * each CPU has a full buffer queued and a partial one), then
 * zs_destroy_pool() at once: when it returns, every value has been
 * processed exactly once (drained, or by the pusher), and NR_ZSPAGES is
 * back to its value before the pool (deadline). Catches: destroy that
 * frees the buffers without draining them, a drain that misses other CPUs'
 * partial buffers, a drain after the pool is gone.
 */
static void test_contract_ops_destroy_pending(struct kunit *test)
{
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED_OPS
	unsigned int nr_cpus = num_online_cpus();
	unsigned long n = nr_cpus * ZST_OPS_PER_BUF * 3 / 2;
	unsigned long base, deadline, pending, zspages;
	struct zst_ops_ctx *c;

	base = zst_nr_zspages();
	c = zst_ops_setup(test, n);
	KUNIT_ASSERT_GT_MSG(test, zst_nr_zspages(), base,
			    "NR_ZSPAGES with %lu objects: expected > %lu found %lu",
			    DIV_ROUND_UP(n, ZST_OPS_HANDLE_EVERY), base,
			    zst_nr_zspages());

	zst_ops_push_all(test, c, nr_cpus);
	pending = n - zst_ops_done(c);
	kunit_info(test, "%lu values from %u CPUs, %lu not processed yet at zs_destroy_pool()\n",
		   n, nr_cpus, pending);
	if (!pending)
		kunit_info(test, "nothing pending at destroy: the drain on destroy was not exercised\n");

	kunit_release_action(test, zst_pool_destroy_action, c->pool);
	zst_ops_expect_once(test, c, "when zs_destroy_pool() returned");

	deadline = jiffies + msecs_to_jiffies(ZST_OPS_DEADLINE_MS);
	while (zst_nr_zspages() != base && time_before(jiffies, deadline))
		msleep(20);
	zspages = zst_nr_zspages();
	KUNIT_EXPECT_EQ_MSG(test, zspages, base,
			    "NR_ZSPAGES after destroy: expected %lu (before the pool) found %lu",
			    base, zspages);
#else
	kunit_skip(test, ZST_OPS_MISSING);
#endif
}
