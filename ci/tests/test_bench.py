# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/bench.py (make bench's tables) on synthetic figures of four kernels."""
import os
import random
import re
import unittest

from zsgate import ab, bench


def fig(backend, case, size, procs, med, **kw):
    d = {"backend": backend, "case": case, "size_mb": size, "procs": procs, "median_us": med,
         "p10_us": med * 0.9, "p90_us": med * 1.1, "rounds": 3}
    d.update(kw)
    return d


# per case: 7.2, 7.3, patched, limit release times (us)
TIMES = {("zram", "munmap", 256, 1): (60000, 57000, 17000, 9000),
         ("zram", "teardown_munmap", 256, 3): (200000, 150000, 50000, 30000),
         ("zswap", "munmap", 256, 1): (70000, 66000, 30000, 10000),
         ("zram", "munmap_compact", 256, 1): (90000, 80000, 30000, 20000),
         ("zram", "munmap_pressure", 256, 1): (120000, 110000, 60000, 40000),
         ("zram", "teardown_exit_pressure", 256, 4): (300000, 280000, 150000, 100000),
         ("zram", "swapin", 256, 1): (1358000, 1300000, 1100000, 1100000)}


def boots(rng, n=5, noise=0.03, times=None, mixed=True):
    """Interleaved boots of the four kernels, lognormal noise; CPU columns: patched moves
    the free from munmap() to kworkers, a little more in total."""
    out = []
    for _ in range(n):
        for i, lab in enumerate(bench.LABELS):
            figs = []
            for (be, c, s, p), ts in (times or TIMES).items():
                t = ts[i] * rng.lognormvariate(0, noise)
                kw = {"cpu_us": t * (0.3 if lab == "patched" else 0.9),
                      "kworker_us": t * (0.7 if lab == "patched" else 0.05)}
                kw["cpu_total_us"] = kw["cpu_us"] + kw["kworker_us"]
                if c == "munmap_pressure":
                    kw.update(ret50_ms=5.0, ret90_ms=-1 if lab == "limit" else 9.0, avail50_ms=20.0,
                              avail90_ms=40.0)
                figs.append(fig(be, c, s, p, t, **kw))
            if mixed:
                for pct, t in ((50, 30000.0 - 2000 * i), (0, 60000.0 - 10000 * i)):
                    figs.append(fig("zram", "munmap_mixed", 256, 1, t * rng.lognormvariate(0, noise),
                                    resident_pct=pct, ret50_ms=3.0 + i, ret90_ms=6.0 + i,
                                    avail50_ms=10.0, avail90_ms=-1.0))
            out.append((lab, figs))
    return out


class BenchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = bench.analyze(boots(random.Random(7)))

    def find(self, entries, backend, case, procs=1):
        hits = [e for e in entries if e["backend"] == backend and e["case"] == case and e["procs"] == procs]
        self.assertEqual(len(hits), 1, (backend, case, procs))
        return hits[0]

    def test_mixed_split_keeps_both_variants(self):
        cases = bench.collect(boots(random.Random(1), n=2))
        names = {k[1] for k in cases}
        self.assertIn("munmap_mixed_r50", names)
        self.assertIn("munmap_mixed_r0", names)
        self.assertNotIn("munmap_mixed", names)
        # plain ab.collect would merge them into one case
        merged = ab.collect(boots(random.Random(1), n=2))
        self.assertEqual(len(merged[("zram", "munmap_mixed", 256, 1)]["7.3"]), 4)

    def test_steps_speedups(self):
        a = self.find(self.doc["part_a"], "zram", "teardown_munmap", 3)
        self.assertAlmostEqual(a["speedup"], 200 / 150, delta=0.08)
        self.assertEqual(a["labels"], ["7.2", "7.3"])
        self.assertEqual(a["mode"], "multi 3p")
        b = self.find(self.doc["part_b"], "zram", "munmap")
        self.assertAlmostEqual(b["speedup"], 57 / 17, delta=0.1 * 57 / 17)   # 3 % noise, 5 boots
        self.assertLessEqual(b["speedup_lo"], b["speedup"])
        self.assertGreaterEqual(b["speedup_hi"], b["speedup"])
        self.assertEqual(b["mode"], "256MB")
        self.assertEqual(b["rounds"], {"7.3": 5, "patched": 5})

    def test_achieved_against_the_limit(self):
        e = self.find(self.doc["achieved"], "zram", "munmap")
        self.assertAlmostEqual(e["achieved"], (57 - 17) / (57 - 9), delta=0.05)
        self.assertLess(e["achieved_lo"], e["achieved"])
        self.assertGreater(e["achieved_hi"], e["achieved"])
        z = self.find(self.doc["achieved"], "zswap", "munmap")
        self.assertAlmostEqual(z["achieved"], (66 - 30) / (66 - 10), delta=0.05)
        cases = {e["case"] for e in self.doc["achieved"]}
        self.assertIn("munmap_mixed_r50", cases)
        self.assertIn("munmap_compact", cases)
        self.assertNotIn("swapin", cases)   # not a release
        t = self.find(self.doc["achieved"], "zram", "teardown_exit_pressure", 4)
        self.assertAlmostEqual(t["achieved"], (280 - 150) / (280 - 100), delta=0.06)
        self.assertEqual(t["mode"], "exit, every CPU busy 4x256MB")

    def test_achieved_without_room(self):
        """A limit no faster than the base gives no achieved value, and a limit within the
        noise of the base no interval: the emulator, not the revision, sets the pace."""
        self.assertIsNone(bench.achieved_interval([100, 101, 99], [90, 91, 89], [120, 121, 119])[0])
        point, lo, hi, valid = bench.achieved_interval([100, 130, 70, 100, 100], [99, 98, 101, 100, 99],
                                                       [95, 140, 60, 99, 101], boot=500)
        self.assertIsNotNone(point)
        self.assertIsNone(lo)
        self.assertLess(valid, bench.ACHIEVED_MIN_VALID)

    def test_achieved_interval_covers_the_truth(self):
        """90 % of synthetic benches with true achieved 0.5 give an interval around it."""
        rng, hit = random.Random(3), 0
        for _ in range(40):
            b = [100 * rng.lognormvariate(0, 0.05) for _ in range(5)]
            p = [60 * rng.lognormvariate(0, 0.05) for _ in range(5)]
            lim = [20 * rng.lognormvariate(0, 0.05) for _ in range(5)]
            _, lo, hi, _ = bench.achieved_interval(b, p, lim, boot=400, seed=rng.randrange(1 << 30))
            hit += lo <= 0.5 <= hi
        self.assertGreaterEqual(hit, 32)

    def test_cpu_with_and_without_pressure(self):
        rows = {(r["case"], r["pressure"]) for r in self.doc["cpu"]}
        self.assertEqual(rows, {("munmap", False), ("munmap_pressure", True)})
        r = [r for r in self.doc["cpu"] if r["backend"] == "zram" and r["case"] == "munmap"][0]
        self.assertLess(r["patched"]["cpu_us"], r["base"]["cpu_us"])
        self.assertGreater(r["patched"]["kworker_us"], r["base"]["kworker_us"])
        # totals: 7.3 0.95 x 57 ms, patched 1.0 x 17 ms
        self.assertAlmostEqual(r["cpu_total_ratio"], 17 / (0.95 * 57), delta=0.05)

    def test_compaction_swapin_mixed_and_return_curves(self):
        self.assertEqual([e["case"] for e in self.doc["compaction"]], ["munmap_compact"])
        s = self.doc["swapin"]["part_a"][0]
        self.assertAlmostEqual(s["speedup"], 1358 / 1300, delta=0.05)
        self.assertAlmostEqual(self.doc["swapin"]["part_b"][0]["speedup"], 1300 / 1100, delta=0.05)
        self.assertEqual({e["case"] for e in self.doc["mixed"]}, {"munmap_mixed_r50", "munmap_mixed_r0"})
        curves = {r["case"]: r for r in self.doc["return_curves"]}
        self.assertEqual(set(curves), {"munmap_mixed_r50", "munmap_mixed_r0", "munmap_pressure",
                                       "teardown_exit_pressure"})
        k = curves["munmap_pressure"]["kernels"]
        self.assertEqual(set(k), set(bench.LABELS))
        self.assertIsNone(k["limit"]["ret90_ms"])          # never reached on the control
        self.assertEqual(k["limit"]["ret90_missed"], 5)
        self.assertEqual(k["patched"]["ret90_ms"], 9.0)
        self.assertEqual(curves["munmap_mixed_r50"]["kernels"]["patched"]["ret50_ms"], 5.0)
        self.assertEqual(curves["munmap_mixed_r0"]["mode"], "100 % swapped 256MB")

    def test_markdown_has_every_table(self):
        md = bench.markdown(self.doc)
        for s in ("## Part A: 7.2 → 7.3", "## Part B: 7.3 → patched", "## Against the limit",
                  "## CPU", "## Compaction running", "## Swap-in", "## Memory back over time",
                  "zram, Test 1: concurrent munmap:", "| multi 3p |", "| 256MB |",
                  "| mode | Base (7.3) | Patched (patched) | Speedup [95 %] |", "50 % resident",
                  "(5 missed)"):
            self.assertIn(s, md)
        # the bench cases in RELEASE_CASES order, not by name
        self.assertLess(md.index("| 50 % resident 256MB |"), md.index("| 100 % swapped 256MB |"))
        b = self.find(self.doc["part_b"], "zram", "munmap")
        self.assertIn(f"{b['speedup']:.2f}x [{b['speedup_lo']:.2f}, {b['speedup_hi']:.2f}]", md)
        self.assertNotIn("None", md)

    def test_missing_kernels_say_not_run(self):
        only = [(lab, f) for lab, f in boots(random.Random(2), n=2) if lab in ("7.3", "patched")]
        doc = bench.analyze(only)
        self.assertEqual(doc["part_a"], [])
        self.assertEqual(doc["achieved"], [])
        self.assertTrue(doc["part_b"])
        md = bench.markdown(doc)
        self.assertIn("not run: no boots of both 7.2 and 7.3", md)
        self.assertIn("not run: no release case with boots of 7.3, patched and limit", md)
        self.assertEqual(doc["boots"], {"7.3": 2, "patched": 2})

    def test_host_busy_warning_is_carried(self):
        runs = [{"name": "bench-7.3-r1", "host_other_cpus": 0.9}, {"name": "bench-limit-r1", "host_other_cpus": 0.0}]
        doc = bench.analyze(boots(random.Random(4), n=2), runs=runs)
        self.assertEqual(len(doc["warnings"]), 1)
        self.assertIn("**Warning:** host busy", bench.markdown(doc))


