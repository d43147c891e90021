# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/log.py: the Python steps' log lines are ci/lib.sh's, the guard's .last too."""
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(CI, "lib.sh")
LINE = re.compile(r"^\[(\d\d):(\d\d)\] (.*)$")

PY = ("import sys; sys.path.insert(0, sys.argv[1]); from zsgate.log import log, set_step\n"
      "if sys.argv[2]: set_step(sys.argv[2])\n"
      "log('hello world')\n")


def run_both(env: dict, step: str, tmp: str) -> dict:
    """The line and the .last file of lib.sh's log and of log.py's, under @env."""
    out = {}
    for who in ("sh", "py"):
        state = os.path.join(tmp, who + ".state")
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ZSGATE_GUARD_STATE": state, **env}
        if who == "sh":   # a bash step names itself in ZSGATE_STEP (ci/check, ci/kunit)
            cmd = ["bash", "-c", 'source "$1"; [ -z "$2" ] || ZSGATE_STEP=$2; log hello world',
                   "prog", LIB, step]
        else:
            cmd = [sys.executable, "-c", PY, CI, step]
        r = subprocess.run(cmd, env=e, capture_output=True, text=True, check=True)
        last = None
        if os.path.exists(state + ".last"):
            with open(state + ".last", encoding="utf-8") as f:
                last = f.read()
        out[who] = {"stderr": r.stderr, "stdout": r.stdout, "last": last}
    return out


class SameAsLibShTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def check(self, env: dict, step: str, want_step: str, want_s: int) -> None:
        got = run_both(env, step, self.tmp.name)
        for who, g in got.items():
            with self.subTest(who=who):
                self.assertEqual(g["stdout"], "", f"{who}: the log went to stdout")
                m = LINE.match(g["stderr"].rstrip("\n"))
                self.assertIsNotNone(m, f"{who}: {g['stderr']!r} is not '[MM:SS] step: message'")
                assert m is not None
                s = int(m.group(1)) * 60 + int(m.group(2))
                self.assertTrue(want_s <= s <= want_s + 2, f"{who}: elapsed {s} s, expected {want_s} s")
                self.assertEqual(m.group(3), f"{want_step}: hello world")
                self.assertEqual(g["last"], f"{want_step}: hello world\n", f"{who}: the guard's .last")
        self.assertEqual(LINE.sub(r"\3", got["sh"]["stderr"]), LINE.sub(r"\3", got["py"]["stderr"]))

    def test_the_step_named_by_the_script(self):
        self.check({"ZSGATE_T0": str(int(time.time()) - 75)}, "mutants", "mutants", 75)

    def test_the_step_from_the_environment(self):
        self.check({"ZSGATE_T0": str(int(time.time()) - 3600), "ZSGATE_STEP": "outer"}, "", "outer", 3600)

    def test_without_t0_the_time_since_the_start(self):
        self.check({}, "vm vm-um-base", "vm vm-um-base", 0)

    def test_no_last_file_outside_the_guard(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        r = subprocess.run([sys.executable, "-c", PY, CI, "ab"], env=env, capture_output=True, text=True,
                           check=True, cwd=self.tmp.name)
        self.assertRegex(r.stderr, r"^\[00:0\d\] ab: hello world\n$")
        self.assertEqual(os.listdir(self.tmp.name), [])

    def test_an_unwritable_last_file_does_not_fail_the_step(self):
        env = {"ZSGATE_GUARD_STATE": os.path.join(self.tmp.name, "no", "such", "dir", "state"),
               "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        r = subprocess.run([sys.executable, "-c", PY, CI, "ab"], env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ab: hello world", r.stderr)


class OneLogTest(unittest.TestCase):
    def test_one_python_log_definition_in_ci(self):
        """Every Python step logs through zsgate.log (issue 17: log() was copied 4 times)."""
        found = []
        for d, _, files in os.walk(CI):
            if os.path.basename(d) in ("data", "__pycache__"):
                continue
            for fn in files:
                p = os.path.join(d, fn)
                with open(p, "rb") as f:
                    head = f.read(200)
                if not (fn.endswith(".py") or head.startswith(b"#!/usr/bin/env python3")):
                    continue
                with open(p, encoding="utf-8") as f:
                    found += [f"{os.path.relpath(p, CI)}:{i}" for i, ln in enumerate(f, 1)
                              if re.match(r"\s*def log\(", ln)]
        self.assertEqual(len(found), 1, f"log() defined at {found}")
        self.assertTrue(found[0].startswith("zsgate/log.py:"), found)


if __name__ == "__main__":
    unittest.main()
