/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zsfree_tests.h - the scenarios both zram_free and zswap_free run.
 *
 * Included once by zram_free.c / zswap_free.c after they define ZSF_BACKEND
 * (ZSF_ZRAM or ZSF_ZSWAP) and ZSF_RELEASE_FN (the backend's function that
 * frees a swapped-out page's object, for percall), so both collections run
 * the same code against their own backend. Backend-only scenarios (zram discard + fio, zswap
 * writeback) live in the including file as extra variants of the race
 * fixture, zram's nobuffers as a fixture of its own.
 *
 * The scenarios are headers, not units: kselftest_harness.h keeps its test
 * list per translation unit, so all of a binary's tests are compiled with
 * its TEST_HARNESS_MAIN. They come in four parts, in this order (the
 * order of `-l` and of the KTAP output):
 *   zsf_tests_fixture.h      setup/SKIP, teardown, the end-of-test checks
 *   zsf_tests_latency.h      munmap, teardown, return_rate (ci/ab's cases)
 *   zsf_tests_correctness.h  overflow, integrity, race (the gate's
 *                            CORRECTNESS set in ci/vm)
 *   zsf_tests_bench.h        swapin, mixed, compaction, pressure (what
 *                            `make bench` adds; neither ci/ab nor the gate
 *                            selects them)
 * Test names are what ci/vm and ci/ab select by: keep them.
 *
 * Every test ends in zsf_check_clean(): data read back matched (checked
 * inside the scenario), the pool's bytes and stored pages are back at the
 * setup baseline within ZSF_DEADLINE_MS (polled: deferred handles, deferred
 * zspages or a zram-level lazy GC may give memory back after the release;
 * a leak still fails at the deadline, with the numbers), the reference's
 * "pending" counter drains to 0 by then where the kernel exposes it, and
 * no BUG/WARNING/KASAN/KCSAN/lockdep line appeared in the kernel log since
 * setup. None of these needs Part B or its counters (see struct zsf_caps);
 * checks that do need them SKIP naming what is missing.
 */
#include "zsf_tests_fixture.h"
#include "zsf_tests_latency.h"
#include "zsf_tests_correctness.h"
#include "zsf_tests_bench.h"
