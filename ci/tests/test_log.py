# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/log.py, the one log of the ci/ steps: "[MM:SS] STEP: MESSAGE" on stderr (MM:SS
since $ZSGATE_T0), the guard's .last file "STEP: MESSAGE", and no other log definition in
ci/ (Python or shell: ci/lib.sh's log() is gone)."""
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(r"^\[(\d\d):(\d\d)\] (.*)$")

PY = ("import sys; sys.path.insert(0, sys.argv[1]); from zsgate.log import log, set_step\n"
      "if sys.argv[2]: set_step(sys.argv[2])\n"
      "log('hello world')\n")


def run_log(env: dict, step: str, tmp: str) -> dict:
    """stdout, stderr and the .last file of a process that logs "hello world" through
    log.py (set_step(@step) first unless empty), under the guard (ZSGATE_GUARD_STATE) and
    @env."""
    state = os.path.join(tmp, "py.state")
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ZSGATE_GUARD_STATE": state, **env}
    r = subprocess.run([sys.executable, "-c", PY, CI, step], env=e, capture_output=True, text=True, check=True)
    last = None
    if os.path.exists(state + ".last"):
        with open(state + ".last", encoding="utf-8") as f:
            last = f.read()
    return {"stderr": r.stderr, "stdout": r.stdout, "last": last}


class LogLineTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def check(self, env: dict, step: str, want_step: str, want_s: int) -> None:
        g = run_log(env, step, self.tmp.name)
        self.assertEqual(g["stdout"], "", "the log went to stdout")
        self.assertEqual(g["stderr"].count("\n"), 1, g["stderr"])
        m = LINE.match(g["stderr"].rstrip("\n"))
        self.assertIsNotNone(m, f"{g['stderr']!r} is not '[MM:SS] step: message'")
        assert m is not None
        s = int(m.group(1)) * 60 + int(m.group(2))
        self.assertTrue(want_s <= s <= want_s + 2, f"elapsed {s} s, expected {want_s} s")
        self.assertEqual(m.group(3), f"{want_step}: hello world")
        self.assertEqual(g["last"], f"{want_step}: hello world\n", "the guard's .last")

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
    @staticmethod
    def ci_files() -> "list[tuple[str, bytes, bool]]":
        """(path relative to ci/, text, is Python) of every file under ci/ but test data."""
        out = []
        for d, _, files in os.walk(CI):
            if os.path.basename(d) in ("data", "__pycache__"):
                continue
            for fn in files:
                p = os.path.join(d, fn)
                with open(p, "rb") as f:
                    text = f.read()
                out.append((os.path.relpath(p, CI), text,
                            fn.endswith(".py") or text.startswith(b"#!/usr/bin/env python3")))
        return out

    def test_no_shell_log_in_ci(self):
        """No shell file in ci/ defines a log() (or sources a helper library that does):
        ci/lib.sh is gone; the guest's init script (zsgate/vm.py) echoes, it has no log()."""
        found = [f"{rel}:{i}" for rel, text, py in self.ci_files() if not py
                 for i, ln in enumerate(text.split(b"\n"), 1)
                 if re.match(rb"\s*(function\s+)?log\s*\(\)|\s*(\.|source)\s+\S*lib\.sh", ln)]
        self.assertEqual(found, [])
        self.assertFalse(os.path.exists(os.path.join(CI, "lib.sh")))

    def test_one_python_log_definition_in_ci(self):
        """Every Python step logs through zsgate.log (issue 17: log() was copied 4 times)."""
        found = [f"{rel}:{i}" for rel, text, py in self.ci_files() if py
                 for i, ln in enumerate(text.decode("utf-8").splitlines(), 1)
                 if re.match(r"\s*def log\(", ln)]
        self.assertEqual(len(found), 1, f"log() defined at {found}")
        self.assertTrue(found[0].startswith("zsgate/log.py:"), found)


if __name__ == "__main__":
    unittest.main()
