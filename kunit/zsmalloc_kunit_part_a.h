/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zsmalloc KUnit suite (zsgate), Part A layer: class_idx encoded in the
 * obj value (Linux 7.3), page migration and compaction keeping it, and
 * zs_free() racing both. On a kernel without Part A (7.2) the encoding
 * and fallback-lookup cases SKIP with the reason; the migration,
 * compaction and race cases run there too (PFN, obj_idx, data).
 * Included by zsmalloc_kunit.c; not built on its own.
 */

/* ------------------------------------------------------------------ */
/* Part A: encoding of (PFN, class_idx, obj_idx) in obj */

#define ZST_NO_CLASS_BITS						\
	"ZS_OBJ_CLASS_BITS is 0 on this arch (UML or 32-bit: obj has no spare bits); " \
	"class_idx is not encoded, lookup_fallback_after_migration covers this kernel"

#define ZST_NO_PART_A							\
	"Part A is not in this kernel (mm/zsmalloc.c has no ZS_OBJ_CLASS_BITS / " \
	"class_idx in location_to_obj()): a pre-Part-A base, e.g. 7.2"

#ifdef ZSMALLOC_KUNIT_HAVE_PART_A
#define ZST_NEED_CLASS_BITS(test)					\
	do {								\
		if (ZS_OBJ_CLASS_BITS == 0)				\
			kunit_skip(test, ZST_NO_CLASS_BITS);		\
	} while (0)
#else
#define ZST_NEED_CLASS_BITS(test)	kunit_skip(test, ZST_NO_PART_A)
#endif

struct zst_enc_case {
	const char *desc;
	unsigned long pfn;
	unsigned long obj_idx;
};

/*
 * Extremes of both neighbouring fields; every row is run with every
 * value the class field can hold (0 .. ZS_OBJ_CLASS_MASK).
 */
static const struct zst_enc_case zst_enc_cases[] = {
	{ "pfn 0 (low end), obj_idx 0", 0, 0 },
	{ "pfn 0 (low end), obj_idx field max", 0, ZS_OBJ_IDX_MASK },
	{ "pfn field max (high end), obj_idx 0", ZST_PFN_MAX, 0 },
	{ "pfn field max, obj_idx field max", ZST_PFN_MAX, ZS_OBJ_IDX_MASK },
	{ "pfn 1, obj_idx 1", 1, 1 },
	{ "pfn 0x55.., obj_idx 0xaa..",
	  ZST_PFN_MAX & ZST_BITS_01, ZS_OBJ_IDX_MASK & ZST_BITS_10 },
	{ "pfn 0xaa.., obj_idx 0x55..",
	  ZST_PFN_MAX & ZST_BITS_10, ZS_OBJ_IDX_MASK & ZST_BITS_01 },
};

static void zst_enc_desc(const struct zst_enc_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE,
		 "%s, class_idx 0..%lu", c->desc, ZS_OBJ_CLASS_MASK);
}

KUNIT_ARRAY_PARAM(zst_enc, zst_enc_cases, zst_enc_desc);

/*
 * location_to_obj() -> obj_to_location()/obj_to_class_idx() gives back
 * every field unchanged, and obj is exactly PFN | class_idx | obj_idx at
 * the documented shifts. Catches: a class mask one bit short (classes
 * >= 256 alias), class bits shifted into obj_idx or PFN (field bleed), a
 * PFN field truncated at the high end.
 */
