# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/ab.py (statistics, regression rule), ci/zsgate/vm.py (console parsing),
ci/zsgate/report.py and the ab section of ci/summary, on synthetic data."""
import json
import os
import random
import subprocess
import tempfile
import unittest

from zsgate import ab, abrun, report, vm, vmrun
from zsgate.report import cpu_rows, percall_rows, render
from tests import summarize

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def figs(backend, case, size, procs, med, **kw):
    d = {"backend": backend, "case": case, "size_mb": size, "procs": procs, "median_us": med,
         "p10_us": med * 0.9, "p90_us": med * 1.1, "rounds": 3}
    d.update(kw)
    return d


def rounds_of(rng, cases, factor, noise=0.04, rounds=3, labels=("base", "patched")):
    """Interleaved rounds: every case in every boot, patched = base * factor, lognormal noise."""
    out = []
    for _ in range(rounds):
        for label, f in ((labels[0], 1.0), (labels[1], factor)):
            out.append((label, [figs(be, c, s, p, m * f * rng.lognormvariate(0, noise))
                                for be, c, s, p, m in cases]))
    return out


CASES = [("zram", "munmap", s, 1, 300 * s) for s in (64, 128, 256, 512)] + \
        [("zram", "teardown_munmap", 256, p, 80000 + 10000 * p) for p in (1, 2, 3, 4)] + \
        [("zswap", "munmap", s, 1, 350 * s) for s in (64, 256)] + \
        [("zswap", "teardown_munmap", 256, p, 90000 + 10000 * p) for p in (1, 4)]


class StatisticsTest(unittest.TestCase):
    def test_bootstrap_interval_contains_point(self):
        r, lo, hi = ab.bootstrap_ratio([100, 110, 105], [150, 160, 155])
        self.assertAlmostEqual(r, 155 / 105)
        self.assertLessEqual(lo, r)
        self.assertGreaterEqual(hi, r)
        self.assertGreater(lo, 1.3)

    def test_clear_regression_is_flagged(self):
        entries = ab.analyze(ab.collect(rounds_of(random.Random(1), CASES, 1.5)))
        self.assertEqual(len(entries), len(CASES))
        judged = [e for e in entries if e["judged"]]
        self.assertEqual(len(judged), 8)   # munmap sizes and the one-process teardowns
        self.assertTrue(all(e["regression"] for e in judged), [ab.case_label(e) for e in judged if not e["regression"]])
        self.assertFalse(any(e["regression"] for e in entries if not e["judged"]))
        for e in entries:
            self.assertLess(e["speedup_hi"], 1 / 1.25)

    def test_concurrent_cases_judged_on_request(self):
        entries = ab.analyze(ab.collect(rounds_of(random.Random(1), CASES, 1.5)), judge_concurrent=True)
        self.assertTrue(all(e["regression"] for e in entries))

    def test_base_vs_base_is_never_flagged(self):
        # 20 independent base-vs-base A/Bs with 4 % noise per boot: nothing may be flagged
        for seed in range(20):
            entries = ab.analyze(ab.collect(rounds_of(random.Random(seed), CASES, 1.0)))
            self.assertEqual(ab.regressions(entries), [], f"seed {seed}")

    def test_speedup_is_not_a_regression(self):
        entries = ab.analyze(ab.collect(rounds_of(random.Random(2), CASES, 0.5)))
        self.assertFalse(any(e["regression"] for e in entries))
        self.assertTrue(all(e["speedup_lo"] > 1.5 for e in entries))

    def test_one_slow_round_does_not_flag(self):
        base = [("base", [figs("zram", "munmap", 64, 1, 1000)]) for _ in range(3)]
        pat = [("patched", [figs("zram", "munmap", 64, 1, v)]) for v in (1000, 1010, 3000)]
        entries = ab.analyze(ab.collect([x for pair in zip(base, pat) for x in pair]))
        self.assertFalse(entries[0]["regression"])

    def test_small_slowdown_within_margin_not_flagged(self):
        entries = ab.analyze(ab.collect(rounds_of(random.Random(3), CASES, 1.05, noise=0.01)))
        self.assertFalse(any(e["regression"] for e in entries))

    def test_return_rate_is_shown_not_judged(self):
        rr = [(lab, [{"backend": "zram", "case": "return_munmap", "size_mb": 256, "procs": 4,
                      "median_us": 100 * f, "ret50_ms": 5.0 * f, "ret90_ms": 9.0 * f}])
              for _ in range(3) for lab, f in (("base", 1), ("patched", 3))]
        e = ab.analyze(ab.collect(rr))[0]
        self.assertFalse(e["judged"])
        self.assertFalse(e["regression"])
        self.assertEqual(e["patched"]["ret90_ms"], 27.0)

    def test_missing_revision_gives_no_speedup(self):
        e = ab.analyze(ab.collect([("base", [figs("zram", "munmap", 64, 1, 10)])]))[0]
        self.assertIsNone(e["speedup"])
        self.assertFalse(e["regression"])


CONSOLE = """# linux mem=2048M
[    0.000000] Linux version 7.3.0-rc7
ZSGATE-VM: start 7.3.0-rc7 cpus=2 mem_kb=2000000
TAP version 13
1..2
# selftests: zram_free: zram_free
# TAP version 13
# 1..3
# # zsgate: backend=zram case=munmap size_mb=64 procs=1 median_us=1200 p10_us=1100 p90_us=1300 cpu_us=900 drain_ms=1.5 rounds=3
[   12.000000] zram: Added device: zram1
# ok 1 munmap.mb64.latency
# ok 2 munmap.mb128.latency # SKIP 128 MB not selected by ZSGATE_SIZES_MB
# not ok 3 integrity.reuse_after_free
# # FAILED: 1 / 3 tests passed
not ok 1 selftests: zram_free: zram_free # exit=1
# selftests: zswap_free: zswap_free
# ok 1 munmap.mb64.latency
ok 2 selftests: zswap_free: zswap_free
"""


class VmParseTest(unittest.TestCase):
    def test_live_output_when_block_missing(self):
        ktap, complete = vm.guest_ktap(CONSOLE.splitlines(True))
        self.assertFalse(complete)
        self.assertFalse(any(l.startswith("[") for l in ktap))
        cols = vm.parse_results(ktap)
        self.assertEqual([c["name"] for c in cols], ["zram_free", "zswap_free"])
        self.assertEqual(cols[0]["status"], "FAIL")
        self.assertEqual([k["status"] for k in cols[0]["cases"]], ["PASS", "SKIP", "FAIL"])
        self.assertEqual(cols[1]["status"], "PASS")

    def test_block_preferred(self):
        lines = CONSOLE.splitlines(True) + [vm.BEGIN + "\n", "TAP version 13\n", "1..1\n",
                                             "# selftests: zram_free: zram_free\n", vm.END + "\n"]
        ktap, complete = vm.guest_ktap(lines)
        self.assertTrue(complete)
        self.assertEqual(len(ktap), 3)
        cols = vm.parse_results(ktap)
        self.assertEqual(cols[0]["status"], "MISSING")
        j = vm.kunit_like_json("x", cols, [])
        self.assertEqual(j["sub_groups"][0]["test_cases"][0]["status"], "FAIL")

    def test_figures_and_v1(self):
        ktap, _ = vm.guest_ktap(CONSOLE.splitlines(True))
        f = vm.parse_figures(ktap)
        self.assertEqual(f, [{"backend": "zram", "case": "munmap", "size_mb": 64, "procs": 1, "median_us": 1200,
                              "p10_us": 1100, "p90_us": 1300, "cpu_us": 900, "drain_ms": 1.5, "rounds": 3}])
        v1 = vm.ktap_v1(ktap)
        self.assertIn("    ok 2 munmap.mb128.latency # SKIP 128 MB not selected by ZSGATE_SIZES_MB", v1)
        self.assertIn("# selftests: zram_free: zram_free", v1)

    def test_hang_counts_as_failure(self):
        cols = vm.parse_results(["# selftests: zram_free: zram_free", "# ok 1 a"])
        j = vm.kunit_like_json("x", cols, ["hang: no power-off within 5 s (timeout)"])
        statuses = [c["status"] for c in j["test_cases"]] + \
                   [c["status"] for g in j["sub_groups"] for c in g["test_cases"]]
        self.assertIn("ERROR", statuses)
        self.assertIn("FAIL", statuses)

    def test_initramfs(self):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "f")
            with open(src, "w") as f:
                f.write("#!/bin/sh\n")
            out = os.path.join(d, "i.cpio")
            vm.write_initramfs(out, {"init": (src, 0o755)}, ["dev"], {"bin/sh": "busybox"},
                               {"dev/console": (5, 1)})
            with open(out, "rb") as f:
                r = subprocess.run(["cpio", "-itv"], stdin=f, capture_output=True, text=True)
            if r.returncode != 0 and "not found" in r.stderr:
                self.skipTest("no cpio")
            self.assertIn("init", r.stdout)
            self.assertIn("dev/console", r.stdout)
            self.assertIn("bin/sh -> busybox", r.stdout)


def write_ab(d, factor, labels=("base", "patched")):
    entries = ab.analyze(ab.collect(rounds_of(random.Random(5), CASES + [
        ("zram", "return_munmap", 256, 4, 1000)], factor, labels=labels)), a=labels[0], b=labels[1])
    doc = {"arch": "x86_64", "labels": list(labels), "rounds": 3, "inner_rounds": 3, "margin": 0.1,
           "statistic": "test", "entries": entries, "regressions": [ab.case_label(e) for e in ab.regressions(entries)],
           "runs": [{"name": "ab-x86_64-base-r1", "status": "complete", "seconds": 10,
                     "counts": {"pass": 5, "fail": 0, "skip": 1}}], "problems": [], "splats": [], "seconds": 60}
    with open(os.path.join(d, "ab.json"), "w") as f:
        json.dump(doc, f)
    return doc


class ReportAndSummaryTest(unittest.TestCase):
    def meta(self, d):
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump({"kernel": {"version": "7.3.0-rc7", "part_a": True}, "series": None, "runs": []}, f)

    def test_summary_reads_ab_and_fails_on_regression(self):
        with tempfile.TemporaryDirectory() as d:
            self.meta(d)
            write_ab(d, 1.6)
            r = summarize.run(d)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            with open(os.path.join(d, "summary.json")) as f:
                s = json.load(f)
            self.assertEqual(len(s["ab"]), len(CASES) + 1)
            self.assertTrue(any(p.startswith("A/B regression: zram munmap 64 MB") for p in s["problems"]))
            self.assertIn("REGRESSION", r.stdout)

    def test_busy_host_warns_without_judging(self):
        runs = [{"name": "ab-x86_64-base-r1", "host_other_cpus": 0.05},
                {"name": "ab-x86_64-patched-r1", "host_other_cpus": 0.9}, {"name": "x", "host_other_cpus": None}]
        w = ab.host_warnings(runs)
        self.assertEqual(len(w), 1)
        self.assertIn("1 of 3 boots", w[0])
        self.assertIn("0.90 CPUs, in ab-x86_64-patched-r1", w[0])
        self.assertEqual(ab.host_warnings(runs[:1]), [])
        with tempfile.TemporaryDirectory() as d:
            self.meta(d)
            doc = write_ab(d, 0.6)
            doc["warnings"] = w
            with open(os.path.join(d, "ab.json"), "w") as f:
                json.dump(doc, f)
            r = summarize.run(d)
            self.assertIn("warning: A/B: host busy", r.stdout)
            with open(os.path.join(d, "summary.json")) as f:
                s = json.load(f)
            self.assertEqual(s["problems"], ["no runs"])   # the warning is not a problem
            self.assertIn("warning (not judged): A/B: host busy", render("r", s, doc, None))

    def test_report_verdict_first_and_tables(self):
        with tempfile.TemporaryDirectory() as d:
            abd = write_ab(d, 0.6)
            summary = {"verdict": "pass", "problems": [], "kernel": {"version": "7.3"}, "series": None,
                       "runs": [{"name": "vm-x86_64-base", "pass": 3, "fail": 0, "skip": 1}], "splats": [],
                       "ab": abd["entries"]}
            text = render("run1", summary, abd, "report.png")
            lines = [ln for ln in text.splitlines() if ln.strip()]
            self.assertEqual(lines[1], "**Verdict: PASS**")
            for h in ("## zram", "## zswap", "### Concurrent teardown, released by munmap() (256 MB per process)",
                      "### munmap() by size (one process)", "### Memory return"):
                self.assertIn(h, text)
            self.assertIn("| 512 MB |", text)
            self.assertIn("| vm-x86_64-base | 3 | 0 | 1 |", text)
            self.assertNotIn("REGRESSION", text)
            self.assertIn("1.6", text)   # speedup ~1/0.6

    def test_report_cpu_munmap_plus_kworkers(self):
        """The munmap table shows CPU of munmap + kworkers and its growth, base -> patched."""
        base = [("base", [{"backend": "zram", "case": "munmap", "size_mb": 64, "procs": 1, "median_us": 1000,
                           "cpu_us": 900, "kworker_us": 100, "cpu_total_us": 1000}])] * 3
        pat = [("patched", [{"backend": "zram", "case": "munmap", "size_mb": 64, "procs": 1, "median_us": 400,
                             "cpu_us": 300, "kworker_us": 800, "cpu_total_us": 1100}])] * 3
        entries = ab.analyze(ab.collect(base + pat))
        self.assertEqual(entries[0]["patched"]["kworker_us"], 800)
        text = render("run1", {"verdict": "pass", "problems": [], "runs": [], "splats": [], "ab": entries},
                      {"entries": entries}, None)
        self.assertIn("| 1000 µs / 1100 µs (+10 %) |", text)

    def test_percall_and_cpu_rows(self):
        """The rows report.md's tables and ci/summary's lines are printed from: compared only."""
        rounds = percall_rounds(random.Random(3), 1.10) + [
            ("base", [{"backend": "zram", "case": "percall", "fn": "zs_lone", "calls": 5000, "median_ns": 100}])]
        pc = ab.percall(rounds)
        rows = percall_rows(pc)
        self.assertEqual(len(pc), 3)
        self.assertEqual([r.fn for r in rows], ["zram_slot_free_notify", "zs_free"])
        self.assertEqual({(r.calls_a, r.calls_b, r.regression, r.why_not_judged) for r in rows},
                         {(8192, 8192, True, None)})
        tot = cpu_rows(ab.cpu(cpu_rounds(random.Random(2), 1.0), judged=False))
        self.assertEqual([(t.backend, t.sizes, t.pairs, t.regression, t.why_not_judged) for t in tot],
                         [("zram", 5, 4, False, "host busy"), ("zswap", 5, 4, False, "host busy")])
        text = render("r", None, {"entries": [], "percall": pc, "cpu": ab.cpu(cpu_rounds(random.Random(2), 1.0),
                                                                             judged=False)}, None)
        self.assertIn("| zram | zs_free() | 8192/8192 |", text)
        self.assertEqual(text.count("(not judged: host busy) |"), 2)

    def test_rule_summary_from_the_constants(self):
        """ab.json and report.md print the rule from ab.py's numbers, pointing at its one statement."""
        text = ab.rule_summary()
        for x in (f"{1 + ab.MARGIN:g}", f"{1 + ab.POOLED_MARGIN:g}", f"B={ab.BOOT}", *ab.JUDGED_CASES,
                  f"{ab.BUSY_CPUS:g} CPUs", ab.RULE_DOC, "one process"):
            self.assertIn(x, text)
        self.assertIn("above 1.1 ", ab.rule_summary(0.1))
        self.assertIn("any number of processes", ab.rule_summary(judge_concurrent=True))
        doc, anchor = ab.RULE_DOC.split("#")
        with open(os.path.join(os.path.dirname(CI), doc), encoding="utf-8") as f:
            heads = [ln[3:].strip().lower().replace("/", "").replace(" ", "-") for ln in f if ln.startswith("## ")]
        self.assertIn(anchor, heads)
        with tempfile.TemporaryDirectory() as d:
            abd = write_ab(d, 1.0)
            abd["margin"] = 0.4
            self.assertIn(ab.rule_summary(0.4), render("run1", None, abd, None))

    def test_report_shows_regression(self):
        with tempfile.TemporaryDirectory() as d:
            abd = write_ab(d, 1.6)
            text = render("run1", {"verdict": "fail", "problems": ["A/B regression: zram munmap 64 MB"],
                                   "runs": [], "splats": [], "ab": abd["entries"]}, abd, None)
            self.assertIn("**Verdict: FAIL**", text.splitlines()[2])
            self.assertIn("**REGRESSION**", text)

    def test_ci_report_writes_files(self):
        with tempfile.TemporaryDirectory() as d:
            self.meta(d)
            write_ab(d, 1.0, labels=("base", "base2"))
            summarize.run(d)
            r = summarize.call(report.main, [d])
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(d, "report.md")) as f:
                text = f.read()
            self.assertIn("Base2", text)
            if os.path.exists("/usr/bin/python3") and subprocess.run(
                    ["/usr/bin/python3", "-c", "import matplotlib"], capture_output=True).returncode == 0:
                with open(os.path.join(d, "report.png"), "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main()


class PooledTest(unittest.TestCase):
    def test_base_vs_base_pooled_never_flagged(self):
        for seed in range(20):
            rng = random.Random(seed)
            entries = ab.analyze(ab.collect(rounds_of(rng, CASES, 1.0, noise=0.06, rounds=4)))
            for p in ab.pooled(entries):
                self.assertFalse(p["regression"], (seed, p))

    def test_ten_percent_everywhere_is_pooled_not_per_case(self):
        rng = random.Random(7)
        # the zs-free-spin-10pct mutant's shape: +10 %, 6 % noise per case, 16 rounds
        entries = ab.analyze(ab.collect(rounds_of(rng, CASES, 1.10, noise=0.06, rounds=16)))
        self.assertEqual(ab.regressions(entries), [])
        p = {x["backend"]: x for x in ab.pooled(entries)}
        self.assertEqual(len(p["zram"]["cases"]), 5)
        self.assertEqual(p["zram"]["pairs"], 16)
        self.assertTrue(p["zram"]["regression"], p["zram"])
        self.assertAlmostEqual(p["zram"]["ratio"], 1.10, delta=0.04)

    def test_busy_host_pooled_shown_not_judged(self):
        rng = random.Random(7)
        entries = ab.analyze(ab.collect(rounds_of(rng, CASES, 1.5, noise=0.02, rounds=4)))
        self.assertTrue(all(p["regression"] for p in ab.pooled(entries)))
        self.assertFalse(any(p["regression"] for p in ab.pooled(entries, judged=False)))

    def test_case_missing_a_round_is_left_out(self):
        rng = random.Random(3)
        rounds = rounds_of(rng, CASES, 1.0, rounds=4)
        rounds[2] = (rounds[2][0], [f for f in rounds[2][1] if f["size_mb"] != 64])
        p = {x["backend"]: x for x in ab.pooled(ab.analyze(ab.collect(rounds)))}
        self.assertEqual(len(p["zram"]["cases"]), 4)

    def test_speedup_is_not_pooled_regression(self):
        rng = random.Random(5)
        entries = ab.analyze(ab.collect(rounds_of(rng, CASES, 0.5, rounds=4)))
        self.assertFalse(any(p["regression"] for p in ab.pooled(entries)))


class CliTest(unittest.TestCase):
    def test_vm_without_kernel_is_no_result(self):
        with tempfile.TemporaryDirectory() as d:
            r = summarize.call(vmrun.main, ["--tree", d, "--arch", "x86_64", "--out", d, "--name", "t"])
            self.assertEqual(r.returncode, 2)
            self.assertIn("no kernel at", r.stderr)

    def test_ab_reanalyze_from_files(self):
        rng = random.Random(9)
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "ab"))
            for lab, f in (("base", 1.0), ("patched", 2.0)):
                for i in range(1, 5):
                    name = f"ab-x86_64-{lab}-r{i}"
                    with open(os.path.join(d, "ab", name + ".figures.json"), "w") as fh:
                        json.dump([figs(be, c, s, p, m * f * rng.lognormvariate(0, 0.05))
                                   for be, c, s, p, m in CASES], fh)
                    with open(os.path.join(d, "ab", name + ".vm.json"), "w") as fh:
                        json.dump({"status": "complete", "seconds": 30, "problems": [], "splats": [],
                                   "counts": {"pass": 3, "fail": 0, "skip": 0},
                                   "env": {"ZSGATE_ROUNDS": "2", "ZSGATE_QUICK": "1"}}, fh)
            r = summarize.call(abrun.main, ["--base", "B", "--patched", "P", "--out", d, "--reanalyze"])
            self.assertEqual(r.returncode, 1, r.stderr)
            with open(os.path.join(d, "ab.json")) as fh:
                doc = json.load(fh)
            # 8 judged cases, and each backend's pooled one-process cases
            self.assertEqual(len(doc["regressions"]), 10)
            self.assertEqual(sum("pooled" in x for x in doc["regressions"]), 2)
            self.assertEqual(doc["inner_rounds"], 2)
            self.assertEqual(doc["seconds"], 240)
            self.assertEqual(doc["statistic"], ab.rule_summary(doc["margin"], ab.POOLED_MARGIN, False))


