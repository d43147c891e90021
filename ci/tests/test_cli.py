# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/cli.py and ./zsgate: every verb parses, its options become the environment and
arguments of the step it runs (a ci/ executable, or in-process the module main() that its
ci/ wrapper calls; a fake runner: nothing real runs), the Makefile's targets are one-liners
over it, `make help` is the CLI's help, bad options exit 2; the real runner's Commands and
Calls."""
import ast
import contextlib
import importlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import types
import unittest
from typing import Dict, List, Mapping, Optional, Tuple
from unittest import mock

from zsgate import cli

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)
ZSGATE = os.path.join(ROOT, "zsgate")

# The least command line of each verb, and the ci/ program its plan ends with: a Command of
# it, or a Call of the module main() the ci/ program wraps (WRAPS).
MINIMAL: Dict[str, Tuple[List[str], str]] = {
    "gate": ([], "gate"),
    "check": ([], "check"),
    "bench": ([], "bench"),
    "kunit": ([], "gate"),
    "vm": (["--tree", "/t", "--arch", "um", "--name", "v", "--out", "/r"], "vm"),
    "ab": (["--base-tree", "/b", "--patched-tree", "/p", "--out", "/r"], "ab"),
    "summary": ([], "summary"),
    "report": ([], "report"),
    "mutants": ([], "mutants"),
    "examples": ([], "examples"),
    "tree": (["--ksrc", "/k", "--name", "base"], "tree"),
    "source": ([], "source"),
    "deps": ([], "deps"),
    "doctor": ([], "doctor"),
    "selftests": ([], "selftests"),
    "selftests-faults": ([], "selftests-faults"),
    "kselftest-tar": ([], "kselftest-tar"),
    "export": ([], "export"),
    "farm-collect": (["--tree", "/t", "--out", "/r", "k=x86_64:patched:kunit:a.json"], "farm-collect"),
    "meta": (["/r", "note", "k", "v"], "meta"),
    "test-tools": ([], "python3"),
}

# ci/ wrapper -> the zsgate module whose main() it calls (and a Call of the verb runs)
WRAPS: Dict[str, str] = {"vm": "vmrun", "ab": "abrun", "bench": "benchrun", "summary": "summary",
                         "report": "report", "meta": "rundir", "export": "export", "farm-collect": "farm",
                         "kcidb": "kcidb", "gate": "gate", "mutants": "mutants", "examples": "examples",
                         "tree": "treeprep", "check": "check", "kunit": "kunitrun", "deps": "deps",
                         "selftests": "selftests", "selftests-faults": "selftestfaults",
                         "kselftest-tar": "kselftesttar", "source": "kernelsrc", "doctor": "doctor"}

ENV = {"PATH": "/usr/bin:/bin", "OUT": "/o"}


class Fake:
    """A runner that records the plan and returns a chosen exit code."""

    def __init__(self, rc: int = 0):
        self.rc = rc
        self.plans: List[cli.Plan] = []

    def __call__(self, plan: cli.Plan, environ: Mapping[str, str]) -> int:
        self.plans.append(plan)
        return self.rc


def plan(*argv: str, environ: Optional[Mapping[str, str]] = None) -> cli.Plan:
    fake = Fake()
    rc = cli.main(list(argv), runner=fake, environ=ENV if environ is None else environ)
    assert rc == 0 and len(fake.plans) == 1
    return fake.plans[0]


def last(*argv: str, environ: Optional[Mapping[str, str]] = None) -> cli.Step:
    return plan(*argv, environ=environ)[-1]


def env_of(cmd: cli.Step) -> Dict[str, str]:
    return dict(cmd.env)


def prog(st: cli.Step) -> str:
    """The ci/ program a step is: a Command's executable, a Call's wrapper (WRAPS)."""
    if isinstance(st, cli.Call):
        return next(w for w, m in WRAPS.items() if m == st.module)
    return os.path.basename(st.argv[0])


def args(st: cli.Step) -> Tuple[str, ...]:
    """The arguments the ci/ program gets (a Call's main() the same)."""
    return st.argv if isinstance(st, cli.Call) else st.argv[1:]


def usage_error(*argv: str) -> int:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            cli.parse(list(argv))
        except SystemExit as e:
            assert "usage:" in err.getvalue(), err.getvalue()
            return int(e.code or 0)
    return 0


class EveryVerbTest(unittest.TestCase):
    def test_the_table_covers_every_verb(self):
        self.assertEqual(sorted(MINIMAL), sorted(v.name for v in cli.VERBS))

    def test_every_verb_parses_and_runs_its_program(self):
        for verb, (argv, want) in MINIMAL.items():
            with self.subTest(verb=verb):
                st = last(verb, *argv)
                self.assertEqual(prog(st), want)
                if isinstance(st, cli.Call):
                    self.assertTrue(callable(getattr(importlib.import_module("zsgate." + st.module), "main")))
                elif want != "python3":
                    self.assertEqual(st.argv[0], os.path.join(CI, want))
                    self.assertTrue(os.access(st.argv[0], os.X_OK), st.argv[0])

    def test_a_wrapper_verb_is_a_call_and_its_wrapper_calls_the_same_main(self):
        for w, mod in WRAPS.items():
            with self.subTest(wrapper=w):
                with open(os.path.join(CI, w), encoding="utf-8") as f:
                    text = f.read()
                if text.startswith("#!/bin/sh"):  # ci/gate: ZSGATE_ROOT (default its root), then the module
                    self.assertIn(f"exec python3 -m zsgate.{mod} \"$@\"", text)
                    self.assertLessEqual(len([ln for ln in text.splitlines() if ln and not ln.startswith("#")]), 4)
                else:
                    self.assertIn(f"from zsgate import {mod}  # noqa: E402", text)
                    self.assertIn(f"sys.exit({mod}.main(sys.argv[1:]))", text)
                    body = ast.parse(text).body   # the docstring, imports, the sys.path line, __main__
                    self.assertLessEqual(len(body), 6, "a wrapper, not the logic")
                self.assertTrue(os.access(os.path.join(CI, w), os.X_OK))
        for verb, (argv, want) in MINIMAL.items():
            with self.subTest(verb=verb):
                self.assertEqual(isinstance(last(verb, *argv), cli.Call), want in WRAPS)

    def test_a_verb_alone_sets_nothing_for_gate_and_check(self):
        # no option: the caller's environment (the Makefile's exports) is what ci/gate reads
        for verb in ("gate", "check", "deps", "source"):
            self.assertEqual(last(verb).env, (), verb)
            self.assertEqual(args(last(verb)), (), verb)

    def test_the_runner_exit_code_is_mains(self):
        self.assertEqual(cli.main(["deps"], runner=Fake(7), environ=ENV), 7)

    def test_help_of_every_verb(self):
        for v in cli.VERBS:
            with self.subTest(verb=v.name):
                out = io.StringIO()
                with contextlib.redirect_stdout(out), self.assertRaises(SystemExit) as e:
                    cli.parse([v.name, "--help"])
                self.assertEqual(e.exception.code, 0)
                self.assertIn(f"usage: zsgate {v.name}", out.getvalue())


class GateFlagsTest(unittest.TestCase):
    def test_shared_groups_become_the_variables_ci_gate_reads(self):
        e = env_of(last("gate", "--kdir", "/k", "--base", "7.2", "--series", "none", "--archs", "um,x86_64",
                        "--jobs", "3", "--cache", "/c", "--out", "/r", "--debug", "--no-kcsan"))
        self.assertEqual(e, {"KDIR": "/k", "BASE": "7.2", "SERIES": "none", "ARCHS": "um x86_64", "JOBS": "3",
                             "ZSGATE_CACHE": "/c", "OUT": "/r", "DEBUG": "1", "KCSAN": "0"})
        self.assertEqual(env_of(last("gate", "--kcsan"))["KCSAN"], "1")

    def test_switches(self):
        cases = {
            "--no-vm": ("ZSGATE_NO_VM", "1"),
            "--no-ab": ("ZSGATE_NO_AB", "1"),
            "--no-reuse-base": ("ZSGATE_REUSE_BASE", "0"),
            "--no-bounded": ("ZSGATE_BOUNDED", "0"),
            "--no-wait": ("ZSGATE_GATE_WAIT", "0"),
            "--verify-source": ("ZSGATE_VERIFY_SOURCE", "full"),
            "--refresh": ("ZSGATE_REFRESH", "1"),
            "--kcsan-all": ("ZSGATE_KCSAN_ALL", "1"),
        }
        for flag, kv in cases.items():
            with self.subTest(flag=flag):
                self.assertEqual(last("gate", flag).env, (kv,))

    def test_prev_is_the_variable_ci_gate_reads(self):
        self.assertEqual(last("gate", "--prev", "/v2.mbox").env, (("PREV", "/v2.mbox"),))
        e = env_of(last("gate", "--series", "/v3.mbox", "--prev", "/v2"))
        self.assertEqual(e, {"SERIES": "/v3.mbox", "PREV": "/v2"})
        self.assertNotIn("PREV", env_of(last("gate", "--series", "/v3.mbox")))

    def test_timeouts(self):
        e = env_of(last("gate", "--kunit-timeout", "1", "--vm-timeout", "2", "--ab-timeout", "3",
                        "--kcsan-timeout", "4"))
        self.assertEqual(e, {"ZSGATE_KUNIT_TIMEOUT": "1", "ZSGATE_VM_TIMEOUT": "2", "ZSGATE_AB_TIMEOUT": "3",
                             "ZSGATE_KCSAN_TIMEOUT": "4"})

    def test_kunit_is_the_gate_without_vm(self):
        c = last("kunit", "--archs", "x86_64", "--series", "none")
        self.assertEqual((prog(c), args(c)), ("gate", ()))
        self.assertEqual(env_of(c), {"ARCHS": "x86_64", "SERIES": "none", "ZSGATE_NO_VM": "1"})

    def test_check_kcsan_is_its_own_variable(self):
        self.assertEqual(env_of(last("check", "--kcsan")), {"ZSGATE_CHECK_KCSAN": "1"})
        self.assertEqual(env_of(last("check", "--no-kcsan")), {"ZSGATE_CHECK_KCSAN": "0"})
        self.assertEqual(env_of(last("check", "--archs", "um", "--debug")), {"ARCHS": "um", "DEBUG": "1"})


class StepTest(unittest.TestCase):
    def test_kunit_step(self):
        c = last("kunit", "--tree", "/t", "--arch", "x86_64", "--name", "k", "--out", "/r", "--kcsan",
                 "--filter", "zsmalloc", "--attr-filter", "speed=slow", "--kunit-timeout", "60", "--jobs", "2")
        self.assertEqual((c.module, c.argv), ("kunitrun", ("--tree", "/t", "--arch", "x86_64", "--out", "/r",
                                                           "--name", "k", "--kcsan", "--filter", "zsmalloc",
                                                           "--attr-filter", "speed=slow", "--timeout", "60")))
        self.assertEqual(c.env, (("JOBS", "2"),))
        self.assertIn("--debug", last("kunit", "--tree", "/t", "--arch", "um", "--name", "k", "--out", "/r",
                                      "--debug").argv)

    def test_vm(self):
        c = last("vm", "--tree", "/t", "--arch", "um", "--name", "v", "--out", "/r", "--all", "--full",
                 "--env", "A=1", "--env", "B=2", "--mem", "1024", "--reuse", "--build-dir", ".kunit-um",
                 "--cache", "/c")
        self.assertEqual(args(c), ("--tree", "/t", "--arch", "um", "--out", "/r", "--name", "v", "--all",
                                      "--full", "--env", "A=1", "--env", "B=2", "--mem", "1024",
                                      "--build-dir", ".kunit-um", "--reuse"))
        self.assertEqual(c.env, (("ZSGATE_CACHE", "/c"),))
        self.assertIn("--filter", last("vm", "--tree", "/t", "--arch", "um", "--name", "v", "--out", "/r",
                                       "--filter", "-f x").argv)

    def test_ab_trees_are_ci_ab_base_and_patched(self):
        c = last("ab", "--base-tree", "/b", "--patched-tree", "/p", "--out", "/r", "--rounds", "3",
                 "--margin", "0.1", "--reanalyze")
        self.assertEqual(args(c), ("--base", "/b", "--patched", "/p", "--out", "/r", "--rounds", "3",
                                      "--margin", "0.1", "--reanalyze"))
        c = last("ab", "--base-tree", "/b", "--patched-tree", "/p", "--prev-tree", "/v", "--out", "/r",
                 "--labels", "b,p,v")
        self.assertEqual(args(c), ("--base", "/b", "--patched", "/p", "--prev", "/v", "--out", "/r",
                                      "--labels", "b,p,v"))
        c = last("ab", "--base-tree", "/b", "--patched-tree", "/b", "--out", "/r", "--rounds", "80",
                 "--percall-only", "--windows", "4")
        self.assertEqual(args(c), ("--base", "/b", "--patched", "/b", "--out", "/r", "--rounds", "80",
                                      "--percall-only", "--windows", "4"))
        self.assertIn("--no-percall", last("ab", "--base-tree", "/b", "--patched-tree", "/p", "--out", "/r",
                                               "--no-percall").argv)

    def test_summary_and_report_default_to_out_latest(self):
        self.assertEqual(args(last("summary")), ("/o/latest",))
        self.assertEqual(args(last("summary", "--out", "/x")), ("/x/latest",))
        self.assertEqual(args(last("summary", "/run", "--kcsan-all")), ("/run",))
        self.assertEqual(last("summary", "/run", "--kcsan-all").env, (("ZSGATE_KCSAN_ALL", "1"),))
        p = plan("report", "/run")
        self.assertEqual([(prog(c), args(c), c.must_pass) for c in p],
                         [("summary", ("/run",), False), ("report", ("/run",), True)])
        self.assertEqual(args(last("summary", environ={})), (os.path.join(ROOT, "out", "latest"),))

    def test_tree_and_farm_collect(self):
        c = last("tree", "--kdir", "/k", "--name", "patched", "--series", "s", "--tree", "/w")
        self.assertEqual(args(c), ("--ksrc", "/k", "--name", "patched", "--series", "s", "--tree", "/w"))
        c = last("farm-collect", "--tree", "/t", "--out", "/r", "--ab-env", "A=1", "a=b", "c=d")
        self.assertEqual(args(c), ("--out", "/r", "--tree", "/t", "--ab-env", "A=1", "a=b", "c=d"))

    def test_meta(self):
        c = last("meta", "/r", "add-step", "kunit", "10", "20", "0")
        self.assertEqual((prog(c), args(c)),
                         ("meta", ("/r", "add-step", "kunit", "10", "20", "0")))
        self.assertEqual(args(last("meta", "/r", "note", "why", "--no-vm given")),
                         ("/r", "note", "why", "--no-vm given"))
        with self.assertRaises(SystemExit):
            cli.parse(["meta", "/r", "frobnicate"])


class CatalogueAndHostTest(unittest.TestCase):
    def test_mutants_only_list_and_deps_first(self):
        p = plan("mutants", "--only", "a,b", "--skip-ab")
        self.assertEqual([prog(c) for c in p], ["deps", "mutants"])
        self.assertTrue(p[0].must_pass)
        self.assertEqual(args(p[1]), ("--only", "a,b", "--skip-ab"))
        self.assertEqual([prog(c) for c in plan("mutants", "--list")], ["mutants"])

    def test_examples(self):
        p = plan("examples", "--only", "x", "--ab", "--archs", "um")
        self.assertEqual([prog(c) for c in p], ["deps", "examples"])
        self.assertEqual(args(p[1]), ("--only", "x", "--ab"))
        self.assertEqual(p[1].env, (("ARCHS", "um"),))
        self.assertEqual(len(plan("examples", "--rejudge", "/o/examples-1")), 1)

    def test_host_tests_write_under_out(self):
        c = last("selftests", "--quick", "--ksrc", "/k")
        self.assertEqual(args(c), ("--quick",))
        self.assertEqual(env_of(c), {"KSRC": "/k", "OUT": "/o/selftests-host"})
        self.assertEqual(args(last("selftests", "--", "-c", "zram_free")), ("--", "-c", "zram_free"))
        self.assertEqual(env_of(last("selftests-faults", "--out", "/x"))["OUT"], "/x/selftests-faults")
        c = last("kselftest-tar", "--static", "--check")
        self.assertEqual((args(c), env_of(c)["OUT"]), (("--static", "--check"), "/o"))

    def test_export_series_from_option_or_environment(self):
        self.assertEqual(args(last("export")), ("--out", "/o/export"))
        self.assertEqual(args(last("export", environ={**ENV, "SERIES": "none"})), ("--out", "/o/export"))
        self.assertEqual(args(last("export", environ={**ENV, "SERIES": "/s"})),
                         ("--out", "/o/export", "--series", "/s"))
        c = last("export", "--series", "/t", "--signoff", "A <a@b>", "--kernelci", environ={**ENV, "SERIES": "/s"})
        self.assertEqual(args(c), ("--out", "/o/export", "--series", "/t", "--signoff", "A <a@b>",
                                      "--kernelci"))

    def test_source_and_doctor(self):
        self.assertEqual(env_of(last("source", "--base", "7.2", "--refresh", "--mirror", "http://m")),
                         {"BASE": "7.2", "ZSGATE_REFRESH": "1", "ZSGATE_MIRROR": "http://m"})
        self.assertEqual(env_of(last("doctor", "--offline", "--need-gb", "4")),
                         {"ZSGATE_DOCTOR_OFFLINE": "1", "ZSGATE_DOCTOR_NEED_GB": "4"})

    def test_test_tools_runs_in_the_repository(self):
        p = plan("test-tools")
        self.assertEqual([c.argv[:3] for c in p], [("python3", "-m", "unittest"), ("/usr/bin/python3", "-m", "mypy")])
        self.assertTrue(all(c.cwd == ROOT and c.must_pass for c in p))


class UsageErrorTest(unittest.TestCase):
    def test_bad_command_lines_exit_2(self):
        bad = [
            [],
            ["nosuch"],
            ["gate", "--bogus"],
            ["gate", "--jobs", "many"],
            ["gate", "extra"],
            ["kunit", "--tree", "/t"],
            ["kunit", "--filter", "x"],
            ["kunit", "--tree", "/t", "--arch", "um", "--name", "k", "--out", "/r", "--kdir", "/k"],
            ["kunit", "--tree", "/t", "--arch", "um", "--name", "k", "--out", "/r", "--no-kcsan"],
            ["kunit", "--tree", "/t", "--arch", "sparc", "--name", "k", "--out", "/r"],
            ["vm", "--arch", "um", "--name", "v", "--out", "/r"],
            ["vm", "--tree", "/t", "--arch", "um", "--name", "v", "--out", "/r", "--all", "--filter", "x"],
            ["ab", "--base", "/b", "--patched", "/p", "--out", "/r"],
            ["tree", "--name", "base"],
            ["farm-collect", "--tree", "/t", "--out", "/r"],
            ["deps", "--now"],
            ["test-tools", "x"],
        ]
        for argv in bad:
            with self.subTest(argv=argv):
                self.assertEqual(usage_error(*argv), 2)

    def test_the_executable_exits_2_on_usage(self):
        r = subprocess.run([ZSGATE, "gate", "--bogus"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unrecognized arguments: --bogus", r.stderr)


class RunPlanTest(unittest.TestCase):
    """The real runner: Commands in a child Python (the last command replaces the process),
    Calls in this one."""

    def run_plan(self, plan: str) -> subprocess.CompletedProcess:
        code = ("import os, sys; sys.path.insert(0, sys.argv[1]); from zsgate.cli import Command as C, run_plan; "
                f"sys.exit(run_plan({plan}, os.environ))")
        return subprocess.run([sys.executable, "-c", code, CI], capture_output=True, text=True,
                              env={**os.environ, "KEEP": "k"})

    def test_last_command_exit_code_and_environment(self):
        r = self.run_plan("(C(('sh', '-c', 'echo one; exit 3'), must_pass=False),"
                          " C(('sh', '-c', 'echo $KEEP $X $PWD; exit 5'), env=(('X', 'x'),), cwd='/'))")
        self.assertEqual((r.returncode, r.stdout), (5, "one\nk x /\n"))

    def test_a_failed_must_pass_command_ends_the_plan(self):
        r = self.run_plan("(C(('sh', '-c', 'exit 4')), C(('sh', '-c', 'echo ran')))")
        self.assertEqual((r.returncode, r.stdout), (4, ""))

    def test_a_call_runs_in_process_with_its_environment_then_restores_it(self):
        seen: List[Tuple[List[str], Optional[str], Optional[str]]] = []

        def main(argv: List[str]) -> int:
            seen.append((argv, os.environ.get("ZS_T_X"), os.environ.get("ZS_T_KEEP")))
            os.environ["ZS_T_LEAK"] = "1"
            return int(argv[0])

        fake = types.ModuleType("zsgate._test_call")
        setattr(fake, "main", main)
        with mock.patch.dict(sys.modules, {"zsgate._test_call": fake}), \
                mock.patch.dict(os.environ, {"ZS_T_KEEP": "k"}):
            rc = cli.run_plan((cli.Call("_test_call", ("3",), (("ZS_T_X", "x"),), must_pass=False),
                               cli.Call("_test_call", ("5",))), os.environ)
            self.assertEqual(rc, 5)
            self.assertEqual(seen, [(["3"], "x", "k"), (["5"], None, "k")])
            self.assertNotIn("ZS_T_X", os.environ)
            self.assertNotIn("ZS_T_LEAK", os.environ)
            seen.clear()
            self.assertEqual(cli.run_plan((cli.Call("_test_call", ("4",)), cli.Call("_test_call", ("0",))),
                                          os.environ), 4)
            self.assertEqual([a for a, _, _ in seen], [["4"]])

    def test_a_calls_usage_error_is_its_exit_code(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = cli.run_plan((cli.Call("abrun", ("--base", "/b")),), os.environ)
        self.assertEqual(rc, 2)
        self.assertIn("usage: ci/ab", err.getvalue())

    def test_a_calls_exception_is_exit_1_and_the_log_step_comes_back(self):
        # inproc.call, as the gate calls its steps: what ends the plan is the step's exit 1
        from zsgate import log as zlog

        def main(argv: List[str]) -> int:
            zlog.set_step("boom")
            raise RuntimeError("fake step raised")

        fake = types.ModuleType("zsgate._test_call")
        setattr(fake, "main", main)
        err = io.StringIO()
        old = zlog._step
        zlog.set_step("zsgate")
        try:
            with mock.patch.dict(sys.modules, {"zsgate._test_call": fake}), contextlib.redirect_stderr(err):
                rc = cli.run_plan((cli.Call("_test_call"), cli.Call("_test_call")), os.environ)
            self.assertEqual(zlog.step(), "zsgate")
        finally:
            zlog._step = old
        self.assertEqual(rc, 1)
        self.assertEqual(err.getvalue().count("_test_call failed with RuntimeError: fake step raised (exit 1)"), 1)

    def test_zsgate_passes_the_step_exit_code_through(self):
        # ci/tree exits 1 for a source that is not a kernel tree (after argparse accepted it)
        r = subprocess.run([ZSGATE, "tree", "--ksrc", "/nonexistent", "--name", "base"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a Linux source tree", r.stderr)


class DocsTest(unittest.TestCase):
    def test_docs_cli_lists_every_verb_and_its_make_target(self):
        with open(os.path.join(ROOT, "docs", "cli.md"), encoding="utf-8") as f:
            rows = re.findall(r"^\| `([a-z-]+)` \| .* \| (step|`make ([a-z-]+)`) \|$", f.read(), re.M)
        self.assertEqual({r[0]: r[2] or None for r in rows},
                         {v.name: v.name if v.make else None for v in cli.VERBS})

    def test_the_options_docs_cli_names_exist(self):
        with open(os.path.join(ROOT, "docs", "cli.md"), encoding="utf-8") as f:
            named = set(re.findall(r"`(--[a-z-]+)", f.read()))
        parser, parsers = cli.build_parser()
        known = {o for p in parsers.values() for a in p._actions for o in a.option_strings}
        self.assertEqual(named - known, set())


@unittest.skipUnless(shutil.which("make"), "needs make")
class MakefileTest(unittest.TestCase):
    def make(self, *args: str) -> str:
        r = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT, *args],
                           capture_output=True, text=True, check=True)
        return r.stdout

    def phony(self) -> List[str]:
        with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as f:
            text = f.read().replace("\\\n", " ")
        return [t for m in re.findall(r"^\.PHONY:(.*)$", text, re.M) for t in m.split()]

    def test_every_target_is_a_verb_and_every_make_verb_a_target(self):
        make_verbs = {v.name for v in cli.VERBS if v.make}
        self.assertEqual(set(self.phony()) - {"help", "clean", "distclean"}, make_verbs)

    def test_make_n_shows_the_one_liner(self):
        for v in cli.VERBS:
            if not v.make:
                continue
            with self.subTest(target=v.name):
                lines = self.make("-n", v.name).splitlines()
                self.assertEqual(len(lines), 1, lines)
                argv = shlex.split(lines[0])
                self.assertEqual(argv[:2], ["./zsgate", v.name])
                cli.parse(argv[1:])  # and it is a command line the CLI takes

    def test_make_variables_become_options(self):
        cases = [
            (["selftests", "QUICK=1"], "./zsgate selftests --quick"),
            (["mutants", "ONLY=a,b"], './zsgate mutants --only "a,b"'),
            (["examples", "ONLY=x", "AB=1"], './zsgate examples --only "x" --ab'),
            (["examples", "AB=0"], "./zsgate examples"),
            (["export", "SIGNOFF=A <a@b>", "KERNELCI=1"], './zsgate export --signoff "A <a@b>" --kernelci'),
        ]
        for args, line in cases:
            with self.subTest(args=args):
                self.assertEqual(" ".join(self.make("-n", *args).split()), line)

    def test_exported_variables_reach_the_verb(self):
        # make passes KDIR ... KCSAN to ./zsgate's environment; ci/gate reads them there
        out = self.make("--eval", "zs-env: ; @env | grep -E '^(KDIR|SERIES|PREV|ARCHS|KCSAN|OUT)=' | sort",
                        "zs-env", "KDIR=/k", "SERIES=none", "KCSAN=0", "ARCHS=um", "PREV=/v2")
        self.assertEqual(out.split(), ["ARCHS=um", "KCSAN=0", "KDIR=/k", f"OUT={ROOT}/out", "PREV=/v2",
                                       "SERIES=none"])

    def test_make_help_is_the_cli_help(self):
        r = subprocess.run([ZSGATE, "--help"], capture_output=True, text=True, check=True)
        self.assertEqual(self.make("help"), r.stdout)
        for v in cli.VERBS:
            self.assertRegex(r.stdout, rf"\n    {re.escape(v.name)}\s")
        for var, _ in cli.MAKE_VARIABLES:
            self.assertIn(var.split("=")[0] + "=", r.stdout)


if __name__ == "__main__":
    unittest.main()
