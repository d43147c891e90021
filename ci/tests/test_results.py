# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/results.py and ci/summary: counts, splats and the verdict."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from zsgate.results import count_kunit_json, find_splats, skip_reasons

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


class SummaryTest(unittest.TestCase):
    def run_summary(self, d):
        return subprocess.run([sys.executable, os.path.join(CI, "summary"), d], capture_output=True, text=True)

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

    def test_no_test_ran_fails(self):
        with tempfile.TemporaryDirectory() as d:
            self.meta(d, ["kunit-um-base"])
            write(os.path.join(d, "kunit-um-base.json"), {"test_cases": [], "sub_groups": []})
            self.assertEqual(self.run_summary(d).returncode, 1)


if __name__ == "__main__":
    unittest.main()