static void test_encoding_roundtrip(struct kunit *test)
{
#ifdef ZSMALLOC_KUNIT_HAVE_PART_A
	const struct zst_enc_case *c = test->param_value;
	unsigned long cls, bad = 0;

	ZST_NEED_CLASS_BITS(test);
	if (!IS_ENABLED(CONFIG_SPARSEMEM_VMEMMAP) && !IS_ENABLED(CONFIG_FLATMEM))
		kunit_skip(test,
			   "synthetic PFNs need arithmetic pfn_to_page (SPARSEMEM_VMEMMAP or FLATMEM)");

	KUNIT_ASSERT_EQ_MSG(test, _PFN_BITS + ZS_OBJ_CLASS_BITS + ZS_OBJ_IDX_BITS,
			    BITS_PER_LONG,
			    "field widths pfn %d + class %d + idx %d: expected %d bits found %d",
			    _PFN_BITS, ZS_OBJ_CLASS_BITS, ZS_OBJ_IDX_BITS, BITS_PER_LONG,
			    _PFN_BITS + ZS_OBJ_CLASS_BITS + ZS_OBJ_IDX_BITS);
	KUNIT_ASSERT_GE_MSG(test, ZS_OBJ_CLASS_MASK, (unsigned long)ZS_SIZE_CLASSES - 1,
			    "class field max expected >= %lu (last class index) found %lu",
			    (unsigned long)ZS_SIZE_CLASSES - 1, ZS_OBJ_CLASS_MASK);

	for (cls = 0; cls <= ZS_OBJ_CLASS_MASK; cls++) {
		struct zpdesc *zpdesc = pfn_zpdesc(c->pfn);
		unsigned long obj, want, pfn;
		unsigned int idx, got_cls;

		obj = location_to_obj(zpdesc, c->obj_idx, cls);
		want = (c->pfn << ZS_OBJ_PFN_SHIFT) | (cls << ZS_OBJ_IDX_BITS) |
		       c->obj_idx;
		obj_to_location(obj, &zpdesc, &idx);
		pfn = zpdesc_pfn(zpdesc);
		got_cls = obj_to_class_idx(obj);

		KUNIT_EXPECT_EQ_MSG(test, obj, want,
				    "class_idx %lu: obj expected 0x%016lx found 0x%016lx",
				    cls, want, obj);
		KUNIT_EXPECT_EQ_MSG(test, pfn, c->pfn,
				    "class_idx %lu: pfn expected 0x%lx found 0x%lx",
				    cls, c->pfn, pfn);
		KUNIT_EXPECT_EQ_MSG(test, (unsigned long)idx, c->obj_idx,
				    "class_idx %lu: obj_idx expected 0x%lx found 0x%x",
				    cls, c->obj_idx, idx);
		KUNIT_EXPECT_EQ_MSG(test, (unsigned long)got_cls, cls,
				    "class_idx expected %lu found %u", cls, got_cls);
		if (obj != want || pfn != c->pfn || idx != c->obj_idx ||
		    got_cls != cls)
			bad++;
		if (bad >= 4)	/* enough evidence, keep the log short */
			break;
	}
#else
	kunit_skip(test, ZST_NO_PART_A);
#endif
}

struct zst_live_case {
	const char *desc;
	bool fill;	/* fill the first zspage: last object has max obj_idx */
};

static const struct zst_live_case zst_live_cases[] = {
	{ "first object of each class (obj_idx 0), every class index", false },
	{ "fill one zspage per class (obj_idx 0..objs_per_zspage-1)", true },
};

