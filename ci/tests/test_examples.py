# SPDX-License-Identifier: GPL-2.0
"""ci/examples (zsgate/examples.py): example headers, and the expect/catch rule over the real ci/summary.

The gate is a fake (ZSGATE_EXAMPLES_GATE): for the example in SERIES it writes the runs
listed in its fake-runs.json (kunit.py JSON shape; "BUILD-FAILS" writes a build log with
a compiler error and no results) and meta.json, then runs the real ci/summary, as ci/gate
does. ci/tests/data/examples/ holds a good example and bad twins that are caught, fail by
not building, or survive, and a good one the gate rejects.
"""
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
import unittest.mock

from zsgate import examples as exm

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)
DATA = os.path.join(CI, "tests", "data", "examples")


FAKE_GATE = r'''#!/usr/bin/env python3
import json, os, subprocess, sys
ci, series, out, rid = sys.argv[1], os.environ["SERIES"], os.environ["OUT"], os.environ["RUN_ID"]
run = os.path.join(out, rid)
os.makedirs(run, exist_ok=True)
with open(os.path.join(out, "calls.txt"), "a") as f:
    f.write(json.dumps({"name": rid, "archs": os.environ["ARCHS"], "no_ab": os.environ.get("ZSGATE_NO_AB"),
                        "tree": os.environ.get("ZSGATE_PATCHED_TREE"), "base": os.environ.get("BASE")}) + "\n")
with open(os.path.join(series, "fake-runs.json")) as f:
    spec = json.load(f)
runs = []
for arch in os.environ["ARCHS"].split():
    for key, cases in spec.items():
        name = key.replace("ARCH", arch)
        kind, _, rev = name.split("-")
        runs.append({"name": name, "arch": arch, "revision": rev, "kind": kind})
        if cases == "BUILD-FAILS":
            with open(os.path.join(run, name + ".build.log"), "w") as f:
                f.write("[1] Building KUnit Kernel ...\n../mm/zsmalloc.c:77:3: error: 'x' undeclared\n")
            continue
        groups = {}
        for case, st in cases.items():
            parts = case.split(".")
            g = groups.setdefault(parts[0], {"name": parts[0], "test_cases": [], "sub_groups": []})
            if len(parts) > 2 and kind == "kunit":
                g["sub_groups"].append({"name": parts[1], "sub_groups": [], "test_cases": [
                    {"name": ".".join(parts[2:]), "status": st}]})
            else:
                g["test_cases"].append({"name": ".".join(parts[1:]), "status": st})
        with open(os.path.join(run, name + ".json"), "w") as f:
            json.dump({"name": "g", "test_cases": [], "sub_groups": list(groups.values())}, f)
with open(os.path.join(run, "meta.json"), "w") as f:
    json.dump({"kernel": {"version": "7.3.0-rc7", "part_a": True, "package": "p", "path": "/k"},
               "series": {"kind": "quilt", "id": rid, "path": series}, "runs": runs}, f)
sys.exit(subprocess.run([sys.executable, os.path.join(ci, "summary"), run]).returncode)
'''


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class HeaderTest(unittest.TestCase):
    def test_fake_examples_parse(self):
        ex = exm.parse_example(os.path.join(DATA, "good-bad"))
        self.assertEqual((ex["expect"], ex["twin_of"], ex["arch"]), ("fail", "good", "x86_64"))
        self.assertEqual([c["item"] for c in ex["catch"]],
                         ["kunit:zsmalloc.test_contract_deferred_destroy_pending", "vm:zram_free.integrity.*"])
        self.assertEqual(exm.parse_example(os.path.join(DATA, "good"))["arch"], "any")

    def test_every_real_example_parses(self):
        d = os.path.join(ROOT, "series", "examples")
        names = [n for n in sorted(os.listdir(d)) if os.path.isfile(os.path.join(d, n, "series"))] \
            if os.path.isdir(d) else []
        for n in names:
            ex = exm.parse_example(os.path.join(d, n))
            if ex["expect"] == "fail":
                self.assertTrue(ex["catch"], n)
                self.assertTrue(os.path.isfile(os.path.join(d, ex["twin_of"], "series")), n)

    def test_bad_headers(self):
        with tempfile.TemporaryDirectory() as d:
            for text, msg in (("0001.patch\n", "no '# expect"),
                              ("# expect: maybe\n", "pass or fail"),
                              ("# expect: fail\n", "needs a '# catch:'"),
                              ("# expect: fail\n# catch: ab\n", "not 'ab'"),
                              ("# expect: pass\n# arch: arm64\n", "arch must be"),
                              ("# expect: pass\n# base: sid\n", "base is a Debian kernel version")):
                write(os.path.join(d, "series"), text)
                with self.assertRaises(exm.ExampleError) as cm:
                    exm.parse_example(d)
                self.assertIn(msg, str(cm.exception))

    def test_catalogue(self):
        self.assertEqual([e["name"] for e in exm.catalogue(DATA, "good-bad, good")], ["good", "good-bad"])
        self.assertEqual(exm.list_line(exm.parse_example(os.path.join(DATA, "good-bad"))),
                         "good-bad                         fail x86_64      base 7.2 "
                         "kunit:zsmalloc.test_contract_deferred_destroy_pending, vm:zram_free.integrity.*")
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(exm.ExampleError, "^no example in "):
                exm.catalogue(d)
            os.mkdir(os.path.join(d, "x"))
            write(os.path.join(d, "x", "series"), "# expect: fail\n# twin-of: y\n# catch: kunit:a.b\n")
            with self.assertRaisesRegex(exm.ExampleError, "^x: twin-of y, which is not in "):
                exm.catalogue(d)
        with self.assertRaisesRegex(exm.ExampleError, "^unknown example[(]s[)]: nope [(]known: good, "):
            exm.catalogue(DATA, "nope")

    def test_glob_names_a_case_or_its_parameterised_parent(self):
        self.assertTrue(exm.matches("zsmalloc.test_burst", "zsmalloc.test_burst.pool of 1"))
        self.assertTrue(exm.matches("zram_free.integrity.*", "zram_free.integrity.reuse_after_free"))
        self.assertFalse(exm.matches("zsmalloc.test_burst", "zsmalloc.test_burst_other"))
        self.assertFalse(exm.matches("zsmalloc.test_b*", "zswap.test_b"))


class ExamplesRunTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.gate = os.path.join(self.tmp.name, "fake-gate")
        write(self.gate, FAKE_GATE)
        os.chmod(self.gate, 0o755)

    def tearDown(self):
        self.tmp.cleanup()

    def main(self, env, *argv):
        """zsgate.examples.main(argv) in this process with env added: (exit code, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        with unittest.mock.patch.dict(os.environ, env), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            rc = exm.main(list(argv))
        return subprocess.CompletedProcess(argv, rc, out.getvalue(), err.getvalue())

    def run_examples(self, only=""):
        env = dict(ZSGATE_EXAMPLES_GATE=f"{self.gate} {CI}", ARCHS="um x86_64", RUN_ID="t",
                   ZSGATE_CACHE=os.path.join(self.tmp.name, "cache"), ONLY=only)
        r = self.main(env, "--examples", DATA, "--out", self.tmp.name)
        d = os.path.join(self.tmp.name, "examples-t")
        with open(os.path.join(d, "examples.json"), encoding="utf-8") as f:
            doc = json.load(f)
        return r, {x["name"]: x for x in doc["examples"]}, d

    def test_good_and_caught_twin_pass(self):
        r, rows, d = self.run_examples("good,good-bad")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((rows["good"]["verdict"], rows["good"]["result"]), ("PASS", "ok"))
        self.assertEqual((rows["good-bad"]["verdict"], rows["good-bad"]["result"]), ("FAIL", "ok"))
        self.assertEqual(rows["good-bad"]["by"], [
            "kunit:zsmalloc.test_contract_deferred_destroy_pending.pool of 1 [kunit-x86_64-patched]",
            "vm:zram_free.integrity.reuse_after_free [vm-x86_64-patched]"])
        with open(os.path.join(d, "calls.txt"), encoding="utf-8") as f:
            calls = {c["name"]: c for c in map(json.loads, f)}
        self.assertEqual((calls["good"]["archs"], calls["good-bad"]["archs"]), ("um x86_64", "x86_64"))
        self.assertEqual(calls["good"]["no_ab"], "1")
        self.assertEqual((calls["good"]["base"], calls["good-bad"]["base"]), (None, "7.2"))
        self.assertTrue(calls["good-bad"]["tree"].endswith("/work/examples-7.2/linux"), calls["good-bad"]["tree"])
        with open(os.path.join(d, "examples.md"), encoding="utf-8") as f:
            md = f.read()
        self.assertIn("| good-bad | fail | FAIL | ok | kunit:zsmalloc.test_contract_deferred_destroy_pending", md)
        self.assertIn("| example | expect | verdict | result | catching test | time |", r.stdout)

    def test_rejected_survivor_and_wrong_reason_fail(self):
        r, rows, _ = self.run_examples()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(rows["good-rejected"]["result"], "rejected")
        self.assertIn("vm-um-patched: 1 failed that pass on base: zswap_free.teardown.p4_exit",
                      rows["good-rejected"]["why"])
        # its catch case fails on base too: not the series' fault, the gate passes it
        self.assertEqual((rows["good-bad-survives"]["verdict"], rows["good-bad-survives"]["result"]),
                         ("PASS", "passed"))
        self.assertEqual(rows["good-bad-build"]["result"], "wrong reason")
        self.assertEqual(rows["good-bad-build"]["why"],
                         "build failed: kunit-x86_64-patched: mm/zsmalloc.c:77: error: 'x' undeclared")
        # caught, but by a case its good twin fails as well: not the bug's doing
        self.assertEqual((rows["good-rejected-bad"]["verdict"], rows["good-rejected-bad"]["result"]),
                         ("FAIL", "not by the bug"))
        self.assertIn("vm:zswap_free.teardown.p4_exit fails on the good twin good-rejected too",
                      rows["good-rejected-bad"]["why"])
        self.assertEqual(sum(x["ok"] for x in rows.values()), 2)
        self.assertIn("4 of 6 example(s) not as expected", r.stdout)

    def test_rejudge_reads_the_runs_again_without_gating(self):
        self.run_examples("good-rejected,good-rejected-bad")
        d = os.path.join(self.tmp.name, "examples-t")
        os.unlink(os.path.join(d, "calls.txt"))
        r = self.main(dict(ZSGATE_EXAMPLES_GATE="false", ONLY=""), "--examples", DATA, "--rejudge", d)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "calls.txt")))  # nothing gated
        with open(os.path.join(d, "examples.json"), encoding="utf-8") as f:
            rows = {x["name"]: x for x in json.load(f)["examples"]}
        self.assertEqual(sorted(rows), ["good-rejected", "good-rejected-bad"])
        self.assertEqual(rows["good-rejected-bad"]["result"], "not by the bug")

    def test_unknown_only_is_usage(self):
        # through the wrapper ci/examples, as the Makefile and ./zsgate run it
        env = dict(os.environ, ONLY="nope")
        r = subprocess.run([sys.executable, os.path.join(CI, "examples"), "--examples", DATA, "--out", self.tmp.name],
                           env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown example(s): nope", r.stderr)


if __name__ == "__main__":
    unittest.main()
