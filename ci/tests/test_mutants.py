# SPDX-License-Identifier: GPL-2.0
"""ci/mutants (zsgate/mutants.py, mutantspec.py, mutantjudge.py): header parsing of every mutant
in series/mutants, results, the verdict rule, a run with a fake ci/kunit."""
import contextlib
import fcntl
import io
import json
import os
import subprocess
import tempfile
import unittest
import unittest.mock

from zsgate import build, config, mutantab, mutantjudge, mutantspec, series
from zsgate import mutants as mut

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)
MUTANTS = os.path.join(ROOT, "series", "mutants")

KUNIT_JSON = {
    "name": "KUnit Test Group", "test_cases": [],
    "sub_groups": [{
        "name": "zsmalloc", "test_cases": [
            {"name": "test_overflow", "status": "PASS"},
            {"name": "test_crashy", "status": "ERROR"}],
        "sub_groups": [{"name": "test_batching", "sub_groups": [], "test_cases": [
            {"name": "one class", "status": "PASS"}, {"name": "two classes", "status": "FAIL"}]}],
    }],
}


def write_patch(d, name, header):
    p = os.path.join(d, name + ".patch")
    with open(p, "w", encoding="utf-8") as f:
        f.write(header + "--- a/mm/zsmalloc.c\n+++ b/mm/zsmalloc.c\n@@ -1 +1 @@\n-a\n+b\n")
    return p


