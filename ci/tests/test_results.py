# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/results.py and ci/summary: counts, splats and the verdict."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from zsgate.results import (count_kunit_json, find_splats, kcsan_counts, kcsan_known_base_race,
                            kcsan_reports, skip_reasons)
from tests import summarize

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KUNIT_JSON = {
    "name": "KUnit Test Group", "test_cases": [],
    "sub_groups": [{
        "name": "zsmalloc", "test_cases": [
            {"name": "encoding", "status": "PASS"},
            {"name": "deferred_batching", "status": "SKIP"},
            {"name": "crashy", "status": "ERROR"}],
        "sub_groups": [{"name": "param", "sub_groups": [], "test_cases": [
            {"name": "class 0", "status": "PASS"}, {"name": "class 1", "status": "FAIL"}]}],
    }],
}


def write(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class CountTest(unittest.TestCase):
    def test_leaves_are_counted_error_is_failure(self):
        with tempfile.TemporaryDirectory() as d:
            write(os.path.join(d, "r.json"), KUNIT_JSON)
            self.assertEqual(count_kunit_json(os.path.join(d, "r.json")), {"pass": 2, "fail": 2, "skip": 1})

    def test_skip_reasons(self):
        lines = ["    ok 1 encoding # SKIP ZS_OBJ_CLASS_BITS is 0 on this arch", "    ok 2 other"]
        self.assertEqual(skip_reasons(lines), ["encoding: ZS_OBJ_CLASS_BITS is 0 on this arch"])

    def test_splats(self):
        log = ["[    1.0] ok", "[    2.0] WARNING: CPU: 1 PID: 5 at mm/zsmalloc.c:100 zs_free+0x1",
               "[    3.0] BUG: KASAN: use-after-free in zs_free", "# ok 1 - no warning here"]
        self.assertEqual(len(find_splats(log)), 2)

    def test_kcsan_reports_ours_and_other(self):
        log = ["[    4.1] BUG: KCSAN: data-race in zs_deferred_drain_full / zs_free_deferred",
               "[    4.2] read to 0xffff888003 of 4 bytes by task 80 on cpu 1:",
               "[    5.0] BUG: KCSAN: data-race in tick_nohz_idle_stop_tick / tick_sched_timer",
               "[    6.0] BUG: KCSAN: data-race in zs_deferred_drain_full / zs_free_deferred",
               "[    0.5] kcsan: enabled early"]
        k = kcsan_reports(log)
        self.assertEqual((k["reports"], k["ours_reports"]), (3, 2))
        self.assertEqual(k["ours"], ["BUG: KCSAN: data-race in zs_deferred_drain_full / zs_free_deferred"])
        self.assertEqual(k["other"], ["BUG: KCSAN: data-race in tick_nohz_idle_stop_tick / tick_sched_timer"])
        self.assertEqual(kcsan_reports(log, count_all=True)["ours_reports"], 3)
        self.assertEqual(kcsan_reports(log + ["[    7.0]     not ok 3 test_deferred_enqueue_vs_drain",
                                              "[    7.1]     ok 4 test_other"])["during"],
                         {"BUG: KCSAN: data-race in zs_deferred_drain_full / zs_free_deferred":
                          "test_deferred_enqueue_vs_drain",
                          "BUG: KCSAN: data-race in tick_nohz_idle_stop_tick / tick_sched_timer":
                          "test_deferred_enqueue_vs_drain"})
        # with the suite's case start lines, the case that started before the report
        started = ["[ 3.9]     # test_free_migrate_race: zsgate: case start", log[0],
                   "[ 4.5]     ok 1 test_free_migrate_race", "[ 4.6]     # test_b: zsgate: case start",
                   "[ 4.7]     ok 2 test_b"]
        self.assertEqual(kcsan_reports(started)["during"],
                         {"BUG: KCSAN: data-race in zs_deferred_drain_full / zs_free_deferred":
                          "test_free_migrate_race"})
        # a KCSAN run's splats leave the reports to kcsan_reports(); other splats stay
        self.assertEqual(find_splats(log + ["[ 7.0] WARNING: CPU: 0 PID: 1 at x"], kcsan=True),
                         ["[ 7.0] WARNING: CPU: 0 PID: 1 at x"])
        self.assertEqual(len(find_splats(log)), 3)

    def test_known_base_races_are_not_counted(self):
        """The zspage bitfield word of base zsmalloc: writer fix_fullness_group() against the
        lockless readers, either order; a race of the same writer with anything else counts."""
        for t in ("BUG: KCSAN: data-race in fix_fullness_group / zs_page_migrate",
                  "BUG: KCSAN: data-race in zst_verify / fix_fullness_group"):
            self.assertTrue(kcsan_known_base_race(t), t)
            self.assertFalse(kcsan_counts(t), t)
            self.assertTrue(kcsan_counts(t, count_all=True), t)
        for t in ("BUG: KCSAN: data-race in fix_fullness_group / fix_fullness_group",
                  "BUG: KCSAN: data-race in fix_fullness_group / zs_free_deferred",
                  "BUG: KCSAN: data-race in migrate_zspage / zs_page_migrate"):
            self.assertFalse(kcsan_known_base_race(t), t)
            self.assertTrue(kcsan_counts(t), t)
        k = kcsan_reports(["[ 1.0] BUG: KCSAN: data-race in fix_fullness_group / zs_page_migrate",
                           "[ 2.0] BUG: KCSAN: data-race in zs_deferred_drain_full / zs_free_deferred"])
        self.assertEqual((k["ours_reports"], k["known"], k["other"]),
                         (1, ["BUG: KCSAN: data-race in fix_fullness_group / zs_page_migrate"], []))

    def test_ci_kunit_judges_kcsan_with_zsgate_results(self):
        """ci/kunit --kcsan (zsgate/kunitrun.py) calls the code ci/summary uses; its exit and
        kcsan.txt (the same as `python3 -m zsgate.results kcsan LOG`)."""
        with open(os.path.join(CI, "zsgate", "kunitrun.py"), encoding="utf-8") as f:
            self.assertIn("results.kcsan_text(", f.read())
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "r.log")
            for lines, rc in ((["[ 1.0] BUG: KCSAN: data-race in fix_fullness_group / zs_page_migrate",
                                "[ 1.5] BUG: KCSAN: data-race in watchdog_check_skew / watchdog_check_skew"], 0),
                              (["[ 2.0] BUG: KCSAN: data-race in zs_deferred_drain_full / zs_free_deferred"], 1)):
                with open(log, "w", encoding="utf-8") as f:
                    f.write("\n".join(lines) + "\n")
                r = subprocess.run([sys.executable, "-m", "zsgate.results", "kcsan", log], cwd=CI,
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, rc, r.stdout + r.stderr)
                self.assertTrue(r.stdout.startswith(f"KCSAN reports: {len(lines)}, naming zsmalloc/zram/zswap/"
                                                    f"suite code: {rc}"), r.stdout)