static void zst_live_desc(const struct zst_live_case *c, char *desc)
{
	strscpy(desc, c->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(zst_live, zst_live_cases, zst_live_desc);

/* One live object: class bits == canonical class, page agrees. */
static void zst_check_live_obj(struct kunit *test, struct zs_pool *pool,
			       int index, unsigned long handle,
			       unsigned int want_idx)
{
	struct size_class *class = pool->size_class[index];
	unsigned long obj = handle_to_obj(handle);
	unsigned int cls = obj_to_class_idx(obj);
	unsigned int idx = zst_obj_idx(obj);
	int page_cls = zst_obj_page_class(pool, obj);

	KUNIT_EXPECT_EQ_MSG(test, cls, class->index,
			    "size index %d (size %d%s): class_idx expected %u (canonical) found %u",
			    index, class->size,
			    class->index != index ? ", merged" : "",
			    class->index, cls);
	KUNIT_EXPECT_EQ_MSG(test, page_cls, (int)class->index,
			    "size index %d: zspage of obj's PFN 0x%lx: class expected %u found %d",
			    index, zst_obj_pfn(obj), class->index, page_cls);
	KUNIT_EXPECT_EQ_MSG(test, idx, want_idx,
			    "class %u: obj_idx expected %u found %u",
			    class->index, want_idx, idx);
}

/*
 * Every size class of a live pool, merged ones included: the obj of a
 * fresh allocation carries the canonical class->index (not the index the
 * size maps to), the PFN of a page of that class's zspage, and obj_idx
 * from 0 up to objs_per_zspage - 1. Catches: obj_malloc() encoding the
 * requested index instead of class->index, obj_idx truncated by the
 * class field for dense classes.
 */
static void test_encoding_live_classes(struct kunit *test)
{
	const struct zst_live_case *c = test->param_value;
	struct zs_pool *pool;
	unsigned long *handles;
	unsigned long nr = 0, merged = 0;
	u8 *scratch;
	int i, j, max_objs = 0;

	ZST_NEED_CLASS_BITS(test);
	pool = zst_create_pool(test);
	scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, scratch);

	for (i = 0; i < ZS_SIZE_CLASSES; i++)
		max_objs = max(max_objs, pool->size_class[i]->objs_per_zspage);
	handles = kunit_kcalloc(test, ZS_SIZE_CLASSES * (c->fill ? max_objs : 1),
				sizeof(*handles), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, handles);

	for (i = 0; i < ZS_SIZE_CLASSES; i++) {
		struct size_class *class = pool->size_class[i];
		size_t size = zst_size_of_index(i);
		int n = 1;

		KUNIT_ASSERT_EQ_MSG(test, get_size_class_index(size + ZS_HANDLE_SIZE), i,
				    "test setup: size %zu maps to index %d, expected %d",
				    size, get_size_class_index(size + ZS_HANDLE_SIZE), i);
		if (class->index != i)
			merged++;
		/* fill: once per canonical class, through its lowest index */
		if (c->fill) {
			if (i > 0 && pool->size_class[i - 1] == class)
				continue;
			n = class->objs_per_zspage;
		}
		for (j = 0; j < n; j++) {
			unsigned long h = zst_alloc(pool, size, i * 1000 + j, scratch);

			ZST_ASSERT_HANDLE(test, h, size);
			handles[nr++] = h;
			/* only the first object of a class starts at obj_idx 0 */
			if (c->fill || i == 0 || pool->size_class[i - 1] != class)
				zst_check_live_obj(test, pool, i, h, c->fill ? j : 0);
			else
				KUNIT_EXPECT_EQ_MSG(test, obj_to_class_idx(handle_to_obj(h)),
						    class->index,
						    "merged size index %d: class_idx expected %u found %u",
						    i, class->index,
						    obj_to_class_idx(handle_to_obj(h)));
		}
	}
	kunit_info(test, "%lu objects in %d size indexes (%lu merged)\n",
		   nr, (int)ZS_SIZE_CLASSES, merged);
	if (!zst_may_free(test, pool, nr))
		return;
	for (i = 0; i < nr; i++)
		zs_free(pool, handles[i]);
	zst_finish_pool(test, pool);
}

/* ------------------------------------------------------------------ */
/* Part A: migration and compaction keep class_idx, obj_idx and data */

static const size_t zst_mig_sizes[] = { 40, 200, 1000, 3000, PAGE_SIZE };

#ifdef CONFIG_COMPACTION
/*
 * Migrate every page of every zspage holding @objs; returns the number
 * of pages moved. The first page is also isolated and put back once
 * (migration aborted), which must change nothing.
 */
static int zst_migrate_all(struct kunit *test, struct zs_pool *pool,
			   struct zst_obj *objs, int n)
{
	struct page **pages;
	unsigned int *done;
	int i, k, nr, moved = 0;

	pages = kunit_kcalloc(test, 4096, sizeof(*pages), GFP_KERNEL);
	done = kunit_kcalloc(test, ZS_SIZE_CLASSES, sizeof(*done), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, pages);
	ZST_ASSERT_ALLOC(test, done);
	for (i = 0; i < n; i++) {
		struct size_class *class = pool->size_class[objs[i].class_idx];

		if (done[class->index]++)
			continue;
		nr = zst_grab_pages(class, pages, 4096, 0);
		for (k = 0; k < nr; k++) {
			unsigned long old_pfn = page_to_pfn(pages[k]), new_pfn = 0;
			int rc;

			if (moved == 0) {
				rc = zst_migrate_page(pages[k], true, NULL);
				KUNIT_EXPECT_EQ_MSG(test, rc, -ECANCELED,
						    "isolate+putback of pfn 0x%lx: expected -ECANCELED found %d",
						    old_pfn, rc);
			}
			rc = zst_migrate_page(pages[k], false, &new_pfn);
			KUNIT_EXPECT_EQ_MSG(test, rc, 0,
					    "migrate class %u pfn 0x%lx: expected 0 found %d",
					    class->index, old_pfn, rc);
			if (!rc)
				moved++;
			put_page(pages[k]);
		}
	}
	return moved;
}
#endif

/*
 * Allocate objects in several classes (tiny, multi-page zspages with
 * objects spanning pages, huge), move every page of their zspages through
 * zsmalloc_mops (isolate -> migrate -> putback, as mm/migrate.c does),
 * then: each obj's PFN changed, class_idx and obj_idx did not, the data
 * is intact, zs_free() works and the pool drains to zero pages.
 * Catches: zs_page_migrate() re-encoding obj with class_idx 0 or with the
 * wrong obj_idx, a page chain not relinked, data not copied.
 */
static void test_migration_keeps_location(struct kunit *test)
{
#ifdef CONFIG_COMPACTION
	const int per_size = 24;
	int n = ARRAY_SIZE(zst_mig_sizes) * per_size;
	struct zs_pool *pool;
	struct zst_obj *objs;
	int i, moved;
	u8 *scratch;

	pool = zst_create_pool(test);
	scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, scratch);
	objs = zst_alloc_set(test, pool, zst_mig_sizes, ARRAY_SIZE(zst_mig_sizes),
			     per_size, scratch);

	moved = zst_migrate_all(test, pool, objs, n);
	kunit_info(test, "%d objects, %d pages migrated, pool %lu pages\n",
		   n, moved, zs_get_total_pages(pool));
	KUNIT_EXPECT_GT_MSG(test, moved, 0, "pages migrated: expected > 0 found %d",
			    moved);

	for (i = 0; i < n; i++) {
		struct zst_obj *o = &objs[i];
		unsigned long obj = handle_to_obj(o->handle);

		KUNIT_EXPECT_NE_MSG(test, zst_obj_pfn(obj), zst_obj_pfn(o->obj),
				    "object %d (class %u): pfn expected to change from 0x%lx, found 0x%lx",
				    i, o->class_idx, zst_obj_pfn(o->obj), zst_obj_pfn(obj));
		KUNIT_EXPECT_EQ_MSG(test, zst_obj_idx(obj), zst_obj_idx(o->obj),
				    "object %d (class %u): obj_idx expected %u found %u",
				    i, o->class_idx, zst_obj_idx(o->obj), zst_obj_idx(obj));
		if (ZS_OBJ_CLASS_BITS)
			KUNIT_EXPECT_EQ_MSG(test, obj_to_class_idx(obj), o->class_idx,
					    "object %d: class_idx after migration expected %u found %u",
					    i, o->class_idx, obj_to_class_idx(obj));
		KUNIT_EXPECT_EQ_MSG(test, zst_obj_page_class(pool, obj), (int)o->class_idx,
				    "object %d: zspage class via new pfn 0x%lx expected %u found %d",
				    i, zst_obj_pfn(obj), o->class_idx,
				    zst_obj_page_class(pool, obj));
		ZST_EXPECT_INTACT(test, pool, o->handle, o->size, o->seed, scratch,
				  "after migration");
	}
	zst_free_set(test, pool, objs, n);
	zst_finish_pool(test, pool);
#else
	kunit_skip(test, "CONFIG_COMPACTION is off: zsmalloc_mops does not exist");
#endif
}

