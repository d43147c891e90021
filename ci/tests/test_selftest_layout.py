# SPDX-License-Identifier: GPL-2.0
"""The selftest scenarios' split agrees with the filters that select them by name: ci/ab's
DEFAULT_FILTER (zsgate/abrun.py) names only fixtures of zsf_tests_latency.h, ci/vm's
CORRECTNESS (zsgate/vmrun.py) selects whole
fixtures (-f) only from zsf_tests_correctness.h or a collection's own file, neither selects
the bench cases of zsf_tests_bench.h, every fixture.variant.test a filter names (-r) exists,
and no gate script sets ZSGATE_CONTROL (the limit control's knob, for `make bench` only)."""
import ast
import os
import re
import unittest

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEL = os.path.join(os.path.dirname(CI), "selftests")
COMMON = os.path.join(SEL, "zsfree_common")
COLLECTIONS = {"zram_free": os.path.join(SEL, "zram_free", "zram_free.c"),
               "zswap_free": os.path.join(SEL, "zswap_free", "zswap_free.c")}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def script_constant(path, name):
    """A string constant assigned at the top level of a Python script (not run)."""
    for node in ast.parse(read(path)).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} assigns no {name}")


def fixtures(text):
    return set(re.findall(r"^FIXTURE\((\w+)\)", text, re.M))


def names(text):
    """fixture.variant.test of every case in @text, variants without a FIXTURE_VARIANT_ADD
    of their own meaning the fixture's single unnamed variant."""
    variants, tests = {}, {}
    for f, v in re.findall(r"^FIXTURE_VARIANT_ADD\((\w+), (\w+)\)", text, re.M):
        variants.setdefault(f, []).append(v)
    for f, t in re.findall(r"^TEST_F(?:_TIMEOUT)?\((\w+), (\w+)", text, re.M):
        tests.setdefault(f, []).append(t)
    return {f"{f}.{v}.{t}" if v else f"{f}.{t}"
            for f, ts in tests.items() for t in ts for v in variants.get(f, [None])}


def filter_args(flt):
    return re.findall(r"-([fr]) (\S+)", flt)


class LayoutTest(unittest.TestCase):
    def setUp(self):
        self.latency = read(os.path.join(COMMON, "zsf_tests_latency.h"))
        self.correctness = read(os.path.join(COMMON, "zsf_tests_correctness.h"))
        self.fixture = read(os.path.join(COMMON, "zsf_tests_fixture.h"))
        self.bench = read(os.path.join(COMMON, "zsf_tests_bench.h"))
        self.own = {c: read(p) for c, p in COLLECTIONS.items()}
        shared = self.latency + self.correctness + self.bench
        # what each binary compiles: the shared scenarios plus its own file
        self.cases = {c: names(shared + t) for c, t in self.own.items()}

    def test_the_parts_hold_their_scenarios(self):
        self.assertEqual(fixtures(self.fixture), set())
        self.assertEqual(fixtures(self.latency), {"munmap", "teardown", "return_rate", "percall"})
        self.assertEqual(fixtures(self.correctness), {"overflow", "integrity", "race"})
        self.assertEqual(fixtures(self.bench), {"swapin", "mixed", "compaction", "pressure"})
        umbrella = read(os.path.join(COMMON, "zsfree_tests.h"))
        # the bench part last: the order of `-l` and of the KTAP output before it stays
        self.assertEqual(re.findall(r'^#include "(\w+\.h)"', umbrella, re.M),
                         ["zsf_tests_fixture.h", "zsf_tests_latency.h", "zsf_tests_correctness.h",
                          "zsf_tests_bench.h"])

    def test_ab_runs_latency_cases_only(self):
        args = filter_args(script_constant(os.path.join(CI, "zsgate", "abrun.py"), "DEFAULT_FILTER"))
        self.assertTrue(args)
        for kind, arg in args:
            self.assertIn(arg.split(".")[0], fixtures(self.latency), f"-{kind} {arg}")
            if kind == "r":
                for c, cases in self.cases.items():
                    self.assertIn(arg, cases, f"{c} has no {arg}")

    def test_ab_percall_boot_runs_the_percall_fixture(self):
        args = filter_args(script_constant(os.path.join(CI, "zsgate", "boots.py"), "PERCALL_FILTER"))
        self.assertEqual(args, [("f", "percall")])
        self.assertIn("percall", fixtures(self.latency))

    def test_gate_correctness_set_names_existing_cases(self):
        args = filter_args(script_constant(os.path.join(CI, "zsgate", "vmrun.py"), "CORRECTNESS"))
        whole = [a for k, a in args if k == "f"]
        self.assertTrue(whole)
        for f in whole:
            # a correctness fixture, or one collection's own (zram's nobuffers)
            self.assertTrue(f in fixtures(self.correctness) or
                            any(f in fixtures(t) for t in self.own.values()), f)
        for f in fixtures(self.correctness):
            self.assertIn(f, whole, f"the gate does not run {f}")
        for arg in (a for k, a in args if k == "r"):
            for c, cases in self.cases.items():
                self.assertIn(arg, cases, f"{c} has no {arg}")

    def test_bench_cases_are_selected_by_neither(self):
        for script, name in (("abrun.py", "DEFAULT_FILTER"), ("vmrun.py", "CORRECTNESS")):
            for kind, arg in filter_args(script_constant(os.path.join(CI, "zsgate", script), name)):
                self.assertNotIn(arg.split(".")[0], fixtures(self.bench), f"zsgate/{script}: -{kind} {arg}")

    def test_gate_never_sets_the_control_knob(self):
        """ZSGATE_CONTROL=1 turns the pool-baseline check off: only the bench may set it, for
        its limit control kernel; the gate (ci/gate, make check's ci/check) must not."""
        for script in ("gate", "zsgate/gate.py", "check"):
            self.assertNotIn("ZSGATE_CONTROL", read(os.path.join(CI, script)), f"ci/{script}")

    def test_case_names_match_the_binaries_list(self):
        """The parser above finds every case `-l` lists (zram_free 30, zswap_free 29), so
        a renamed or moved case fails the checks above."""
        self.assertEqual(len(self.cases["zram_free"]), 30)
        self.assertEqual(len(self.cases["zswap_free"]), 29)
        self.assertIn("mixed.resident50.munmap", self.cases["zswap_free"])
        self.assertIn("pressure.p4_exit.release", self.cases["zram_free"])
        self.assertIn("race.fio_discard.swap_free", self.cases["zram_free"])
        self.assertIn("race.writeback.swap_free", self.cases["zswap_free"])
        self.assertIn("nobuffers.sync_fallback", self.cases["zram_free"])


if __name__ == "__main__":
    unittest.main()
