# SPDX-License-Identifier: GPL-2.0
"""ci/gate's wiring over fake steps: the KCSAN run of the race cases, its switches, and the
step times that reach meta.json and summary.json.

ci/gate runs the steps from $ZSGATE_ROOT/ci: the test points ZSGATE_ROOT at a temporary
root whose ci/deps, source, tree, kunit, vm, ab, report and kcidb are stubs that log their
arguments (ci/kunit and ci/vm write a passing result), and whose ci/meta, ci/summary and
ci/zsgate are the real ones.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)

STUB = r'''#!/usr/bin/env bash
echo "$(basename "$0") $*" >>"$ZSGATE_ROOT/calls.txt"
case $(basename "$0") in
source) echo "KSRC=/k KVERSION=7.3.0 PART_A=true KPKG=p" ;;
tree)	case " $* " in
	*" --name base "*) echo "TREE=$ZSGATE_ROOT/base" ;;
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
        for name in ("deps", "source", "tree", "kunit", "vm", "ab", "report", "kcidb"):
            p = os.path.join(d, "ci", name)
            with open(p, "w") as f:
                f.write(STUB)
            os.chmod(p, 0o755)
        for name in ("meta", "summary", "zsgate", "lib.sh"):
            os.symlink(os.path.join(CI, name), os.path.join(d, "ci", name))
        full = {k: v for k, v in os.environ.items() if k not in ("KCSAN", "ZSGATE_NO_KCSAN", "DEBUG", "SERIES")}
        full.update({"ZSGATE_ROOT": d, "ZSGATE_CACHE": os.path.join(d, "cache"), "OUT": os.path.join(d, "out"),
                     "RUN_ID": "r", "ARCHS": "um x86_64", "ZSGATE_NO_AB": "1"})
        full.update(env)
        r = subprocess.run([os.path.join(CI, "gate")], env=full, capture_output=True, text=True)
        with open(os.path.join(d, "calls.txt")) as f:
            calls = f.read().splitlines()
        run = os.path.join(d, "out", "r")
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

    def test_switches_leave_it_out_and_say_so(self):
        for env, why in (({"KCSAN": "0"}, "KCSAN=0"), ({"ZSGATE_NO_KCSAN": "1"}, "ZSGATE_NO_KCSAN=1"),
                         ({"ARCHS": "um"}, "x86_64 is not in ARCHS"), ({"SERIES": "none"}, "no series")):
            with self.subTest(env=env):
                r, calls, meta, s = self.gate(**env)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertFalse([c for c in calls if "--kcsan" in c])
                self.assertIn(why, s["notes"]["kcsan"])
                self.assertIn("note: kcsan: not run: " + why, r.stdout)


if __name__ == "__main__":
    unittest.main()