/*
 * ZS_OBJ_CLASS_BITS == 0 (UML, 32-bit): zs_free() finds the class through
 * pool->lock and the zspage. After migrating every page,
 * obj_class_get_and_lock() must return the class that owns the object and
 * the zspage of its new page, and zs_free() must drain the pool.
 * Catches: the fallback lookup taking the wrong class (e.g. class 0 from
 * the absent class bits) or a stale zspage after migration.
 */
static void test_lookup_fallback_after_migration(struct kunit *test)
{
#ifdef ZSMALLOC_KUNIT_HAVE_PART_A
	const int per_size = 16;
	int n = ARRAY_SIZE(zst_mig_sizes) * per_size;
	struct zs_pool *pool;
	struct zst_obj *objs;
	u8 *scratch;
	int i;

	if (ZS_OBJ_CLASS_BITS != 0)
		kunit_skip(test,
			   "class_idx is encoded here (ZS_OBJ_CLASS_BITS %d): the pool->lock fallback lookup is not built",
			   ZS_OBJ_CLASS_BITS);

	pool = zst_create_pool(test);
	scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, scratch);
	objs = zst_alloc_set(test, pool, zst_mig_sizes, ARRAY_SIZE(zst_mig_sizes),
			     per_size, scratch);
#ifdef CONFIG_COMPACTION
	i = zst_migrate_all(test, pool, objs, n);
	KUNIT_EXPECT_GT_MSG(test, i, 0, "pages migrated: expected > 0 found %d", i);
