# SPDX-License-Identifier: GPL-2.0
"""ci/gate's wiring over fake steps: the KCSAN run of the race cases, its switches, and the
step times that reach meta.json and summary.json.

ci/gate (ci/zsgate/gate.py) runs its process steps from $ZSGATE_ROOT/ci: the test points
ZSGATE_ROOT at a temporary root whose ci/deps, kunit, vm and ab are stubs that log their
arguments (ci/kunit and ci/vm write a passing result). The source, tree, VM and A/B steps
run in the gate's process; ZSGATE_GATE_TEST_STEPS=tests/gatesteps.py makes them run the
root's stub ci/source, ci/tree, ci/vm and ci/ab instead (vmrun.main and abrun.main
monkeypatched in the gate's process), which log their arguments too. meta.json, the
summary, the report and kcidb.json are the real ones, in the gate's process.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from tests import fakesrc
from zsgate import build, deps, gate

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)

STUB = r'''#!/usr/bin/env bash
echo "$(basename "$0") $*" >>"$ZSGATE_ROOT/calls.txt"
case $(basename "$0") in
source) echo '{"KSRC": "/k", "KVERSION": "7.3.0", "PART_A": "true", "KPKG": "p"}' >"$2" ;;
tree)	case " $* " in
	*" --name base "*) echo "TREE=$ZSGATE_ROOT/base" ;;
	*" --name prev "*) echo "TREE=$ZSGATE_ROOT/prev SERIES_ID=def" ;;
	*) echo "TREE=$ZSGATE_ROOT/patched SERIES_ID=abc" ;;
	esac ;;
kunit|vm)
	out="" name=""
	while [ $# -gt 0 ]; do
		case $1 in --out) out=$2; shift ;; --name) name=$2; shift ;; esac
		shift
	done
	echo '{"name": "g", "test_cases": [], "sub_groups": [{"name": "zsmalloc", "sub_groups": [],
	      "test_cases": [{"name": "test_x", "status": "PASS"}]}]}' >"$out/$name.json" ;;
ab)	out=""
	while [ $# -gt 0 ]; do
		case $1 in --out) out=$2; shift ;; esac
		shift
	done
	# FAKE_AB_EXIT: ends (that exit code) before its ab.json, as ci/ab when its selftests do not build
	[ -n "$FAKE_AB_EXIT" ] && exit "$FAKE_AB_EXIT"
	echo '{"arch": "x86_64", "entries": [{"backend": "zram", "case": "munmap", "speedup": null}],
	      "regressions": [], "problems": [], "splats": []}' >"$out/ab.json" ;;
esac
exit 0
'''


class GateWiringTest(unittest.TestCase):
    def gate(self, **env):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        os.makedirs(os.path.join(d, "ci"))
        os.makedirs(os.path.join(d, "configs"))
        os.makedirs(os.path.join(d, "series", "deferred-free"))
        for a in ("um", "x86_64"):
            open(os.path.join(d, "configs", f"zsmalloc-{a}.kunitconfig"), "w").close()
        with open(os.path.join(d, "series", "deferred-free", "series"), "w") as f:
            f.write("0001.patch\n")
        open(os.path.join(d, "prev.mbox"), "w").close()
        for name in ("deps", "source", "tree", "kunit", "vm", "ab"):
            p = os.path.join(d, "ci", name)
            with open(p, "w") as f:
                f.write(STUB)
            os.chmod(p, 0o755)
        for name in ("zsgate",):
            os.symlink(os.path.join(CI, name), os.path.join(d, "ci", name))
        full = {k: v for k, v in os.environ.items() if k not in ("KCSAN", "ZSGATE_NO_KCSAN", "DEBUG", "SERIES")}
        full.update({"ZSGATE_ROOT": d, "ZSGATE_CACHE": os.path.join(d, "cache"), "OUT": os.path.join(d, "out"),
                     "RUN_ID": "r", "ARCHS": "um x86_64", "ZSGATE_NO_AB": "1",
                     "ZSGATE_GATE_TEST_STEPS": os.path.join(CI, "tests", "gatesteps.py")})
        full.update({k: v.format(root=d) for k, v in env.items()})
        r = subprocess.run([os.path.join(CI, "gate")], env=full, capture_output=True, text=True)
        calls = []
        if os.path.exists(os.path.join(d, "calls.txt")):
            with open(os.path.join(d, "calls.txt")) as f:
                calls = f.read().splitlines()
        calls = [c.replace(d, "{root}") for c in calls]
        run = os.path.join(d, "out", "r")
        if not os.path.exists(os.path.join(run, "meta.json")):
            return r, calls, None, None
        with open(os.path.join(run, "meta.json")) as f:
            meta = json.load(f)
        with open(os.path.join(run, "summary.json")) as f:
            summary = json.load(f)
        return r, calls, meta, summary

    def test_kcsan_run_of_the_race_cases(self):
        r, calls, meta, s = self.gate()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        kc = [c for c in calls if c.startswith("kunit ") and "--kcsan" in c]
        self.assertEqual(len(kc), 1, calls)
        self.assertIn("--name kunit-x86_64-patched-kcsan", kc[0])
        self.assertIn("--filter zsmalloc --attr-filter speed=slow", kc[0])
        self.assertIn("patched", kc[0].split("--tree ")[1].split()[0])
        run = [x for x in meta["runs"] if x["name"] == "kunit-x86_64-patched-kcsan"]
        self.assertEqual(run, [{"name": "kunit-x86_64-patched-kcsan", "arch": "x86_64",
                                "revision": "patched", "kind": "kunit", "config": "kcsan"}])
        # the step table: every step once, in order, with its time
        names = [x["name"] for x in s["steps"]]
        self.assertEqual(names, ["deps", "source", "tree-base", "tree-patched",
                                 "kunit-um-base", "kunit-um-patched", "kunit-x86_64-base",
                                 "kunit-x86_64-patched", "kunit-x86_64-patched-kcsan",
                                 "vm-um-base", "vm-um-patched", "vm-x86_64-base", "vm-x86_64-patched",
                                 "summary"])
        self.assertTrue(all(x["seconds"] >= 0 for x in s["steps"]))
        self.assertIn("\ntotal ", r.stdout)
        # the in-process VM steps set their own log step: the gate's is back after each
        self.assertRegex(r.stderr, r"\] gate: step vm: vm-um-patched\n")
        self.assertRegex(r.stderr, r"\] gate: step summary\n")

    def test_an_exception_in_a_vm_step_fails_that_step_only(self):
        r, calls, meta, s = self.gate(FAKE_STEP_RAISE="vm")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # no VM results: verdict FAIL
        self.assertIn("RuntimeError: fake vm raised", r.stderr)  # the traceback
        self.assertIn("] vm vm-um-base: vm failed with RuntimeError: fake vm raised (exit 1)", r.stderr)
        self.assertFalse([c for c in calls if c.startswith("vm ")], calls)
        steps = {x["name"]: x for x in meta["steps"]}
        for n in ("vm-um-base", "vm-um-patched", "vm-x86_64-base", "vm-x86_64-patched"):
            self.assertEqual(steps[n]["exit"], 1, n)
        self.assertEqual([x["name"] for x in s["steps"]][-1], "summary")  # the gate went on
        self.assertRegex(r.stderr, r"\] gate: step summary\n")
        self.assertIn("verdict: FAIL", r.stdout)

    def test_an_exception_in_the_ab_fails_the_ab_only(self):
        r, calls, meta, s = self.gate(FAKE_STEP_RAISE="ab", ZSGATE_NO_AB="")
        self.assertIn("RuntimeError: fake ab raised", r.stderr)
        self.assertIn("] ab: ab failed with RuntimeError: fake ab raised (exit 1)", r.stderr)
        self.assertEqual({x["name"]: x.get("exit") for x in meta["steps"]}["ab"], 1)
        self.assertEqual(len([c for c in calls if c.startswith("vm ")]), 4)
        self.assertRegex(r.stderr, r"\] gate: step summary\n")
        # the A/B was asked for and left no ab.json: no verdict of timing, so no PASS
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(s["problems"], ["A/B did not write ab.json (ci/ab exit 1)"])
        self.assertIsNone(s["ab_not_run"])

    def test_an_ab_that_wrote_no_ab_json_fails_the_verdict(self):
        r, calls, meta, s = self.gate(FAKE_AB_EXIT="2", ZSGATE_NO_AB="")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(s["problems"], ["A/B did not write ab.json (ci/ab exit 2)"])
        self.assertIn("problem: A/B did not write ab.json (ci/ab exit 2)", r.stdout)
        self.assertIn("verdict: FAIL", r.stdout)
        r, calls, meta, s = self.gate(ZSGATE_NO_AB="")  # the same gate with its ab.json
        self.assertEqual((r.returncode, s["verdict"], s["ab_not_run"]), (0, "pass", None), r.stdout + r.stderr)
        self.assertNotIn("A/B not run", r.stdout)

    def test_no_ab_is_said_and_keeps_the_verdict(self):
        for env, why in (({}, "--no-ab"), ({"ZSGATE_NO_VM": "1"}, "--no-vm"), ({"SERIES": "none"}, "no series")):
            with self.subTest(env=env):
                r, calls, meta, s = self.gate(**env)
                self.assertEqual((r.returncode, s["verdict"]), (0, "pass"), r.stdout + r.stderr)
                self.assertFalse([c for c in calls if c.startswith("ab ")], calls)
                self.assertNotIn("ab", [x["name"] for x in meta["steps"]])
                self.assertEqual((s["ab_not_run"], s["notes"]["ab"]), (why, "not run: " + why))
                self.assertIn(f"\nA/B not run ({why})\n", r.stdout)
                self.assertNotIn("note: ab:", r.stdout)  # said once

    def test_switches_leave_it_out_and_say_so(self):
        for env, why in (({"KCSAN": "0"}, "KCSAN=0"), ({"ZSGATE_NO_KCSAN": "1"}, "ZSGATE_NO_KCSAN=1"),
                         ({"ARCHS": "um"}, "x86_64 is not in ARCHS"), ({"SERIES": "none"}, "no series")):
            with self.subTest(env=env):
                r, calls, meta, s = self.gate(**env)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertFalse([c for c in calls if "--kcsan" in c])
                self.assertIn(why, s["notes"]["kcsan"])
                self.assertIn("note: kcsan: not run: " + why, r.stdout)


    def test_prev_is_a_third_kernel_in_the_ab(self):
        r, calls, meta, s = self.gate(PREV="{root}/prev.mbox", ZSGATE_NO_AB="")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("tree --ksrc /k --name prev --series {root}/prev.mbox", calls)
        # built as the patched x86_64 kernel is (ci/kunit: the build stamp ci/ab checks)
        self.assertIn("kunit --tree {root}/prev --arch x86_64 --out {root}/out/r --name kunit-x86_64-prev", calls)
        self.assertEqual([c for c in calls if c.startswith("kunit ") and "/prev " in c and "--kcsan" not in c],
                         ["kunit --tree {root}/prev --arch x86_64 --out {root}/out/r --name kunit-x86_64-prev"])
        (abc,) = [c for c in calls if c.startswith("ab ")]
        self.assertEqual(abc, "ab --base {root}/base --patched {root}/patched --prev {root}/prev --out {root}/out/r")
        self.assertIn({"name": "kunit-x86_64-prev", "arch": "x86_64", "revision": "prev", "kind": "kunit"},
                      meta["runs"])
        names = [x["name"] for x in s["steps"]]
        self.assertEqual(names[:5], ["deps", "source", "tree-base", "tree-patched", "tree-prev"])
        self.assertEqual(names.index("kunit-x86_64-prev"), names.index("kunit-x86_64-patched") + 1)
        self.assertIn("def", s["notes"]["prev"])

    def test_without_prev_nothing_changes(self):
        r, calls, meta, s = self.gate(ZSGATE_NO_AB="")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        (abc,) = [c for c in calls if c.startswith("ab ")]
        self.assertEqual(abc, "ab --base {root}/base --patched {root}/patched --out {root}/out/r")
        self.assertFalse([c for c in calls if "prev" in c])
        self.assertNotIn("prev", s["notes"])

    def test_prev_without_an_ab_is_not_built_and_says_so(self):
        for env, why in (({}, "ZSGATE_NO_AB=1 (no A/B)"), ({"ARCHS": "um"}, "x86_64, the A/B's arch, is not in ARCHS")):
            with self.subTest(env=env):
                r, calls, meta, s = self.gate(PREV="{root}/prev.mbox", **env)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertFalse([c for c in calls if "prev" in c], calls)
                self.assertEqual(s["notes"]["prev"], "not run: " + why)

    def test_bad_prev_stops_the_gate(self):
        for env, why in (({"PREV": "{root}/nosuch"}, "does not exist"),
                         ({"PREV": "{root}/prev.mbox", "SERIES": "none"}, "needs a SERIES")):
            with self.subTest(env=env):
                r, calls, meta, s = self.gate(**env)
                self.assertEqual(r.returncode, 1)
                self.assertIn(why, r.stderr)
                self.assertIsNone(meta)


class GateConfigTest(unittest.TestCase):
    """The environment, read once, as the shell gate read it."""

    def test_defaults_and_switches(self):
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "series", "deferred-free"))
            c = gate.GateConfig.from_env({"ZSGATE_ROOT": d, "HOME": "/h"})
            self.assertEqual(c.series, "")  # no reference series in this root
            with open(os.path.join(d, "series", "deferred-free", "series"), "w") as f:
                f.write("x.patch\n")
            c = gate.GateConfig.from_env({"ZSGATE_ROOT": d, "HOME": "/h"})
            self.assertEqual(c.series, os.path.join(d, "series", "deferred-free"))
            self.assertEqual((c.archs, c.out, c.cache, c.ab_arch), (("um", "x86_64"), os.path.join(d, "out"),
                                                                   "/h/.cache/zsgate", "x86_64"))
            self.assertEqual((c.debug, c.kcsan, c.reuse_base, c.gate_wait, c.no_vm), (False, "1", True, True, ""))
            self.assertEqual(gate.GateConfig.from_env({"ZSGATE_ROOT": d, "SERIES": "none", "PREV": "none"}).series, "")
            c = gate.GateConfig.from_env({"ZSGATE_ROOT": d, "DEBUG": "0", "ZSGATE_REUSE_BASE": "0",
                                          "ZSGATE_GATE_WAIT": "0", "ARCHS": " x86_64 ", "ZSGATE_NO_VM": "0"})
            self.assertEqual((c.debug, c.reuse_base, c.gate_wait, c.archs, c.no_vm),
                             (False, False, False, ("x86_64",), "0"))  # ZSGATE_NO_VM: any value
            self.assertEqual((c.suffix, gate.GateConfig.from_env({"DEBUG": "1"}).build_dir("um")),
                             ("", ".kunit-um-debug"))


# The kernel's kunit.py in a fakesrc tree, for the real kunitrun in the gate's process: logs
# its directory and arguments, "builds" a UML image and runs a passing suite.
FAKE_KUNIT_PY = r'''#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.path.join(os.environ["ZSGATE_ROOT"], "calls.txt"), "a") as f:
    f.write("kunit.py " + os.getcwd() + " " + " ".join(args) + "\n")
bd = next(a.split("=", 1)[1] for a in args if a.startswith("--build_dir="))
js = next(a.split("=", 1)[1] for a in args if a.startswith("--json="))
os.makedirs(bd, exist_ok=True)
print("[12:00:02] Starting KUnit Kernel (1/1)...")
for n, text in ((".config", "CONFIG_ZSMALLOC=y\n"), ("linux", "image\n"), ("test.log", "ok 1 zsmalloc\n")):
    with open(os.path.join(bd, n), "w") as f:
        f.write(text)
with open(js, "w") as f:
    json.dump({"name": "g", "test_cases": [], "sub_groups": [{"name": "zsmalloc", "sub_groups": [],
               "test_cases": [{"name": "test_x", "status": "PASS"}]}]}, f)
'''


class GateInProcessStepsTest(unittest.TestCase):
    """Without ZSGATE_GATE_TEST_STEPS: treeprep.find_source (zsgate.kernelsrc in the gate's
    process, KDIR= a fakesrc tree), the real treeprep.make_tree, deps.main (a dpkg-query on
    PATH that has every package) and kunitrun.main (over the trees' fake kunit.py) in the
    gate's process."""

    def test_trees_of_a_fake_source(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        for p in ("ci", "configs"):
            os.makedirs(os.path.join(d, p))
        open(os.path.join(d, "configs", "zsmalloc-um.kunitconfig"), "w").close()
        src = fakesrc.make(os.path.join(d, "src"))
        kp = os.path.join(src, "tools", "testing", "kunit", "kunit.py")
        os.makedirs(os.path.dirname(kp))
        with open(kp, "w") as f:
            f.write(FAKE_KUNIT_PY)
        os.chmod(kp, 0o755)
        bindir = os.path.join(d, "bin")
        os.makedirs(bindir)
        with open(os.path.join(bindir, "dpkg-query"), "w") as f:
            f.write('#!/bin/sh\necho "$*" >>"$ZSGATE_ROOT/dpkg.txt"\nprintf "install ok installed"\n')
        os.chmod(os.path.join(bindir, "dpkg-query"), 0o755)
        fakesrc.kunit_dir(os.path.join(d, "kunit"))
        fakesrc.quilt(os.path.join(d, "series", "deferred-free"), {"0001-a.patch": fakesrc.PATCH_A})
        for name in ("vm", "ab"):
            with open(os.path.join(d, "ci", name), "w") as f:
                f.write(STUB)
            os.chmod(os.path.join(d, "ci", name), 0o755)
        env = {k: v for k, v in os.environ.items()
               if k not in ("KCSAN", "ZSGATE_NO_KCSAN", "DEBUG", "SERIES", "ZSGATE_GATE_TEST_STEPS")}
        env.update({"ZSGATE_ROOT": d, "ZSGATE_CACHE": os.path.join(d, "cache"), "OUT": os.path.join(d, "out"),
                    "RUN_ID": "r", "ARCHS": "um", "ZSGATE_NO_VM": "1", "ZSGATE_BUILD_LOCK": os.path.join(d, "lock"),
                    "PATH": bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin"), "KDIR": src})
        r = subprocess.run([os.path.join(CI, "gate")], env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("[tree] patched: ", r.stderr)
        with open(os.path.join(d, "out", "r", "meta.json")) as f:
            meta = json.load(f)
        self.assertEqual(meta["kernel"]["version"], "7.3.0-rc7")
        self.assertEqual(meta["series"]["kind"], "quilt")
        with open(os.path.join(d, "calls.txt")) as f:
            calls = f.read()
        (key,) = os.listdir(os.path.join(d, "cache", "work"))  # config.work_tree's <source key>
        for rev in ("base", "patched"):
            tree = os.path.join(d, "cache", "work", key, rev, "linux")
            self.assertTrue(os.path.isfile(os.path.join(tree, "mm", "tests", "zsmalloc_kunit.c")), tree)
            self.assertIn(f"kunit.py {tree} run --arch=um --kunitconfig={d}/configs/zsmalloc-um.kunitconfig ", calls)
            self.assertIn(f" --build_dir=.kunit-um --json={d}/out/r/kunit-um-{rev}.json\n", calls)
            self.assertEqual(build.check(tree, os.path.join(tree, ".kunit-um"), "um"), None, r.stderr)  # stamped
            self.assertTrue(os.path.isfile(os.path.join(d, "out", "r", f"kunit-um-{rev}.log")))
        with open(os.path.join(d, "dpkg.txt")) as f:
            self.assertEqual(f.read().splitlines(), [f"-W -f=${{Status}} {p}" for p in deps.PKGS])
        self.assertRegex(r.stderr, r"\] deps: all \d+ packages present\n")
        self.assertRegex(r.stderr, r"\] gate: step kunit: kunit-um-patched\n")  # the gate's log step is back
        self.assertIn("\nA/B not run (--no-vm)\n", r.stdout)  # make kunit: no A/B, the verdict PASS
        self.assertIn("TWO", fakesrc.read(os.path.join(d, "cache", "work", key, "patched", "linux"), "mm/a.c"))


if __name__ == "__main__":
    unittest.main()
