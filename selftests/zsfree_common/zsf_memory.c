// SPDX-License-Identifier: GPL-2.0
/*
 * zsf_memory.c - the test memory: regions, the patterned fill and its
 * verify, MADV_PAGEOUT with the pagemap count of swapped pages.
 * API in swapfree.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "swapfree.h"
#include "zsf_internal.h"

char *zsf_region(size_t bytes)
{
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* one swap entry per 4k page: no THP, the series' unit is the page */
	madvise(p, bytes, MADV_NOHUGEPAGE);
	return p;
}

static const char words[] = "1024 one two three four ";

/*
 * One page: a header naming seed and page index (so a page swapped back
 * into the wrong place is caught), 1 KB of xorshift noise from the same
 * key, then the seed's "1024 one two three four" text: compresses about
 * 3.5:1 with lzo, like ordinary anonymous memory, not 40:1.
 */
static void fill_page(char *pg, uint32_t seed, size_t idx)
{
	size_t wl = sizeof(words) - 1, off;
	uint64_t x = ((uint64_t)seed << 32 ^ idx) * 0x9e3779b97f4a7c15ULL | 1;
	int n = snprintf(pg, 64, "zsgate seed %08x page %012zx ", seed, idx);

	for (off = n; off < 64; off++)
		pg[off] = ' ';
	for (off = 64; off < 64 + 1024; off += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(pg + off, &x, 8);
	}
	for (; off + wl <= (size_t)zsf_pagesz; off += wl)
		memcpy(pg + off, words, wl);
	memset(pg + off, '.', zsf_pagesz - off);
}

void zsf_fill(char *p, size_t bytes, uint32_t seed)
{
	for (size_t i = 0; i < bytes / zsf_pagesz; i++)
		fill_page(p + i * zsf_pagesz, seed, i);
}

long zsf_verify(const char *p, size_t bytes, uint32_t seed, size_t step)
{
	char *ref = malloc(zsf_pagesz);
	long bad = 0;

	if (!step)
		step = 1;
	for (size_t i = 0; i < bytes / zsf_pagesz; i += step) {
		if (i >= bytes / zsf_pagesz / 2 && i < bytes / zsf_pagesz / 2 + step)
			zsf_fault("verify");	/* half of it swapped back in */
		fill_page(ref, seed, i);
		if (memcmp(ref, p + i * zsf_pagesz, zsf_pagesz))
			bad++;
	}
	free(ref);
	return bad;
}

long zsf_count_swapped(const char *p, size_t bytes)
{
	size_t n = bytes / zsf_pagesz, done = 0;
	uint64_t buf[4096];
	long swapped = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (done < n) {
		size_t want = n - done < 4096 ? n - done : 4096;
		off_t off = ((uintptr_t)p / zsf_pagesz + done) * 8;
		ssize_t got = pread(fd, buf, want * 8, off);

		if (got <= 0)
			break;
		for (ssize_t i = 0; i < got / 8; i++)
			if (buf[i] & (1ULL << 62))
				swapped++;
		done += got / 8;
	}
	close(fd);
	return swapped;
}

/*
 * MADV_PAGEOUT drains only the calling CPU's LRU batches: a few pages
 * faulted in while the process ran on another CPU can sit in that CPU's
 * batch, off the LRU, and are skipped (tens of pages in 64k, with several
 * processes on 2 CPUs); callers accept zsf_swapped_ok(). ZSGATE_PAGEOUT=drain
 * first drains every CPU's batches (mlock() does lru_add_drain_all()) so
 * that all pages go out; on 6.18.44 with zswap that leaves swap slots and
 * zswap entries behind after their owners are gone (seen here, until
 * swapoff), so it is not the default.
 */
static void lru_drain_all(void)
{
	static char *page;

	if (!page)
		page = mmap(NULL, zsf_pagesz, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page != MAP_FAILED && mlock(page, zsf_pagesz) == 0)
		munlock(page, zsf_pagesz);
}

long zsf_pageout(char *p, size_t bytes)
{
	const char *mode = getenv("ZSGATE_PAGEOUT");
	bool drain = mode && !strcmp(mode, "drain");
	long n = bytes / zsf_pagesz, s = 0;

	for (int i = 0; i < 5 && s < n; i++) {
		if (i)
			usleep(2000 * i);	/* let other CPUs' LRU batches drain */
		if (drain)
			lru_drain_all();
		if (madvise(p, bytes, MADV_PAGEOUT))
			return -1;
		s = zsf_count_swapped(p, bytes);
	}
	zsf_fault("pageout");
	return s;
}