#else
	kunit_info(test, "CONFIG_COMPACTION is off: lookup checked without migration\n");
#endif
	for (i = 0; i < n; i++) {
		struct zst_obj *o = &objs[i];
		struct size_class *class;
		struct zspage *zspage;
		unsigned long obj;

		obj_class_get_and_lock(pool, o->handle, &obj, &zspage, &class);
		spin_unlock(&class->lock);
		KUNIT_EXPECT_EQ_MSG(test, class->index, o->class_idx,
				    "object %d (size %zu): class expected %u found %u",
				    i, o->size, o->class_idx, class->index);
		KUNIT_EXPECT_EQ_MSG(test, obj, handle_to_obj(o->handle),
				    "object %d: obj expected 0x%lx found 0x%lx",
				    i, handle_to_obj(o->handle), obj);
		KUNIT_EXPECT_PTR_EQ_MSG(test, zspage, pfn_zpdesc(zst_obj_pfn(obj))->zspage,
					"object %d: zspage of the obj's page", i);
		ZST_EXPECT_INTACT(test, pool, o->handle, o->size, o->seed, scratch,
				  "fallback lookup");
	}
	zst_free_set(test, pool, objs, n);
	zst_finish_pool(test, pool);
#else
	kunit_skip(test, ZST_NO_PART_A ": no obj_class_get_and_lock() to test");
#endif
}

/*
 * zs_compact() moves objects from sparse zspages into others of the same
 * class: survivors keep their class (class_idx bits and the zspage's
 * class), keep their data, and some really moved. Catches: compaction's
 * obj_malloc() encoding another class, data copied at the wrong offset.
 */
static void test_compaction_keeps_class(struct kunit *test)
{
	static const size_t sizes[] = { 72, 600, 2500 };
	const int per_size = 96;
	int n = ARRAY_SIZE(sizes) * per_size;
	unsigned long freed, moved = 0;
	struct zs_pool *pool;
	struct zst_obj *objs;
	u8 *scratch;
	int i;

	pool = zst_create_pool(test);
	scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, scratch);
	objs = zst_alloc_set(test, pool, sizes, ARRAY_SIZE(sizes), per_size,
			     scratch);
	/* keep one object in four: every zspage becomes sparse */
	for (i = 0; i < n; i++) {
		if ((i / ARRAY_SIZE(sizes)) % 4 == 0)
			continue;
		zs_free(pool, objs[i].handle);
		objs[i].handle = 0;
	}

	freed = zs_compact(pool);
	KUNIT_EXPECT_GT_MSG(test, freed, 0UL,
			    "zs_compact() pages freed: expected > 0 found %lu", freed);

	for (i = 0; i < n; i++) {
		struct zst_obj *o = &objs[i];
		unsigned long obj;

		if (!o->handle)
			continue;
		obj = handle_to_obj(o->handle);
		if (obj != o->obj)
			moved++;
		if (ZS_OBJ_CLASS_BITS)
			KUNIT_EXPECT_EQ_MSG(test, obj_to_class_idx(obj), o->class_idx,
					    "object %d (size %zu): class_idx after compaction expected %u found %u",
					    i, o->size, o->class_idx, obj_to_class_idx(obj));
		KUNIT_EXPECT_EQ_MSG(test, zst_obj_page_class(pool, obj), (int)o->class_idx,
				    "object %d: zspage class after compaction expected %u found %d",
				    i, o->class_idx, zst_obj_page_class(pool, obj));
		ZST_EXPECT_INTACT(test, pool, o->handle, o->size, o->seed, scratch,
				  "after zs_compact");
	}
	kunit_info(test, "zs_compact freed %lu pages, %lu objects moved\n",
		   freed, moved);
	KUNIT_EXPECT_GT_MSG(test, moved, 0UL,
			    "objects moved by zs_compact: expected > 0 found %lu", moved);
	zst_free_set(test, pool, objs, n);
	zst_finish_pool(test, pool);
}

/* ------------------------------------------------------------------ */
/* Part A (+B): zs_free / zs_free_deferred racing migration + compaction */

#define ZST_RACE_SURVIVORS	192
#define ZST_RACE_CHURN		48

static const size_t zst_race_sizes[] = { 176, 2048 + 512 };

