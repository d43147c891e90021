# SPDX-License-Identifier: GPL-2.0
"""ci/doctor (zsgate/doctor.py): a tool missing from PATH is a problem line naming its Debian package."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCTOR = os.path.join(ROOT, "ci", "doctor")
# tools zsgate.doctor checks, with the package its problem line must name; the test hides the
# first one this machine has (a fresh machine may lack the optional ones)
CANDIDATES = [("stress-ng", "stress-ng"), ("ccache", "ccache"), ("flex", "flex"),
              ("bc", "bc"), ("cpio", "cpio"), ("rsync", "rsync")]


def path_without(tool: str, into: str) -> str:
    """A directory of symlinks to every command of $PATH except `tool`."""
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            src, dst = os.path.join(d, name), os.path.join(into, name)
            if name == tool or os.path.lexists(dst) or not os.access(src, os.X_OK):
                continue
            os.symlink(src, dst)
    return into


class DoctorTest(unittest.TestCase):
    def setUp(self):
        found = [(t, p) for t, p in CANDIDATES if shutil.which(t)]
        if not found:
            self.skipTest("none of %s installed" % ", ".join(t for t, _ in CANDIDATES))
        self.tool, self.pkg = found[0]
        self.tmp = tempfile.mkdtemp(prefix="zsgate-doctor-test.")
        self.addCleanup(shutil.rmtree, self.tmp)

    def run_doctor(self, path: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, PATH=path, ZSGATE_DOCTOR_OFFLINE="1",
                   ZSGATE_CACHE=os.path.join(self.tmp, "cache"), OUT=os.path.join(self.tmp, "out"))
        return subprocess.run([sys.executable, DOCTOR], env=env, capture_output=True, text=True, timeout=60)

    def test_hidden_tool_is_a_problem_naming_its_package(self):
        bin_dir = os.path.join(self.tmp, "bin")
        os.mkdir(bin_dir)
        r = self.run_doctor(path_without(self.tool, bin_dir))
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"doctor: missing {self.tool} — apt-get install {self.pkg}", r.stdout)
        last = r.stdout.strip().splitlines()[-1]
        self.assertRegex(last, r"^doctor: [1-9][0-9]* problems, [0-9]+ warnings$")

    def test_full_path_does_not_report_the_tool(self):
        r = self.run_doctor(os.environ.get("PATH", ""))
        self.assertNotIn(f"missing {self.tool} ", r.stdout, r.stdout)
        self.assertRegex(r.stdout.strip().splitlines()[-1], r"^doctor: [0-9]+ problems, [0-9]+ warnings$")


if __name__ == "__main__":
    unittest.main()
