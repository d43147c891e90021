# SPDX-License-Identifier: GPL-2.0
"""ci/farm-collect (ci/zsgate/farm.py): farm consoles and kunit.py JSON as a run directory
that ci/summary and ci/kcidb read like a gate's."""
import json
import os
import tempfile
import unittest

from zsgate import abrun, farm
from tests import fakesrc, summarize

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(CI, "tests", "data", "kcidb-run")


def ksft_log(collections, figures=(), kmsg=True, cut=False, fail=None):
    """A console of a farm job that ran run_kselftest.sh (the runner's own format)."""
    out = ["Linux version 7.3.0-rc7 ...", "root@qemu:~# ./run_kselftest.sh -c zram_free", "TAP version 13",
           f"1..{len(collections)}"]
    for i, (col, cases) in enumerate(collections, 1):
        out += ["# timeout set to 900", f"# selftests: {col}: {col}", "# TAP version 13", f"# 1..{len(cases)}"]
        for j, case in enumerate(cases, 1):
            out.append(f"# #  RUN           {case} ...")
            if kmsg:
                out.append(f"[   {10 + j}.123456] zram: Added device: zram{j}")
            for fig in figures:
                out.append(f"# # zsgate: backend={col.split('_')[0]} {fig}")
            if case == fail:
                out.append(f"# not ok {j} {case}")
            elif case.endswith("skipped"):
                out.append(f"# ok {j} {case} # SKIP no stress-ng")
            else:
                out.append(f"# ok {j} {case}")
        if cut and i == len(collections):
            break
        out.append(f"{'not ok' if fail in cases else 'ok'} {i} selftests: {col}: {col}")
    return "\n".join(out) + "\n"


class FarmTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.tree = fakesrc.make(os.path.join(self.d, "tree"))

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        p = os.path.join(self.d, name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        return p

    def load(self, run_dir, name):
        with open(os.path.join(run_dir, name), encoding="utf-8") as f:
            return json.load(f)

    def test_spec_syntax(self):
        s = farm.parse_spec("ab:x86_64:patched:3=/x/y.log")
        self.assertEqual((s.kind, s.arch, s.revision, s.round, s.path, s.name),
                         ("ab", "x86_64", "patched", 3, "/x/y.log", "ab-x86_64-patched-r3"))
        self.assertEqual(farm.parse_spec("vm:um:base=a=b").path, "a=b")
        for bad in ("vm:x86_64=f", "ab:x86_64:base=f", "boot:x86_64:base=f", "kunit:x-y:base=f"):
            with self.assertRaises(farm.FarmError):
                farm.parse_spec(bad)

    def test_runner_console_gives_the_cases_and_figures(self):
        log = self.write("zram.log", ksft_log([("zram_free", ["munmap.mb64.latency", "race.stress_ng.skipped"])],
                                              figures=["case=munmap size_mb=64 procs=1 median_us=9561 rounds=2"]))
        out = os.path.join(self.d, "run")
        os.makedirs(out)
        meta = farm.vm_files(out, "vm-x86_64-patched", farm.parse_spec(f"vm:x86_64:patched={log}"), {})
        self.assertEqual(meta["status"], "complete")
        self.assertEqual(meta["counts"], {"pass": 1, "fail": 0, "skip": 1})
        self.assertEqual(meta["problems"], [])
        j = self.load(out, "vm-x86_64-patched.json")
        self.assertEqual([(c["name"], c["status"]) for c in j["sub_groups"][0]["test_cases"]],
                         [("munmap.mb64.latency", "PASS"), ("race.stress_ng.skipped", "SKIP")])
        figs = self.load(out, "vm-x86_64-patched.figures.json")
        self.assertEqual([(f["case"], f["median_us"]) for f in figs], [("munmap", 9561), ("munmap", 9561)])
        with open(os.path.join(out, "vm-x86_64-patched.ktap"), encoding="utf-8") as f:
            ktap = f.read()
        self.assertNotIn("zram: Added device", ktap)   # kernel lines are not KTAP

    def test_one_job_per_collection_makes_one_run(self):
        a = self.write("a.log", ksft_log([("zram_free", ["munmap.mb64.latency"])]))
        b = self.write("b.log", ksft_log([("zswap_free", ["integrity.reuse_after_free"])]))
        out = os.path.join(self.d, "run")
        os.makedirs(out)
        meta = farm.vm_files(out, "vm-x86_64-base", farm.parse_spec(f"vm:x86_64:base={a},{b}"), {})
        self.assertEqual((meta["status"], meta["cases"]), ("complete", ["zram_free", "zswap_free"]))
        cut = self.write("c.log", ksft_log([("zswap_free", ["x"])], cut=True))
        meta = farm.vm_files(out, "vm-x86_64-x", farm.parse_spec(f"vm:x86_64:x={a},{cut}"), {})
        self.assertEqual(meta["status"], "incomplete")

    def test_a_cut_console_is_incomplete_and_says_so(self):
        log = self.write("cut.log", ksft_log([("zram_free", ["a"]), ("zswap_free", ["b"])], cut=True))
        out = os.path.join(self.d, "run")
        os.makedirs(out)
        meta = farm.vm_files(out, "vm-x86_64-base", farm.parse_spec(f"vm:x86_64:base={log}"), {})
        self.assertEqual(meta["status"], "incomplete")
        self.assertIn("has no result line", meta["problems"][0])
        nolog = self.write("n.log", "boot\n")
        meta = farm.vm_files(out, "vm-x86_64-x", farm.parse_spec(f"vm:x86_64:x={nolog}"), {})
        self.assertEqual(meta["status"], "incomplete")
        self.assertIn("no 'TAP version' line", meta["problems"][0])

    def test_splats_count_from_the_run_on(self):
        boot = "[    0.250325] Speculative Return Stack Overflow: WARNING: See https://kernel.org/doc/html/srso.html\n"
        oops = "[   42.000000] BUG: unable to handle page fault for address: 0000000000001234\n"
        ok = self.write("boot.log", boot + ksft_log([("zram_free", ["a"])]))
        bad = self.write("bad.log", ksft_log([("zram_free", ["a"])]).replace("# ok 1 a", oops + "# ok 1 a"))
        out = os.path.join(self.d, "run")
        os.makedirs(out)
        self.assertEqual(farm.vm_files(out, "vm-x86_64-a", farm.parse_spec(f"vm:x86_64:a={ok}"), {})["splats"], [])
        self.assertEqual(farm.vm_files(out, "vm-x86_64-b", farm.parse_spec(f"vm:x86_64:b={bad}"), {})["splats"],
                         [oops.strip()])
        with open(os.path.join(out, "vm-x86_64-a.log"), encoding="utf-8") as f:
            self.assertNotIn("Speculative", f.read())    # what ci/summary scans
        with open(os.path.join(out, "vm-x86_64-a.console.log"), encoding="utf-8") as f:
            self.assertIn("Speculative", f.read())

    def test_a_clobbered_log_is_not_a_pass(self):
        # what run_kselftest.sh >file leaves (seen here): the runner's lines at the start,
        # the tests' output overwritten by them
        log = self.write("clob.log", "TAP version 13\n1..1\n# selftests: zram_free: zram_free\n"
                                     "ok 1 selftests: zram_free: zram_free\nsfree_common/zsfree_tests.h:90:x\n"
                                     "# #            OK  munmap.mb64.latency\n")
        out = os.path.join(self.d, "run")
        os.makedirs(out)
        meta = farm.vm_files(out, "vm-x86_64-base", farm.parse_spec(f"vm:x86_64:base={log}"), {})
        self.assertEqual(meta["status"], "incomplete")
        self.assertIn("no case under it", meta["problems"][0])

    def test_a_ci_vm_console_gives_what_ci_vm_wrote(self):
        out = os.path.join(self.d, "run")
        os.makedirs(out)
        log = os.path.join(DATA, "vm-x86_64-base.log")
        farm.vm_files(out, "vm-x86_64-base", farm.parse_spec(f"vm:x86_64:base={log}"), {})
        mine, ref = self.load(out, "vm-x86_64-base.json"), self.load(DATA, "vm-x86_64-base.json")
        self.assertEqual([[(c["name"], c["status"]) for c in g["test_cases"]] for g in mine["sub_groups"]],
                         [[(c["name"], c["status"]) for c in g["test_cases"]] for g in ref["sub_groups"]])

    def run_cli(self, out, *specs, extra=()):
        return summarize.call(farm.main, ["--out", out, "--tree", self.tree, *extra, *specs])

    def test_cli_writes_a_run_dir_with_a_valid_kcidb_report(self):
        log = self.write("zram.log", ksft_log([("zram_free", ["munmap.mb64.latency"])]))
        out = os.path.join(self.d, "20261202-010000-farm")
        r = self.run_cli(out, f"kunit:x86_64:patched={os.path.join(DATA, 'kunit-x86_64-base.json')}",
                         f"vm:x86_64:patched={log}", extra=["--origin", "myfarm"])
        self.assertEqual(r.returncode, 0, r.stderr)
        meta = self.load(out, "meta.json")
        self.assertEqual([x["name"] for x in meta["runs"]], ["kunit-x86_64-patched", "vm-x86_64-patched"])
        self.assertEqual(self.load(out, "summary.json")["verdict"], "pass")
        rep = self.load(out, "kcidb.json")
        self.assertEqual(len(rep["builds"]), 1)
        self.assertTrue(all(t["id"].startswith("myfarm:20261202-010000-farm") for t in rep["tests"]))
        paths = {t["path"] for t in rep["tests"]}
        self.assertIn("zsgate.vm.zram_free.munmap.mb64.latency", paths)
        self.assertTrue(any(p.startswith("zsgate.kunit.zsmalloc.") for p in paths))
        self.assertIn("valid KCIDB v5.3", r.stdout + r.stderr)

    def test_cli_fails_a_failed_case_and_refuses_bad_input(self):
        log = self.write("f.log", ksft_log([("zram_free", ["integrity.reuse_after_free"])],
                                           fail="integrity.reuse_after_free"))
        out = os.path.join(self.d, "20261202-010000-a")
        r = self.run_cli(out, f"vm:x86_64:patched={log}")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(self.load(out, "summary.json")["verdict"], "fail")
        r = self.run_cli(out, f"vm:x86_64:patched={log}")
        self.assertEqual(r.returncode, 2)
        self.assertIn("exists", r.stderr)
        r = self.run_cli(os.path.join(self.d, "20261202-010000-b"), f"vm:x86_64:a={log}", f"vm:x86_64:a={log}")
        self.assertEqual(r.returncode, 2)
        self.assertIn("given twice", r.stderr)
        r = self.run_cli(os.path.join(self.d, "20261202-010000-c"), f"kunit:x86_64:a={log}",
                         extra=["--kunit-tool", self.d])
        self.assertEqual(r.returncode, 2)
        self.assertIn("is a console log", r.stderr)

    def test_cli_ab_rounds_go_through_ci_ab_reanalyze(self):
        specs = []
        for i in (1, 2, 3):
            for rev, us in (("base", 10000), ("patched", 5000)):
                figs = [f"case=munmap size_mb=16 procs=1 median_us={us + 100 * i} rounds=2",
                        f"case=munmap size_mb=32 procs=1 median_us={2 * us + 100 * i} rounds=2"]
                specs.append(f"ab:x86_64:{rev}:{i}=" + self.write(
                    f"ab-{rev}-{i}.log", ksft_log([("zram_free", ["munmap.mb16.latency"])], figures=figs)))
        out = os.path.join(self.d, "20261202-010000-ab")
        r = self.run_cli(out, *specs, extra=["--ab-env", "ZSGATE_ROUNDS=2", "--ab-env", "ZSGATE_QUICK=1"])
        self.assertEqual(r.returncode, 1, r.stderr)   # an A/B alone has no runs: "no runs"
        ab = self.load(out, "ab.json")
        self.assertEqual(ab["rounds"], 3)
        self.assertEqual(len(ab["runs"]), 6)
        e = {(x["case"], x["size_mb"]): x for x in ab["entries"]}
        self.assertAlmostEqual(e[("munmap", 16)]["speedup"], 10200 / 5200, places=3)
        self.assertEqual(ab["regressions"], [])
        tests = self.load(out, "kcidb.json")["tests"]
        self.assertTrue(any(t["path"] == "zsgate.ab.zram.munmap.mb16.p1.speedup" for t in tests))


if __name__ == "__main__":
    unittest.main()


class FarmDocsTest(unittest.TestCase):
    """The example jobs in docs/ci-farms/ say what the gate does."""
    ROOT = os.path.dirname(CI)

    def test_ab_script_uses_ci_ab_filter(self):
        with open(os.path.join(self.ROOT, "docs/ci-farms/tuxrun-ab.sh"), encoding="utf-8") as f:
            line = next(ln for ln in f if ln.startswith("FILTER="))
        self.assertEqual(line.split("=", 1)[1].strip().strip("'"), abrun.DEFAULT_FILTER)

    def test_lava_job_prints_the_markers_farm_collect_reads(self):
        with open(os.path.join(self.ROOT, "docs/ci-farms/lava-zram_free.yaml"), encoding="utf-8") as f:
            text = f.read()
        self.assertIn(f"echo {farm.vm.BEGIN}; cat /tmp/zsgate.log; echo {farm.vm.END}", text)
        self.assertIn("- export ZSGATE_COLLECTION=zram_free", text)
        # through a pipe, never '>' (kselftest/runner.sh appends to /dev/stdout)
        self.assertIn("./run_kselftest.sh -c $ZSGATE_COLLECTION 2>&1 | cat >/tmp/zsgate.log", text)