struct zst_race {
	struct zs_pool *pool;
	struct zst_obj *victims;	/* freed by the freer, while migrating */
	int nr_victims;
	unsigned long deadline;
	/* results */
	atomic_t errors;
	spinlock_t err_lock;	/* first_err */
	char first_err[160];
	unsigned long frees, deferred_frees, migrated, busy, compactions;
};

static __printf(2, 3) void zst_race_error(struct zst_race *r,
					   const char *fmt, ...)
{
	va_list args;

	if (atomic_inc_return(&r->errors) > 1)
		return;
	spin_lock(&r->err_lock);
	va_start(args, fmt);
	vsnprintf(r->first_err, sizeof(r->first_err), fmt, args);
	va_end(args);
	spin_unlock(&r->err_lock);
}

static void zst_race_free(struct zst_race *r, unsigned long handle, int i)
{
#ifdef ZSMALLOC_KUNIT_HAVE_DEFERRED
	if (i & 1) {
		zs_free_deferred(r->pool, handle);
		r->deferred_frees++;
		return;
	}
#endif
	zs_free(r->pool, handle);
	r->frees++;
}

/* Frees the victims, then allocates, checks and frees churn objects. */
static int zst_race_freer(void *data)
{
	struct zst_race *r = data;
	unsigned long churn[ZST_RACE_CHURN];
	u8 *scratch = kmalloc(PAGE_SIZE, GFP_KERNEL);
	u32 round = 0;
	int i;

	if (!scratch) {
		zst_race_error(r, "freer: no memory");
		goto idle;
	}
	for (i = 0; i < r->nr_victims; i++) {
		struct zst_obj *o = &r->victims[i];
		u8 found;
		long bad = zst_verify(r->pool, o->handle, o->size, o->seed,
				      scratch, &found);

		if (bad >= 0)
			zst_race_error(r, "victim %d: byte %ld expected 0x%02x found 0x%02x",
				       i, bad, zst_byte(o->seed, bad), found);
		zst_race_free(r, o->handle, i);
		o->handle = 0;
		if (!(i & 15))
			cond_resched();
	}
	while (time_before(jiffies, r->deadline) && !kthread_should_stop()) {
		size_t size;

		round++;
		for (i = 0; i < ZST_RACE_CHURN; i++) {
			size = zst_race_sizes[i % ARRAY_SIZE(zst_race_sizes)];
			churn[i] = zst_alloc(r->pool, size, round << 8 | i, scratch);
			if (!churn[i])
				zst_race_error(r, "churn: zs_malloc(%zu) failed", size);
		}
		for (i = 0; i < ZST_RACE_CHURN; i++) {
			u8 found;
			long bad;

			if (!churn[i])
				continue;
			size = zst_race_sizes[i % ARRAY_SIZE(zst_race_sizes)];
			bad = zst_verify(r->pool, churn[i], size, round << 8 | i,
					 scratch, &found);
			if (bad >= 0)
				zst_race_error(r,
					       "churn round %u obj %d: byte %ld expected 0x%02x found 0x%02x",
					       round, i, bad,
					       zst_byte(round << 8 | i, bad), found);
			zst_race_free(r, churn[i], i);
		}
		cond_resched();
	}
	kfree(scratch);
idle:
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ / 50);
	return 0;
}

/* Migrates random pages of the race classes, compacts now and then. */
static int zst_race_migrator(void *data)
{
	struct zst_race *r = data;
#ifdef CONFIG_COMPACTION
	struct page *pages[16];
	unsigned long iter = 0;
	int k, n;

	while (time_before(jiffies, r->deadline) && !kthread_should_stop()) {
		size_t size = zst_race_sizes[iter % ARRAY_SIZE(zst_race_sizes)];
		struct size_class *class = zst_class_of_size(r->pool, size);
		int rc;

		iter++;
		n = zst_grab_pages(class, pages, ARRAY_SIZE(pages),
				   get_random_u32_below(NR_FULLNESS_GROUPS));
		if (n) {
			k = get_random_u32_below(n);
			rc = zst_migrate_page(pages[k], false, NULL);
			if (!rc)
				r->migrated++;
			else if (rc == -EBUSY || rc == -EAGAIN)
				r->busy++;
			else
				zst_race_error(r, "migrate: rc %d", rc);
		}
		for (k = 0; k < n; k++)
			put_page(pages[k]);
		if (!(iter % 16)) {
			zs_compact(r->pool);
			r->compactions++;
		}
		cond_resched();
	}
#else
	while (time_before(jiffies, r->deadline) && !kthread_should_stop()) {
		zs_compact(r->pool);
		r->compactions++;
		usleep_range(1000, 2000);
	}
#endif
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ / 50);
	return 0;
}