class GuestCasesTest(unittest.TestCase):
    def test_every_case_bench_knows_is_one_the_guest_prints(self):
        """bench.py's case names (munmap_mixed_r<pct> from case=munmap_mixed resident_pct=<pct>)
        against the case= names the selftests print, so a renamed figure fails here."""
        common = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                              "selftests", "zsfree_common")
        text = "".join(open(os.path.join(common, f), encoding="utf-8").read()
                       for f in ("zsf_tests_latency.h", "zsf_tests_bench.h"))
        printed = set(re.findall(r"case=(\w+)", text)) | set(re.findall(r'zsf_bench_figure\([^,]+, "(\w+)"', text))
        printed |= {"return_munmap", "return_exit"}   # return_rate prints case=%s
        for pct in re.findall(r"\.resident_pct = (\d+)", text):
            printed.add(f"munmap_mixed_r{pct}")
        for case in bench.RELEASE_CASES + ("swapin",):
            self.assertIn(case, printed)


if __name__ == "__main__":
    unittest.main()


class BenchRunTest(unittest.TestCase):
    """ci/bench --reanalyze: the boots' files of a run dir -> bench.json, bench.md and the
    two plots, through zsgate.boots (the A/B's loop) in its reanalyze mode."""

    def test_reanalyze_writes_tables_and_plots(self):
        import json
        import subprocess
        import tempfile
        from zsgate import boots as zboots, rundir
        ci = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        with tempfile.TemporaryDirectory() as d:
            sub = rundir.bench_dir(d)
            os.makedirs(sub)
            kernels = {lab: {"tree": f"/t/{lab}", "version": "7.3.0", "build": "ok", "series_id": "",
                             "counts": {"pass": 1, "fail": 0, "skip": 0}} for lab in bench.LABELS}
            with open(rundir.path(d, rundir.BENCH), "w") as f:
                json.dump({"kernels": kernels, "rounds": 3}, f)
            req = zboots.Request(tuple(zboots.Kernel(lab, k["tree"]) for lab, k in kernels.items()), sub,
                                 "x86_64", 3, "", 1, "", False, 0, prefix="bench")
            rng = random.Random(3)
            data = boots(rng, n=3)
            per = {lab: [figs for l2, figs in data if l2 == lab] for lab in bench.LABELS}
            for lab in bench.LABELS:
                for i in range(1, 4):
                    name = zboots.boot_name(req, lab, i)
                    with open(rundir.run_file(sub, name, "vm.json"), "w") as f:
                        json.dump({"status": "pass", "seconds": 60, "counts": {"pass": 9, "fail": 0},
                                   "env": {"ZSGATE_ROUNDS": "1", "ZSGATE_QUICK": "0"}}, f)
                    with open(rundir.run_file(sub, name, "figures.json"), "w") as f:
                        json.dump(per[lab][i - 1], f)
            r = subprocess.run([os.path.join(ci, "bench"), "--reanalyze", d], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            doc = rundir.read_json(rundir.path(d, rundir.BENCH))
            self.assertEqual(doc["boots"], {lab: 3 for lab in bench.LABELS})
            self.assertTrue(doc["part_a"] and doc["part_b"] and doc["achieved"])
            with open(rundir.path(d, rundir.BENCH_MD)) as f:
                md = f.read()
            self.assertIn("## Part A: 7.2 → 7.3", md)
            self.assertIn("| limit | 7.3.0 | CONTROL, never a revision | 1/0/0 |", md)
            if subprocess.run(["/usr/bin/python3", "-c", "import matplotlib"]).returncode == 0:
                for png in (rundir.BENCH_SPEEDUP_PNG, rundir.BENCH_RETURN_PNG):
                    self.assertGreater(os.path.getsize(rundir.path(d, png)), 10000, r.stderr)