def main_out(argv):
    """zsgate.mutants.main(argv) in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            unittest.mock.patch.dict(os.environ, {"ONLY": ""}):
        rc = mut.main(argv)
    return rc, out.getvalue(), err.getvalue()


class TestHeaders(unittest.TestCase):
    def test_every_catalogue_mutant_parses(self):
        names = [f for f in os.listdir(MUTANTS) if f.endswith(".patch")]
        self.assertTrue(names)
        for f in names:
            m = mutantspec.parse_mutant(os.path.join(MUTANTS, f))
            self.assertIn(m["applies_to"], ("series", "base"), f)
            self.assertIn(m["arch"], ("um", "x86_64"), f)
            self.assertTrue(m["catch"] == "ab" or m["catch"].startswith(("kunit:", "vm:")), f)

    def test_new_style(self):
        with tempfile.TemporaryDirectory() as d:
            m = mutantspec.parse_mutant(write_patch(d, "x", "# mutant: bad; caught by: test_a\n# applies-to: base\n"
                                             "# arch: x86_64\n# catch: kunit:zsmalloc.test_a*\n# config: kcsan\n"))
        self.assertEqual((m["applies_to"], m["arch"], m["config"], m["filter"]),
                         ("base", "x86_64", "kcsan", "zsmalloc.test_a*"))

    def test_old_style(self):
        with tempfile.TemporaryDirectory() as d:
            m = mutantspec.parse_mutant(write_patch(d, "x", "# mutant: bad (applies to: base 7.3); caught by: "
                                             "test_a, test_b (um and x86_64)\n"))
            self.assertEqual((m["applies_to"], m["arch"]), ("base", "um"))
            self.assertEqual(m["globs"], ["zsmalloc.test_a", "zsmalloc.test_b"])
            self.assertEqual(m["filter"], "zsmalloc.test_*")
            m = mutantspec.parse_mutant(write_patch(d, "y", "# mutant: slow; caught by: ab regression rule\n"))
            self.assertEqual((m["catch"], m["arch"]), ("ab", "x86_64"))

    def test_bad_headers(self):
        with tempfile.TemporaryDirectory() as d:
            for h in ("", "# mutant: x; caught by: nobody\n", "# mutant: x; caught by: test_a\n# arch: arm\n",
                      "# mutant: x; caught by: test_a\n# applies-to: mainline\n"):
                with self.assertRaises(mutantspec.MutantError, msg=h):
                    mutantspec.parse_mutant(write_patch(d, "z", h))

    def test_list_and_unknown_only(self):
        # ci/mutants is a wrapper of zsgate.mutants.main(): the same lines either way
        r = subprocess.run([os.path.join(CI, "mutants"), "--list"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), len([f for f in os.listdir(MUTANTS) if f.endswith(".patch")]))
        self.assertEqual(main_out(["--list"]), (0, r.stdout, ""))
        rc, out, err = main_out(["--only", "no-such-mutant", "--list"])
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("unknown mutant", err)
        rc, out, _ = main_out(["--only", "class-decode-8-bits.patch", "--list"])
        self.assertEqual((rc, out.split()[0]), (0, "class-decode-8-bits"))
        with tempfile.TemporaryDirectory() as d:
            write_patch(d, "bad", "# mutant: x; caught by: nobody\n")
            rc, _, err = main_out(["--mutants", d, "--list"])
        self.assertEqual(rc, 2)
        self.assertIn("zsgate: mutants: bad: cannot tell which test", err)


class TestVerdict(unittest.TestCase):
    def setUp(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(KUNIT_JSON, f)
        self.cases = mutantjudge.case_results(f.name)
        os.unlink(f.name)
        self.m = {"globs": ["zsmalloc.test_batching"]}

    def test_case_results(self):
        self.assertEqual(self.cases, {"zsmalloc.test_overflow": "PASS", "zsmalloc.test_crashy": "ERROR",
                                      "zsmalloc.test_batching": "FAIL"})

    def test_caught_by_named_case(self):
        v = mutantjudge.judge(self.m, {"cases": self.cases, "exit": 1, "splats": [], "booted": True})
        self.assertEqual((v["verdict"], v["by"]), ("caught", ["zsmalloc.test_batching"]))

    def test_other_case_failing_is_not_caught(self):
        v = mutantjudge.judge({"globs": ["zsmalloc.test_overflow"]},
                      {"cases": self.cases, "exit": 1, "splats": [], "booted": True})
        self.assertEqual(v["verdict"], "survived")

    def test_build_failure_is_not_caught(self):
        v = mutantjudge.judge(self.m, {"cases": {}, "exit": 2, "splats": [], "booted": False})
        self.assertEqual(v["verdict"], "not run")

    def test_crash_and_splat_are_marked(self):
        v = mutantjudge.judge(self.m, {"cases": {}, "exit": 2, "splats": [], "booted": True})
        self.assertEqual(v["verdict"], "caught")
        self.assertTrue(v["how"].startswith("crash"))
        v = mutantjudge.judge({"globs": ["zsmalloc.test_overflow"]},
                      {"cases": {"zsmalloc.test_overflow": "PASS"}, "exit": 1, "booted": True,
                       "splats": ["BUG: KCSAN: data-race in zs_free_deferred / zs_deferred_take"]})
        self.assertEqual(v["verdict"], "caught")
        self.assertTrue(v["how"].startswith("splat"))

    def test_ab_caught_by_the_regressions_ci_ab_listed(self):
        # the entries' own flags are not re-read: ab.json's "regressions" is the verdict
        doc = {"entries": [{"backend": "zram", "case": "munmap", "regression": True}],
               "regressions": ["zram pooled (3 one-process cases, paired by round)"], "problems": []}
        v = mutantjudge.ab_verdict(doc, 1, 12.0)
        self.assertEqual((v["verdict"], v["by"], v["how"], v["seconds"]),
                         ("caught", ["ab:zram pooled (3 one-process cases, paired by round)"],
                          "A/B regression rule", 12.0))
        doc["regressions"] = []
        self.assertEqual(mutantjudge.ab_verdict(doc, 0, 1.0)["verdict"], "survived")

    def test_ab_problems(self):
        doc = {"regressions": [], "problems": ["base: boot 1 failed"]}
        self.assertEqual(mutantjudge.ab_verdict(doc, 2, 1.0)["verdict"], "not run")
        v = mutantjudge.ab_verdict(doc, 0, 1.0)
        self.assertEqual((v["verdict"], v["how"]), ("survived", "no A/B regression (base: boot 1 failed)"))
        v = mutantjudge.ab_verdict(None, 2, 1.0)
        self.assertEqual((v["verdict"], v["how"]), ("not run", "no ab.json (ci/ab exit 2)"))

    def test_ci_ab_runs_abrun_in_process(self):
        # its exit code; an exception in it is exit 1, not the end of ci/mutants
        seen = []
        with unittest.mock.patch("zsgate.abrun.main", lambda argv: seen.append(argv) or 1):
            self.assertEqual(mutantab.ci_ab(["--base", "r", "--patched", "m"]), 1)
        self.assertEqual(seen, [["--base", "r", "--patched", "m"]])
        err = io.StringIO()
        with unittest.mock.patch("zsgate.abrun.main", side_effect=ValueError("no figures")), \
                contextlib.redirect_stderr(err):
            self.assertEqual(mutantab.ci_ab(["--base", "r"]), 1)
        self.assertIn("ValueError: no figures", err.getvalue())


class TestBuildLock(unittest.TestCase):
    """build_lock() holds the machine's lock for a group; ci/kunit children lock a private file."""

    def test_held_and_released(self):
        with tempfile.TemporaryDirectory() as d:
            lock, inner = os.path.join(d, "build.lock"), os.path.join(d, "inner.lock")
            env = {"ZSGATE_BUILD_LOCK": lock, "ZSGATE_MUTANTS_INNER_LOCK": inner}
            with unittest.mock.patch.dict(os.environ, env), contextlib.redirect_stderr(io.StringIO()):
                with mut.build_lock(True, "g"):
                    self.assertEqual(os.environ["ZSGATE_BUILD_LOCK"], inner)
                    with open(lock) as f, self.assertRaises(BlockingIOError):
                        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.assertEqual(os.environ["ZSGATE_BUILD_LOCK"], lock)
                with open(lock) as f:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                with mut.build_lock(False, "g"):
                    self.assertEqual(os.environ["ZSGATE_BUILD_LOCK"], lock)