/*
 * A freer kthread (zs_free, and zs_free_deferred on Part B kernels) and a
 * migrator kthread (page migration through zsmalloc_mops + zs_compact())
 * on different CPUs work on the same two classes for kunit_race_ms.
 * Afterwards every survivor is intact and still in its class, and the
 * pool drains to zero pages. Catches: zs_free() using an obj read
 * before class->lock (stale PFN after migration), migration without
 * class->lock, a lost or doubled free.
 */
static void test_free_migrate_race(struct kunit *test)
{
	int n_surv = ZST_RACE_SURVIVORS, nr_sizes = ARRAY_SIZE(zst_race_sizes);
	struct task_struct *freer, *migrator;
	unsigned int cpu_free, cpu_mig;
	struct zst_obj *all, *surv;
	struct zst_race *r;
	u8 *scratch;
	int i, s = 0, v = 0;

	r = kunit_kzalloc(test, sizeof(*r), GFP_KERNEL);
	scratch = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	surv = kunit_kcalloc(test, n_surv, sizeof(*surv), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, r);
	ZST_ASSERT_ALLOC(test, scratch);
	ZST_ASSERT_ALLOC(test, surv);
	spin_lock_init(&r->err_lock);
	r->pool = zst_create_pool(test);

	/* interleave survivors and victims so that they share zspages */
	all = zst_alloc_set(test, r->pool, zst_race_sizes, nr_sizes,
			    2 * n_surv / nr_sizes, scratch);
	r->victims = kunit_kcalloc(test, n_surv, sizeof(*surv), GFP_KERNEL);
	ZST_ASSERT_ALLOC(test, r->victims);
	for (i = 0; i < 2 * n_surv; i++) {
		if ((i / nr_sizes) & 1)
			r->victims[v++] = all[i];
		else
			surv[s++] = all[i];
	}
	r->nr_victims = v;

	cpu_free = cpumask_first(cpu_online_mask);
	cpu_mig = cpumask_next(cpu_free, cpu_online_mask);
	if (cpu_mig >= nr_cpu_ids) {
		kunit_warn(test, "only one CPU online: freer and migrator share CPU %u, the race is weaker",
			   cpu_free);
		cpu_mig = cpu_free;
	}
	kunit_info(test, "running %u ms, freer on CPU %u, migrator on CPU %u\n",
		   kunit_race_ms, cpu_free, cpu_mig);

	r->deadline = jiffies + msecs_to_jiffies(kunit_race_ms);
	freer = zst_start_kthread(test, zst_race_freer, r, cpu_free, "zst_free/%u");
	migrator = zst_start_kthread(test, zst_race_migrator, r, cpu_mig,
				     "zst_migrate/%u");
	while (time_before(jiffies, r->deadline))
		msleep(20);
	kunit_release_action(test, zst_kthread_stop_action, freer);
	kunit_release_action(test, zst_kthread_stop_action, migrator);

	kunit_info(test, "frees %lu deferred %lu migrated %lu busy %lu compactions %lu\n",
		   r->frees, r->deferred_frees, r->migrated, r->busy,
		   r->compactions);
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&r->errors), 0,
			    "errors in kthreads: expected 0 found %d, first: %s",
			    atomic_read(&r->errors), r->first_err);

	for (i = 0; i < s; i++) {
		unsigned long obj = handle_to_obj(surv[i].handle);

		if (ZS_OBJ_CLASS_BITS)
			KUNIT_EXPECT_EQ_MSG(test, obj_to_class_idx(obj), surv[i].class_idx,
					    "survivor %d: class_idx expected %u found %u",
					    i, surv[i].class_idx, obj_to_class_idx(obj));
		KUNIT_EXPECT_EQ_MSG(test, zst_obj_page_class(r->pool, obj),
				    (int)surv[i].class_idx,
				    "survivor %d: zspage class expected %u found %d",
				    i, surv[i].class_idx, zst_obj_page_class(r->pool, obj));
		ZST_EXPECT_INTACT(test, r->pool, surv[i].handle, surv[i].size,
				  surv[i].seed, scratch, "survivor after race");
	}
	zst_free_set(test, r->pool, surv, s);
	zst_deferred_settle(r->pool);
	zst_finish_pool(test, r->pool);
}
