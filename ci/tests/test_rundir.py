# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/rundir.py: the run directory's names, the manifest (ci/meta), summary.json and
ab.json; and that ci/kunit, gate.py and check.py use the names it knows."""

import io
import os
import re
import subprocess
import sys
import tempfile
import tokenize
import unittest

from zsgate import rundir

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shell(name):
    with open(os.path.join(CI, name), encoding="utf-8") as f:
        return f.read()


def shell_run_exts(text, var):
    """The extensions a shell script appends to "$<var>/$name": $out/$name.json and
    "$out/$name".{json,log}."""
    exts = set(re.findall(r"\$%s/\$name\.([a-z][a-z.]*[a-z])" % var, text))
    for group in re.findall(r'\$%s/\$name"?\.\{([a-z.,]+)\}' % var, text):
        exts |= set(group.split(","))
    return exts


class NamesTest(unittest.TestCase):
    def test_run_files(self):
        self.assertEqual(rundir.run_file("/o/r", "kunit-um-base", "build.log"), "/o/r/kunit-um-base.build.log")
        self.assertEqual(rundir.file_name("vm-um-base", "vm.json"), "vm-um-base.vm.json")
        self.assertEqual(rundir.path("/o/r", rundir.META), "/o/r/meta.json")
        self.assertEqual(rundir.ab_dir("/o/r"), "/o/r/ab")
        with self.assertRaises(ValueError):
            rundir.run_file("/o/r", "x", "jsn")  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            rundir.path("/o/r", "sumary.json")  # type: ignore[arg-type]

    def test_kunit_writes_the_names_rundir_knows(self):
        # ci/kunit is a wrapper of zsgate/kunitrun.py, whose run files are f(EXT) (its
        # rundir.run_file(out, name, EXT)), the removed ones listed as EXTs, and --json
        self.assertNotIn("$out/", shell("kunit"))
        with open(os.path.join(CI, "zsgate", "kunitrun.py"), encoding="utf-8") as f:
            src = f.read()
        exts = set(re.findall(r'\bf\("([a-z][a-z.]*[a-z])"\)', src))
        exts |= set(re.findall(r"rundir\.run_file\(req\.out, req\.name, '([a-z.]+)'\)", src))
        self.assertIn("kcsan.txt", exts)
        self.assertIn("build.log", exts)
        self.assertEqual(exts, set(rundir.KUNIT_RUN_FILES), "ci/kunit and rundir.KUNIT_RUN_FILES differ")
        self.assertLessEqual(exts, set(rundir.RUN_EXTS))

    def test_gate_writes_the_names_rundir_knows(self):
        # ci/gate is a wrapper of zsgate/gate.py, which builds its paths through rundir
        # (test_python_builds_run_dir_paths_only_through_rundir)
        self.assertNotIn("$run/", shell("gate"))
        with open(os.path.join(CI, "zsgate", "gate.py"), encoding="utf-8") as f:
            src = f.read()
        self.assertEqual(set(re.findall(r"rundir\.(RUNNING|INTERRUPTED)\b", src)), {"RUNNING", "INTERRUPTED"})
        self.assertIn('rundir.run_file(self.run, name, "build.log")', src)
        # make check (zsgate/check.py) reads the latest run's summary, through rundir
        with open(os.path.join(CI, "zsgate", "check.py"), encoding="utf-8") as f:
            self.assertIn('rundir.path(os.path.join(out, "latest"), rundir.SUMMARY)', f.read())

    def test_docs_table_lists_what_rundir_names(self):
        with open(os.path.join(os.path.dirname(CI), "docs", "results.md"), encoding="utf-8") as f:
            text = f.read()
        table = text.split("## Files per run\n", 1)[1].split("\n## ", 1)[0]
        cells = [ln.split("|")[1] for ln in table.splitlines() if ln.startswith("| `")]
        names = {n for c in cells for n in re.findall(r"`([^`]+)`", c)}
        self.assertEqual({n[len("<run>."):] for n in names if n.startswith("<run>.")}, set(rundir.RUN_EXTS))
        self.assertEqual({n for n in names if not n.startswith("<run>.")}, set(rundir.DIR_FILES))

    def test_parser_sees_a_name_rundir_does_not_know(self):
        exts = shell_run_exts('x >"$out/$name.kcsan.log"; rm -f "$out/$name".{json,figs.json}', "out")
        self.assertEqual(exts, {"kcsan.log", "json", "figs.json"})
        self.assertFalse(exts <= set(rundir.RUN_EXTS))


# A string literal that is a run-dir file name: ".json", name + ".vm.json", f"{name}.ktap",
# "summary.json" (an extension alone, "vm.json", is what rundir.run_file takes).
_RUN_FILE = re.compile(r"^(\{[^{}]*\}|\w[\w-]*)?\.(%s)$" % "|".join(re.escape(e) for e in rundir.RUN_EXTS))
# Files of other directories than a run dir, named where they are written.
NOT_RUN_DIR = {"examples.json",  # ci/examples' own OUT/examples-<id>/
               "mutants.json",  # ci/mutants' OUT/mutants-<id>/
               "export.json",  # zsgate/export.py's export dir
               "kcidb_schema_v5_3.json",  # beside zsgate/kcidb.py
               "test.log",  # kunit.py's console in the build dir (zsgate/kunitrun.py copies it)
               "apt-install.log",  # $ZSGATE_CACHE/logs/ (zsgate/deps.py)
               "update.log", "download.log"}  # zsgate/kernelsrc.py's $ZSGATE_CACHE/apt


def hand_built(src):
    """(line, literal) of the string literals in Python source that name run-dir files."""
    hits = []
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type != tokenize.STRING:
            continue
        body = re.sub(r"""^[rbfuRBFU]*(\"\"\"|\'\'\'|"|')|(\"\"\"|\'\'\'|"|')$""", "", tok.string)
        if body in NOT_RUN_DIR or body in rundir.RUN_EXTS:
            continue
        if _RUN_FILE.match(body) or body in rundir.DIR_FILES:
            hits.append((tok.start[0], tok.string))
    return hits


class WallSecondsTest(unittest.TestCase):
    def test_a_later_summary_is_not_the_gates_time(self):
        st = [{"name": "deps", "start": 100.0, "seconds": 1.0},
              {"name": "ab", "start": 200.0, "seconds": 589.0},
              {"name": "summary", "start": 5000.0, "seconds": 2.0}]   # make report, an hour on
        self.assertEqual(rundir.wall_seconds(st), 691.0)
        self.assertEqual(rundir.wall_seconds(st[:2]), 689.0)
        self.assertEqual(rundir.wall_seconds(st[2:]), 2.0)


class OnlyRundirTest(unittest.TestCase):
    def test_scanner(self):
        src = ('"""Writes NAME.json and summary.json."""\n'
               'a = os.path.join(d, name + ".vm.json")\n'
               'b = f"{name}.ktap"\n'
               'c = os.path.join(d, "summary.json")\n'
               'd = rundir.run_file(d, name, "figures.json")\n'
               'e = f"no ab.json (exit {rc})"\n')
        self.assertEqual([ln for ln, _ in hand_built(src)], [2, 3, 4])

    def test_python_builds_run_dir_paths_only_through_rundir(self):
        """Every Python program in ci/ and module in ci/zsgate (tests aside: they write
        fixtures by hand on purpose)."""
        files = [os.path.join(CI, f) for f in os.listdir(CI)]
        files += [os.path.join(CI, "zsgate", f) for f in os.listdir(os.path.join(CI, "zsgate"))]
        found = []
        for p in sorted(files):
            if not os.path.isfile(p) or os.path.basename(p) == "rundir.py":
                continue
            with open(p, encoding="utf-8", errors="replace") as f:
                src = f.read()
            if not (p.endswith(".py") or src.startswith("#!/usr/bin/env python3")):
                continue
            found += [f"{os.path.relpath(p, CI)}:{ln}: {lit}" for ln, lit in hand_built(src)]
        self.assertEqual(found, [], "build these paths with zsgate/rundir.py")
        self.assertIn(os.path.join(CI, "summary"), files)


class MetaTest(unittest.TestCase):
    def test_in_process(self):
        with tempfile.TemporaryDirectory() as d:
            m = rundir.init_meta(d, "7.3.0", True, "", "/k", ("quilt", "id", "/s"))
            self.assertEqual(m["kernel"], {"version": "7.3.0", "part_a": True, "package": None, "path": "/k"})
            self.assertEqual(m["series"], {"kind": "quilt", "id": "id", "path": "/s"})
            rundir.add_run(d, "kunit-um-base", "um", "base", "kunit")
            rundir.add_run(d, "kunit-x86_64-patched-kcsan", "x86_64", "patched", "kunit", "kcsan")
            rundir.add_step(d, "source", 100.25, 103.75)
            rundir.add_step(d, "kunit-um-base", 103.75, 110.0, exit=0)
            rundir.note(d, "kcsan", "why")
            m = rundir.read_meta(d)
            self.assertEqual([r.get("config") for r in m["runs"]], [None, "kcsan"])
            self.assertEqual(m["steps"], [{"name": "source", "start": 100.25, "seconds": 3.5},
                                          {"name": "kunit-um-base", "start": 103.75, "seconds": 6.2,
                                           "exit": 0}])
            self.assertEqual(m["notes"], {"kcsan": "why"})
            self.assertEqual(os.listdir(d), ["meta.json"])  # no .tmp left behind

    def test_no_series(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(rundir.main([d, "init", "7.3.0", "false", "pkg", "/k"]), 0)
            m = rundir.read_meta(d)
            self.assertIsNone(m["series"])
            self.assertEqual(m["kernel"]["package"], "pkg")
            self.assertFalse(m["kernel"]["part_a"])

    def test_usage_errors(self):
        with tempfile.TemporaryDirectory() as d:
            for argv in ([d], [d, "bogus"], [d, "init", "7.3.0", "true", "p"],
                         [d, "init", "7.3.0", "true", "p", "/k", "quilt"], [d, "note", "k"]):
                with self.subTest(argv=argv):
                    r = subprocess.run([sys.executable, os.path.join(CI, "meta")] + argv,
                                       capture_output=True, text=True)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn("usage: ci/meta", r.stderr)
            self.assertEqual(os.listdir(d), [])

    def test_module_entry_point(self):
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run([sys.executable, "-m", "zsgate.rundir", d, "init", "1", "true", "", "/k"],
                               cwd=CI, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(rundir.read_meta(d)["kernel"]["version"], "1")


class SummaryAbTest(unittest.TestCase):
    def test_read_write(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertIsNone(rundir.read_summary(d))
            self.assertIsNone(rundir.read_ab(d))
            rundir.write_summary(d, {"verdict": "pass"})
            rundir.write_ab(d, {"entries": [1]})
            self.assertEqual(rundir.read_summary(d), {"verdict": "pass"})
            self.assertEqual(rundir.read_ab(d), {"entries": [1]})
            with open(os.path.join(d, "summary.json")) as f:
                self.assertTrue(f.read().endswith("}\n"))
            with open(os.path.join(d, "ab.json"), "w") as f:
                f.write("{not json")
            with open(os.path.join(d, "summary.json"), "w") as f:
                f.write("{not json")
            self.assertEqual(rundir.read_ab(d), {"problems": ["ab.json is not valid JSON"], "entries": []})
            self.assertIsNone(rundir.read_summary(d))


if __name__ == "__main__":
    unittest.main()