def percall_rounds(rng, factor, rounds=4, noise=0.01, calls=8192, fns=("zs_free", "zram_slot_free_notify"),
                   labels=("base", "patched")):
    """Interleaved boots with one percall figure per function: patched = base * factor."""
    out = []
    for i in range(rounds):
        pair = [(labels[0], 1.0), (labels[1], factor)]
        drift = rng.uniform(0.9, 1.1)   # a boot-to-boot level both sides of a round share
        for label, f in (pair if i % 2 == 0 else pair[::-1]):
            out.append((label, [{"backend": "zram", "case": "percall", "fn": fn, "size_mb": 16, "procs": 1,
                                 "calls": calls, "median_ns": round(900 * f * drift * rng.lognormvariate(0, noise))}
                                for fn in fns]))
    return out


class PercallTest(unittest.TestCase):
    def test_base_vs_base_not_flagged(self):
        flagged = 0
        for seed in range(200):
            es = ab.percall(percall_rounds(random.Random(seed), 1.0))
            flagged += any(e["regression"] for e in es)
        self.assertLessEqual(flagged, 200 * 0.03)

    def test_ten_percent_slower_call_flagged(self):
        for seed in range(20):
            es = {e["fn"]: e for e in ab.percall(percall_rounds(random.Random(seed), 1.10))}
            self.assertTrue(es["zs_free"]["regression"], es["zs_free"])
            self.assertAlmostEqual(es["zs_free"]["ratio"], 1.10, delta=0.03)
            self.assertEqual(es["zs_free"]["pairs"], 4)

    def test_faster_is_not_a_regression(self):
        es = ab.percall(percall_rounds(random.Random(1), 0.5))
        self.assertFalse(any(e["regression"] for e in es))

    def test_few_calls_shown_not_judged(self):
        es = ab.percall(percall_rounds(random.Random(2), 1.5, calls=10))
        self.assertTrue(all(e["ratio"] and not e["judged"] and not e["regression"] for e in es))
        self.assertIn("calls", es[0]["why_not_judged"])

    def test_function_only_one_side_has(self):
        rounds = percall_rounds(random.Random(3), 1.0)
        rounds = [(lab, figs + ([{"backend": "zram", "case": "percall", "fn": "zs_free_deferred", "calls": 9000,
                                  "median_ns": 300}] if lab == "patched" else [])) for lab, figs in rounds]
        es = {e["fn"]: e for e in ab.percall(rounds)}
        self.assertIsNone(es["zs_free_deferred"]["ratio"])
        self.assertFalse(es["zs_free_deferred"]["regression"])
        self.assertEqual(es["zs_free_deferred"]["patched"]["median_ns"], 300)

    def test_percall_not_a_case(self):
        self.assertEqual(ab.collect(percall_rounds(random.Random(4), 1.0)), {})

    def test_calls_zero_figure(self):
        rounds = [("base", [{"backend": "zram", "case": "percall", "fn": "zs_free", "calls": 0}]),
                  ("patched", [{"backend": "zram", "case": "percall", "fn": "zs_free", "calls": 0}])] * 4
        es = ab.percall(rounds)
        self.assertIsNone(es[0]["ratio"])
        self.assertFalse(es[0]["regression"])

    def test_windows_judge_each_run_of_rounds(self):
        rounds = percall_rounds(random.Random(8), 1.10, rounds=12)
        round_of = [1 + k // 2 for k in range(len(rounds))]
        w = ab.windows(rounds, round_of, 4)
        self.assertEqual((w["gates"], w["flagged"]), (3, 3))
        self.assertEqual(w["per_gate"][1]["rounds"], "5-8")
        w = ab.windows(percall_rounds(random.Random(9), 1.0, rounds=12), round_of, 4)
        self.assertEqual(w["flagged"], 0)

class BootOrderTest(unittest.TestCase):
    def test_two_kernels_are_the_interleaving_of_before(self):
        # A B B A A B B A: odd rounds the first label first
        self.assertEqual([ab.boot_order(["base", "patched"], i) for i in range(1, 5)],
                         [["base", "patched"], ["patched", "base"]] * 2)

    def balance(self, k, rounds):
        labels = [f"k{x}" for x in range(k)]
        orders = [ab.boot_order(labels, i) for i in range(1, rounds + 1)]
        for o in orders:
            self.assertEqual(sorted(o), labels)   # every kernel once a round
        pos = {(lab, p): 0 for lab in labels for p in range(k)}
        after = {(x, y): 0 for x in labels for y in labels if x != y}
        for o in orders:
            for p, lab in enumerate(o):
                pos[(lab, p)] += 1
            for x, y in zip(o, o[1:]):
                after[(x, y)] += 1
        return pos, after

    def test_three_kernels_every_position_and_neighbour_equally(self):
        # 6 rounds (the cyclic Latin square and its reverses): each kernel twice in each
        # position, each kernel right after each other one twice
        pos, after = self.balance(3, 6)
        self.assertEqual(set(pos.values()), {2})
        self.assertEqual(set(after.values()), {2})
        # any even number of rounds: every kernel at the same mean position
        for rounds in (2, 4):
            labels = ["base", "patched", "prev"]
            sums = {lab: sum(ab.boot_order(labels, i).index(lab) for i in range(1, rounds + 1)) for lab in labels}
            self.assertEqual(len(set(sums.values())), 1, (rounds, sums))

    def test_four_kernels_williams_square(self):
        pos, after = self.balance(4, 4)
        self.assertEqual(set(pos.values()), {1})
        self.assertEqual(set(after.values()), {1})

    def test_bad_input(self):
        with self.assertRaises(ValueError):
            ab.boot_order(["a"], 1)
        with self.assertRaises(ValueError):
            ab.boot_order(["a", "b"], 0)


def cpu_rounds(rng, factor, rounds=4, noise=0.05, sizes=(16, 32, 48, 64, 128), labels=("base", "patched"),
               factors=None):
    """Boots in ab.boot_order(): one-process munmap figures with cpu_total_us, @labels[1] =
    @labels[0] * factor (or factors[label]), a drift both sides of a round share, lognormal noise."""
    fs = factors or {labels[0]: 1.0, labels[1]: factor}
    out = []
    for i in range(1, rounds + 1):
        drift = rng.uniform(0.9, 1.1)
        for label in ab.boot_order(list(fs), i):
            out.append((label, [figs(be, "munmap", s, 1, 100 * s, cpu_total_us=90 * s * fs[label] * drift
                                     * rng.lognormvariate(0, noise)) for be in ("zram", "zswap") for s in sizes]))
    return out


class CpuTest(unittest.TestCase):
    def test_twenty_percent_more_cpu_flagged(self):
        for seed in range(20):
            es = {e["backend"]: e for e in ab.cpu(cpu_rounds(random.Random(seed), 1.20, noise=0.03))}
            for be in ("zram", "zswap"):
                self.assertTrue(es[be]["regression"], (seed, es[be]))
                self.assertAlmostEqual(es[be]["ratio"], 1.20, delta=0.05)
                self.assertEqual((es[be]["pairs"], len(es[be]["sizes_mb"])), (4, 5))

    def test_base_vs_base_flagged_at_most_3_percent(self):
        runs = [ab.cpu(cpu_rounds(random.Random(seed), 1.0, noise=0.10)) for seed in range(200)]
        self.assertLessEqual(sum(any(e["regression"] for e in es) for es in runs), 200 * 0.03)
        # and the t interval over 4 pairs is a 95 % one: it holds the true ratio that often
        # (a normal quantile instead of Student's would cover about 85 %)
        held = [e["ratio_lo"] <= 1.0 <= e["ratio_hi"] for es in runs for e in es]
        self.assertGreaterEqual(sum(held) / len(held), 0.92)

    def test_within_the_budget_not_flagged(self):
        es = ab.cpu(cpu_rounds(random.Random(1), 1.05, noise=0.01))
        self.assertTrue(all(e["judged"] and not e["regression"] and e["ratio_hi"] < 1.10 for e in es), es)

    def test_busy_host_shown_not_judged(self):
        rounds = cpu_rounds(random.Random(2), 1.5)
        self.assertTrue(all(e["regression"] for e in ab.cpu(rounds)))
        es = ab.cpu(rounds, judged=False)
        self.assertTrue(all(e["ratio"] > 1.4 and not e["judged"] and not e["regression"] for e in es))
        self.assertEqual({e["why_not_judged"] for e in es}, {"host busy"})

    def test_a_size_missing_a_round_is_left_out(self):
        rounds = cpu_rounds(random.Random(3), 1.0)
        rounds[3] = (rounds[3][0], [f for f in rounds[3][1] if f["size_mb"] != 64])
        es = {e["backend"]: e for e in ab.cpu(rounds)}
        self.assertEqual(es["zram"]["sizes_mb"], [16, 32, 48, 128])

    def test_only_one_process_munmap_counts(self):
        rounds = [(lab, [figs("zram", "teardown_munmap", 64, 1, 1000, cpu_total_us=500 * f),
                         figs("zram", "percall", 16, 1, 1, fn="zs_free", cpu_total_us=500 * f)])
                  for _ in range(4) for lab, f in (("base", 1), ("patched", 3))]
        self.assertEqual(ab.cpu(rounds), [])

    def test_fewer_than_three_rounds_not_judged(self):
        es = ab.cpu(cpu_rounds(random.Random(4), 2.0, rounds=2))
        self.assertTrue(all(e["ratio"] is None and not e["regression"] for e in es))

    def test_the_rule_names_it(self):
        self.assertIn(f"lies above {1 + ab.CPU_MARGIN:g}, judged only on a quiet host", ab.rule_summary())


class PrevTest(unittest.TestCase):
    """Three kernels: base -> patched as before, prev -> patched by the same rule."""

    def test_compare_prev_to_patched(self):
        rng = random.Random(11)
        # patched is faster than base and 40 % slower than prev in every figure
        fs = {"base": 2.0, "patched": 1.0, "prev": 1 / 1.4}
        rounds = []
        for i in range(1, 5):
            for label in ab.boot_order(list(fs), i):
                rounds.append((label, [figs(be, c, s, p, m * fs[label] * rng.lognormvariate(0, 0.03),
                                            cpu_total_us=m * fs[label]) for be, c, s, p, m in CASES]))
        main = ab.compare(rounds, "base", "patched")
        self.assertEqual(main["regressions"], [])
        self.assertEqual(len(main["entries"]), len(CASES))
        self.assertEqual(main["entries"][0]["rounds"], {"base": 4, "patched": 4})
        prev = ab.compare(rounds, "prev", "patched", prefix="vs prev: ")
        self.assertEqual((prev["a"], prev["b"]), ("prev", "patched"))
        self.assertTrue(all(r.startswith("vs prev: ") for r in prev["regressions"]))
        self.assertIn("vs prev: zram munmap 64 MB", prev["regressions"])
        self.assertIn("vs prev: zram pooled (5 one-process cases, paired by round)", prev["regressions"])
        self.assertIn("vs prev: zram CPU of munmap + kworkers (4 munmap sizes, paired by round)", prev["regressions"])

    def reanalyze(self, d, fs, *extra):
        rng = random.Random(9)
        os.makedirs(os.path.join(d, "ab"))
        for lab, f in fs.items():
            for i in range(1, 5):
                name = f"ab-x86_64-{lab}-r{i}"
                with open(os.path.join(d, "ab", name + ".figures.json"), "w") as fh:
                    json.dump([figs(be, c, s, p, m * f * rng.lognormvariate(0, 0.03),
                                    cpu_total_us=m * f * rng.lognormvariate(0, 0.03)) for be, c, s, p, m in CASES], fh)
                with open(os.path.join(d, "ab", name + ".vm.json"), "w") as fh:
                    json.dump({"status": "complete", "seconds": 30, "problems": [], "splats": [],
                               "counts": {"pass": 3, "fail": 0, "skip": 0},
                               "env": {"ZSGATE_ROUNDS": "2", "ZSGATE_QUICK": "1"}}, fh)
        r = summarize.call(abrun.main, ["--base", "B", "--patched", "P", "--out", d, "--reanalyze", *extra])
        with open(os.path.join(d, "ab.json")) as fh:
            return r, json.load(fh)

    def test_ci_ab_with_prev(self):
        with tempfile.TemporaryDirectory() as d:
            r, doc = self.reanalyze(d, {"base": 2.0, "patched": 1.0, "prev": 0.5}, "--prev", "V")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(doc["labels"], ["base", "patched"])
            self.assertEqual(doc["prev_label"], "prev")
            self.assertEqual(doc["trees"], {"base": "B", "patched": "P", "prev": "V"})
            self.assertEqual(len(doc["runs"]), 12)
            self.assertEqual(sum(e["regression"] for e in doc["entries"]), 0)
            (c,) = doc["comparisons"]
            self.assertEqual((c["a"], c["b"]), ("prev", "patched"))
            # 8 judged cases, 2 pooled, 2 cpu: all against prev, all in the top-level list
            self.assertEqual(len(c["regressions"]), 12)
            self.assertEqual(doc["regressions"], c["regressions"])
            self.assertTrue(all(x.startswith("vs prev: ") for x in doc["regressions"]))
            self.assertIn("vs prev: zram munmap 64 MB", r.stderr)
            with open(os.path.join(d, "meta.json"), "w") as f:
                json.dump({"kernel": {"version": "7.3"}, "series": None, "runs": []}, f)
            s = summarize.run(d)
            self.assertIn("problem: A/B regression: vs prev: zram munmap 64 MB", s.stdout)
            with open(os.path.join(d, "summary.json")) as f:
                summary = json.load(f)
            text = render("r", summary, doc, None)
            self.assertIn("## vs prev: prev → patched", text)
            self.assertIn("| zram | 4 | 4 |", text)   # the CPU table

    def test_ci_ab_without_prev_has_no_comparison(self):
        with tempfile.TemporaryDirectory() as d:
            r, doc = self.reanalyze(d, {"base": 1.0, "patched": 1.0})
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual((doc["comparisons"], doc["prev_label"], doc["regressions"]), ([], None, []))
            self.assertEqual([e["backend"] for e in doc["cpu"]], ["zram", "zswap"])
            self.assertTrue(all(e["judged"] for e in doc["cpu"]))

    def test_labels_must_match_the_kernels(self):
        with tempfile.TemporaryDirectory() as d:
            for extra in (["--labels", "a,b,c"], ["--prev", "V", "--labels", "a,b,a"], ["--labels", "a"]):
                r = summarize.call(abrun.main, ["--base", "B", "--patched", "P", "--out", d, "--reanalyze",
                                                *extra])
                self.assertEqual(r.returncode, 2, (extra, r.stderr))
                self.assertIn("distinct names", r.stderr)