class MetaTest(unittest.TestCase):
    def test_runs_steps_notes(self):
        meta = os.path.join(CI, "meta")
        with tempfile.TemporaryDirectory() as d:
            for args in (["init", "7.3.0", "true", "p", "/k", "quilt", "id", "/s"],
                         ["add-run", "kunit-x86_64-patched-kcsan", "x86_64", "patched", "kunit", "kcsan"],
                         ["add-run", "vm-um-base", "um", "base", "vm"],
                         ["add-step", "source", "100.25", "103,75"],
                         ["add-step", "kunit-x86_64-patched-kcsan", "103.75", "200", "1"],
                         ["note", "kcsan", "not run: KCSAN=0"]):
                r = subprocess.run([sys.executable, meta, d] + args, capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
            m = load(os.path.join(d, "meta.json"))
            self.assertEqual([r.get("config") for r in m["runs"]], ["kcsan", None])
            self.assertEqual(m["steps"], [{"name": "source", "start": 100.25, "seconds": 3.5},
                                          {"name": "kunit-x86_64-patched-kcsan", "start": 103.75,
                                           "seconds": 96.2, "exit": 1}])
            self.assertEqual(m["notes"], {"kcsan": "not run: KCSAN=0"})


class SummaryTest(unittest.TestCase):
    def run_summary(self, d):
        return summarize.run(d)

    def meta(self, d, runs):
        write(os.path.join(d, "meta.json"), {
            "kernel": {"version": "7.3.0-rc7", "part_a": True, "package": "p", "path": "/k"},
            "series": None, "runs": [{"name": r, "arch": "um", "revision": "base", "kind": "kunit"} for r in runs]})

    def test_pass(self):
        with tempfile.TemporaryDirectory() as d:
            self.meta(d, ["kunit-um-base"])
            write(os.path.join(d, "kunit-um-base.json"), {"test_cases": [{"name": "a", "status": "PASS"}]})
            r = self.run_summary(d)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            s = load(os.path.join(d, "summary.json"))
            self.assertEqual((s["verdict"], s["series"], s["runs"][0]["pass"]), ("pass", None, 1))

    def test_missing_results_and_splat_fail(self):
        with tempfile.TemporaryDirectory() as d:
            self.meta(d, ["kunit-um-base", "kunit-x86_64-base"])
            write(os.path.join(d, "kunit-um-base.json"), {"test_cases": [{"name": "a", "status": "PASS"}]})
            with open(os.path.join(d, "kunit-um-base.log"), "w", encoding="utf-8") as f:
                f.write("BUG: sleeping function called from invalid context\n")
            r = self.run_summary(d)
            self.assertEqual(r.returncode, 1)
            s = load(os.path.join(d, "summary.json"))
            self.assertEqual(s["verdict"], "fail")
            self.assertEqual(len(s["splats"]), 1)
            self.assertTrue(any("kunit-x86_64-base: no results" in p for p in s["problems"]))

    def test_entry_point(self):
        """ci/summary, the program ci/gate runs: the module's verdict, exit code and lines;
        exit 2 without a run dir."""
        with tempfile.TemporaryDirectory() as d:
            self.meta(d, ["kunit-um-base", "kunit-x86_64-base"])
            write(os.path.join(d, "kunit-um-base.json"), {"test_cases": [{"name": "a", "status": "PASS"}]})
            for rc, (cases, fail) in enumerate(((["PASS"], 0), (["PASS", "FAIL"], 1))):
                write(os.path.join(d, "kunit-x86_64-base.json"),
                      {"test_cases": [{"name": f"c{i}", "status": st} for i, st in enumerate(cases)]})
                r = subprocess.run([os.path.join(CI, "summary"), d], capture_output=True, text=True)
                self.assertEqual(r.returncode, rc, r.stdout + r.stderr)
                self.assertRegex(r.stdout, rf"kunit-x86_64-base +{len(cases) - fail} +{fail} +0")
                self.assertIn(f"verdict: {('PASS', 'FAIL')[rc]}  ({d}/summary.json)", r.stdout)
                s = load(os.path.join(d, "summary.json"))
                self.assertEqual([x["name"] for x in s["steps"]], ["summary"])
                m = summarize.run(d)
                self.assertEqual((m.returncode, m.stdout), (r.returncode, r.stdout))
            r = subprocess.run([os.path.join(CI, "summary"), os.path.join(d, "nope")], capture_output=True, text=True)
            self.assertEqual((r.returncode, r.stdout), (2, ""))
            self.assertIn("usage: ci/summary RUN_DIR", r.stderr)

    def rule_run(self, d, base_cases, patched_cases, series=True):
        write(os.path.join(d, "meta.json"), {
            "kernel": {"version": "7.3.0-rc7", "part_a": True, "package": "p", "path": "/k"},
            "series": {"kind": "quilt", "id": "x", "path": "/s"} if series else None,
            "runs": [{"name": f"vm-um-{rev}", "arch": "um", "revision": rev, "kind": "vm"}
                     for rev in ("base", "patched")]})
        for rev, cases in (("base", base_cases), ("patched", patched_cases)):
            write(os.path.join(d, f"vm-um-{rev}.json"), {"name": "g", "sub_groups": [{
                "name": "zram_free", "sub_groups": [],
                "test_cases": [{"name": n, "status": st} for n, st in cases]}]})
        return self.run_summary(d), load(os.path.join(d, "summary.json"))

    def test_failure_on_base_too_is_reported_not_judged(self):
        with tempfile.TemporaryDirectory() as d:
            r, s = self.rule_run(d, [("race", "FAIL"), ("a", "PASS")], [("race", "FAIL"), ("a", "PASS")])
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertEqual([(b["case"], b["also_in_patched"]) for b in s["base_failures"]],
                             [("zram_free.race", True)])
            self.assertIn("base failure", r.stdout)

    def test_new_failure_on_patched_fails(self):
        with tempfile.TemporaryDirectory() as d:
            r, s = self.rule_run(d, [("race", "PASS"), ("a", "FAIL")], [("race", "FAIL"), ("a", "FAIL")])
            self.assertEqual(r.returncode, 1)
            self.assertEqual(s["problems"], ["vm-um-patched: 1 failed that pass on base: zram_free.race"])

    def test_without_series_every_failure_counts(self):
        with tempfile.TemporaryDirectory() as d:
            r, s = self.rule_run(d, [("race", "FAIL")], [("race", "FAIL")], series=False)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(len(s["problems"]), 2)

    def test_incomplete_vm_fails_on_base_too(self):
        """A VM that never ran its tests fails the verdict even when base is as broken."""
        with tempfile.TemporaryDirectory() as d:
            never = [("zram_free", "FAIL"), ("zswap_free", "FAIL")]
            for rev in ("base", "patched"):
                write(os.path.join(d, f"vm-um-{rev}.vm.json"), {
                    "status": "incomplete", "problems": ["the guest ended (exit 0) without finishing the run"]})
            r, s = self.rule_run(d, never, never)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertEqual(sum("the VM run is incomplete" in p for p in s["problems"]), 2)

    def kcsan_run(self, d, console, cases=(("test_contract_deferred_race", "PASS"),)):
        write(os.path.join(d, "meta.json"), {
            "kernel": {"version": "7.3.0-rc7", "part_a": True, "package": "p", "path": "/k"},
            "series": {"kind": "quilt", "id": "x", "path": "/s"},
            "runs": [{"name": "kunit-x86_64-base", "arch": "x86_64", "revision": "base", "kind": "kunit"},
                     {"name": "kunit-x86_64-patched-kcsan", "arch": "x86_64", "revision": "patched",
                      "kind": "kunit", "config": "kcsan"}],
            "steps": [{"name": "tree-base", "start": 1000.0, "seconds": 2.0},
                      {"name": "kunit-x86_64-patched-kcsan", "start": 1002.0, "seconds": 100.0, "exit": 1}]})
        write(os.path.join(d, "kunit-x86_64-base.json"), {"name": "g", "sub_groups": [{
            "name": "zsmalloc", "sub_groups": [], "test_cases": [
                {"name": "test_contract_deferred_race", "status": "FAIL"}]}]})
        write(os.path.join(d, "kunit-x86_64-patched-kcsan.json"), {"name": "g", "sub_groups": [{
            "name": "zsmalloc", "sub_groups": [],
            "test_cases": [{"name": n, "status": st} for n, st in cases]}]})
        with open(os.path.join(d, "kunit-x86_64-patched-kcsan.log"), "w", encoding="utf-8") as f:
            f.write("\n".join(console) + "\n")
        with open(os.path.join(d, "kunit-x86_64-patched-kcsan.build.log"), "w", encoding="utf-8") as f:
            f.write("[01:02:03] Elapsed time: 90.000s total, 1.000s configuring, 60.000s building, "
                    "29.000s running\n")
        return self.run_summary(d), load(os.path.join(d, "summary.json"))

    def test_kcsan_report_in_zsmalloc_fails(self):
        with tempfile.TemporaryDirectory() as d:
            r, s = self.kcsan_run(d, ["[ 4.1] BUG: KCSAN: data-race in zs_deferred_drain_full / zs_free_deferred",
                                      "[ 5.0]     ok 1 test_contract_deferred_race"])
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertEqual(s["problems"], [
                "kunit-x86_64-patched-kcsan: 1 KCSAN data-race report(s) in zsmalloc/zram/zswap: "
                "BUG: KCSAN: data-race in zs_deferred_drain_full / zs_free_deferred "
                "(during test_contract_deferred_race)"])
            self.assertEqual(s["splats"], [])   # judged once, as a KCSAN report
            self.assertIn("KCSAN [kunit-x86_64-patched-kcsan]: 1 report(s), 1 in zsmalloc", r.stdout)

    def test_kcsan_report_elsewhere_is_a_warning(self):
        with tempfile.TemporaryDirectory() as d:
            r, s = self.kcsan_run(d, ["[ 4.1] BUG: KCSAN: data-race in tick_sched_do_timer / tick_sched_timer"])
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertEqual(s["runs"][1]["kcsan"]["reports"], 1)
            self.assertTrue(any("outside zsmalloc/zram/zswap, not counted" in w for w in s["warnings"]))
            env = dict(os.environ, ZSGATE_KCSAN_ALL="1")
            r = summarize.run(d, env=env)
            self.assertEqual(r.returncode, 1, r.stdout)

    def test_patched_only_run_has_no_base_to_excuse_a_failure(self):
        """The KCSAN run's failing case fails the plain base run too: still counted, since
        no base run was built with KCSAN."""
        with tempfile.TemporaryDirectory() as d:
            r, s = self.kcsan_run(d, [], cases=(("test_contract_deferred_race", "FAIL"),))
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertEqual(s["problems"], [
                "kunit-x86_64-patched-kcsan: 1 failed (patched-only run, no base to compare): "
                "zsmalloc.test_contract_deferred_race"])
            self.assertEqual(s["base_failures"][0]["also_in_patched"], False)

    def test_steps_table(self):
        with tempfile.TemporaryDirectory() as d:
            r, s = self.kcsan_run(d, [])
            self.assertEqual([x["name"] for x in s["steps"]], ["tree-base", "kunit-x86_64-patched-kcsan", "summary"])
            k = s["steps"][1]
            self.assertEqual((k["kunit_py"], k["waited"], k["exit"]),
                             ({"configure": 1.0, "build": 60.0, "run": 29.0}, 10.0, 1))
            self.assertRegex(r.stdout, r"kunit-x86_64-patched-kcsan +100 s  build 61 s, run 29 s, waited 10 s  \(exit 1\)")
            self.assertRegex(r.stdout, r"\ntotal +\d+ s")
            from zsgate.report import render
            self.assertIn("| kunit-x86_64-patched-kcsan | 100 | 61 / 29 (waited 10) |", render("r", s, None, "p.png"))

    def test_ab_asked_for_without_ab_json_fails(self):
        # the gate ran ci/ab (its step is in meta.json), which ended before writing ab.json
        with tempfile.TemporaryDirectory() as d:
            self.meta(d, ["kunit-um-base"])
            write(os.path.join(d, "kunit-um-base.json"), {"test_cases": [{"name": "a", "status": "PASS"}]})
            meta = load(os.path.join(d, "meta.json"))
            meta["steps"] = [{"name": "ab", "start": 1.0, "seconds": 3.0, "exit": 2}]
            write(os.path.join(d, "meta.json"), meta)
            r = self.run_summary(d)
            self.assertEqual(r.returncode, 1, r.stdout)
            s = load(os.path.join(d, "summary.json"))
            self.assertEqual((s["verdict"], s["problems"], s["ab_not_run"]),
                             ("fail", ["A/B did not write ab.json (ci/ab exit 2)"], None))
            self.assertIn("problem: A/B did not write ab.json (ci/ab exit 2)\n", r.stdout)
            self.assertNotIn("A/B not run", r.stdout)

    def test_ab_not_asked_for_is_said_and_the_verdict_is_the_rest(self):
        with tempfile.TemporaryDirectory() as d:
            self.meta(d, ["kunit-um-base"])
            write(os.path.join(d, "kunit-um-base.json"), {"test_cases": [{"name": "a", "status": "PASS"}]})
            r = self.run_summary(d)  # no A/B step, no note: a run dir of a farm, an older gate
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("\nA/B not run (no A/B step in this run)\n", r.stdout)
            meta = load(os.path.join(d, "meta.json"))
            meta["notes"] = {"ab": "not run: --no-ab"}
            write(os.path.join(d, "meta.json"), meta)
            r = self.run_summary(d)
            self.assertEqual(r.returncode, 0, r.stdout)
            s = load(os.path.join(d, "summary.json"))
            self.assertEqual((s["verdict"], s["problems"], s["ab_not_run"], s["ab_run"]), ("pass", [], "--no-ab", None))
            self.assertIn("\nA/B not run (--no-ab)\n", r.stdout)
            self.assertNotIn("note: ab:", r.stdout)

    def test_no_test_ran_fails(self):
        with tempfile.TemporaryDirectory() as d:
            self.meta(d, ["kunit-um-base"])
            write(os.path.join(d, "kunit-um-base.json"), {"test_cases": [], "sub_groups": []})
            self.assertEqual(self.run_summary(d).returncode, 1)


if __name__ == "__main__":
    unittest.main()