class TestQuilt(unittest.TestCase):
    """make_quilt() reads the reference series with zsgate/series.py (quilt or mbox) and
    puts the mutant last; the reference series is config.REFERENCE_SERIES by default."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def read(self, q):
        with open(os.path.join(q, "series"), encoding="utf-8") as f:
            names = f.read().split()
        texts = {}
        for n in names:
            with open(os.path.join(q, n), encoding="utf-8") as f:
                texts[n] = f.read()
        return names, texts

    def test_reference_series_then_mutant(self):
        ref = config.reference_series(ROOT)
        self.assertEqual(ref, os.path.join(ROOT, "series", "deferred-free"))
        m = mutantspec.parse_mutant(write_patch(self.d, "m1", "# mutant: x; caught by: test_a\n"))
        q = mut.make_quilt(self.d, ref, "series", m)
        names, texts = self.read(q)
        want = [p.name for p in series.read_quilt(ref).patches]
        self.assertGreater(len(want), 1)
        self.assertEqual(names, want + ["zz-mutant-m1.patch"])
        for n in want:
            with open(os.path.join(ref, n), encoding="utf-8") as f:
                self.assertEqual(texts[n], f.read(), n)
        self.assertIn("# mutant: x", texts["zz-mutant-m1.patch"])

    def test_base_mutant_has_no_reference_patches(self):
        m = mutantspec.parse_mutant(write_patch(self.d, "m2", "# mutant: y; caught by: test_b\n"
                                                       "# applies-to: base\n"))
        names, _ = self.read(mut.make_quilt(self.d, os.path.join(self.d, "nowhere"), "base", m))
        self.assertEqual(names, ["zz-mutant-m2.patch"])

    def test_mbox_and_bad_reference_series(self):
        mbox = os.path.join(CI, "tests", "data", "revision.mbox")
        names, _ = self.read(mut.make_quilt(self.d, mbox, "series", None))
        want = [p.name + ".patch" for p in series.read_series(mbox).patches]
        self.assertTrue(want)
        self.assertEqual(names, want)
        with self.assertRaisesRegex(mut.MutantError, "reference series"):
            mut.make_quilt(self.d, os.path.join(self.d, "nowhere"), "series", None)

    def test_prepare_tree_in_process(self):
        from tests import fakesrc
        src = fakesrc.make(os.path.join(self.d, "src"))
        kunit = fakesrc.kunit_dir(os.path.join(self.d, "kunit"))
        q = fakesrc.quilt(os.path.join(self.d, "q"), {"1.patch": (
            "--- a/mm/a.c\n+++ b/mm/a.c\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n")})
        tree = os.path.join(self.d, "tree")
        mut.prepare_tree(src, tree, q, kunit)
        self.assertEqual(fakesrc.read(tree, "mm/a.c"), "one\nTWO\nthree\n")
        self.assertEqual(fakesrc.read(src, "mm/a.c"), "one\ntwo\nthree\n")
        mut.prepare_tree(src, tree, None, kunit)
        self.assertEqual(fakesrc.read(tree, "mm/a.c"), "one\ntwo\nthree\n")
        bad = fakesrc.quilt(os.path.join(self.d, "bad"), {"1.patch": (
            "--- a/mm/a.c\n+++ b/mm/a.c\n@@ -1,3 +1,3 @@\n one\n-nope\n+TWO\n three\n")})
        with self.assertRaisesRegex(mut.MutantError, "^tree: "):
            mut.prepare_tree(src, tree, bad, kunit)
        with self.assertRaisesRegex(mut.MutantError, "not a Linux source tree"):
            mut.prepare_tree(self.d, tree, q, kunit)

    def test_series_option_default(self):
        r = subprocess.run([os.path.join(CI, "mutants"), "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(config.REFERENCE_SERIES, r.stdout)


class TestRun(unittest.TestCase):
    """main() over a small catalogue, ci/kunit, the VM builds and ci/ab faked: controls, the
    verdicts, the files and the exit code."""

    RESULTS = {"control-um-series": {"test_a": "PASS", "test_b": "PASS"}, "a": {"test_a": "FAIL"},
               "b": {"test_b": "PASS", "test_x": "FAIL"}, "control-x86_64-base": {"test_c": "FAIL"},
               "c": {"test_c": "FAIL"}}

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.cat = os.path.join(self.d, "cat")
        os.mkdir(self.cat)
        write_patch(self.cat, "a", "# mutant: a; caught by: test_a\n# arch: um\n")
        write_patch(self.cat, "b", "# mutant: b; caught by: test_b\n# arch: um\n")
        write_patch(self.cat, "c", "# mutant: c; caught by: test_c\n# applies-to: base\n# arch: x86_64\n")
        write_patch(self.cat, "e", "# mutant: e; caught by: ab regression\n# ab-rounds: 5\n")
        self.calls = []

    def tearDown(self):
        self.tmp.cleanup()

    def kunit(self, args):
        args = [x for x in args if x != "--panic-on-oops"]
        a = dict(zip(args[::2], args[1::2]))
        self.calls.append(("kunit", a["--name"], a.get("--filter", "")))
        with open(os.path.join(a["--out"], a["--name"] + ".json"), "w", encoding="utf-8") as f:
            json.dump({"sub_groups": [{"name": "zsmalloc", "sub_groups": [], "test_cases": [
                {"name": k, "status": v} for k, v in self.RESULTS[a["--name"]].items()]}]}, f)
        return 0 if set(self.RESULTS[a["--name"]].values()) == {"PASS"} else 1

    def ab(self, args):
        a = dict(zip(args[::2], args[1::2]))
        self.calls.append(("ab", a["--rounds"], a["--labels"]))
        os.makedirs(a["--out"])
        with open(os.path.join(a["--out"], "ab.json"), "w", encoding="utf-8") as f:
            json.dump({"regressions": ["zram pooled"], "problems": []}, f)
        return 1

    def run_main(self, *args):
        env = {"ZSGATE_CACHE": os.path.join(self.d, "cache"), "RUN_ID": "t", "ONLY": "",
               "ZSGATE_BUILD_LOCK": os.path.join(self.d, "lock"), "ZSGATE_MUTANTS_INNER_LOCK": os.path.join(self.d, "in")}
        with contextlib.ExitStack() as st:
            st.enter_context(unittest.mock.patch.dict(os.environ, env))
            st.enter_context(unittest.mock.patch.object(mut, "ci_kunit", self.kunit))
            st.enter_context(unittest.mock.patch.object(mut, "source_env", lambda: {"KSRC": "/k"}))
            st.enter_context(unittest.mock.patch.object(
                mut, "prepare_tree", lambda ksrc, tree, q, kunit_dir="": self.calls.append(("tree", q is not None))))
            st.enter_context(unittest.mock.patch.object(mutantab, "kunit_build", lambda t, blog: 0))
            st.enter_context(unittest.mock.patch.object(mutantab, "ci_ab", self.ab))
            st.enter_context(unittest.mock.patch.object(build, "tree_key", lambda t: "k"))
            st.enter_context(unittest.mock.patch.object(build, "stamp_ok", lambda *a: {"status": "ok"}))
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = mut.main(["--mutants", self.cat, "--out", self.d] + list(args))
        with open(os.path.join(self.d, "mutants-t", "mutants.json"), encoding="utf-8") as f:
            doc = json.load(f)
        return rc, out.getvalue(), doc

    def test_controls_verdicts_and_exit(self):
        rc, out, doc = self.run_main()
        self.assertEqual(rc, 1)
        rows = {r["name"]: r for r in doc["mutants"]}
        self.assertEqual([r["name"] for r in doc["mutants"]], ["a", "b", "c", "e"])  # um first, ab last
        self.assertEqual({k: c["status"] for k, c in doc["controls"].items()},
                         {"um/series": "clean", "x86_64/base": "FAILED"})
        self.assertEqual((rows["a"]["verdict"], rows["a"]["by"]), ("caught", ["zsmalloc.test_a"]))
        self.assertEqual((rows["b"]["verdict"], rows["b"]["how"]),
                         ("survived", "only unnamed cases failed: zsmalloc.test_x"))
        self.assertEqual((rows["c"]["verdict"], rows["c"]["how"]), ("invalid", "control x86_64/base failed: case failed"))
        self.assertEqual((rows["e"]["verdict"], rows["e"]["by"]), ("caught", ["ab:zram pooled"]))
        self.assertIn(("ab", "5", "base,mutant"), self.calls)
        self.assertIn(("kunit", "control-um-series", ""), self.calls)
        self.assertIn("2 of 4 mutant(s) not caught: b (survived), c (invalid)", out)
        with open(os.path.join(self.d, "mutants-t", "mutants.md"), encoding="utf-8") as f:
            self.assertIn("- x86_64/base: FAILED", f.read())

    def test_only_no_control_skip_ab(self):
        rc, out, doc = self.run_main("--only", "a,e", "--no-control", "--skip-ab")
        self.assertEqual(rc, 1)
        self.assertEqual(doc["controls"], {})
        self.assertEqual([(r["name"], r["verdict"], r["how"]) for r in doc["mutants"]],
                         [("a", "caught", "case failed"), ("e", "not run", "--skip-ab")])
        self.assertEqual(self.calls, [("tree", True), ("kunit", "a", "zsmalloc.test_a")])


if __name__ == "__main__":
    unittest.main()
