# SPDX-License-Identifier: GPL-2.0
"""A gate run directory, OUT/<run>/: the names of its files, its manifest, its summary.

Every Python step (ci/gate too: zsgate/gate.py, ci/kunit: zsgate/kunitrun.py) builds the
paths of a run directory here; ci/tests/test_rundir.py checks that kunitrun.py writes the
names KUNIT_RUN_FILES lists.

Per run of the gate (NAME: kunit-<arch>-<rev>[-debug|-kcsan], vm-<arch>-<rev>, and
ab/ab-<arch>-<rev>-r<i> for the A/B boots), `run_file(run_dir, NAME, EXT)`:

  NAME.json          kunit.py --json (ci/kunit), or the same shape from a VM run (ci/vm)
  NAME.log           the console (ci/kunit: kunit.py's test.log; ci/vm: the whole console;
                     a farm's VM run: from the tests' start on)
  NAME.ktap          the KTAP lines of the console (ci/kunit: vm.console_ktap, ci/vm)
  NAME.build.log     kunit.py's own output (ci/kunit)
  NAME.kcsan.txt     the KCSAN reports of a --kcsan run (ci/kunit, zsgate.results kcsan)
  NAME.vm.json       a VM run: command, times, status, splats, crash (ci/vm)
  NAME.figures.json  a VM run's "# zsgate:" figures (ci/vm)
  NAME.console.log   a farm's VM run: the consoles as the farm returned them (farm.py)

Per run directory, `path(run_dir, FILE)`:

  meta.json          the manifest: kernel, series, runs, steps, notes (ci/gate, in-process)
  summary.json       the verdict and what it is made of (ci/summary)
  ab.json            the A/B (ci/ab); its boots' files under ab/
  report.md, report.png  (ci/report)       kcidb.json  (ci/kcidb)
  gate.running       ci/gate is between its run dir and its summary (ci/gate)
  gate.interrupted   the gate stopped, and why (ci/gate, zsgate/guard.py)
  bench.json, bench.md, bench-speedup.png, bench-return.png
                     a bench run (ci/bench, zsgate/benchrun.py); its boots' files under bench/

`python3 -m zsgate.rundir RUN_DIR <command> ...` (ci/meta) writes the manifest:

  init VERSION PART_A PACKAGE KSRC [SERIES_KIND SERIES_ID SERIES_PATH]
  add-run NAME ARCH REVISION KIND [CONFIG]
  add-step NAME START END [EXIT]
  note KEY TEXT

add-run CONFIG: a build variant of the run beside the plain one, e.g. "kcsan" (a patched-only
run: ci/summary compares it with no base run). add-step records a pipeline step's wall
time (START/END: epoch seconds, e.g. bash's $EPOCHREALTIME) in "steps", in the order given;
ci/summary prints them as the time table. note: a line about the run ci/summary prints
and keeps in summary.json "notes" (e.g. why the KCSAN run was left out).
"""

import json
import os
import sys
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, get_args

# The files of one run, by extension (see the module docstring).
RunExt = Literal["json", "log", "ktap", "build.log", "kcsan.txt", "vm.json", "figures.json", "console.log"]
RUN_EXTS: Tuple[str, ...] = get_args(RunExt)

# What ci/vm writes per VM run (and what a kept clean run holds, zsgate/vm.py).
VM_RUN_FILES: Tuple[RunExt, ...] = ("log", "ktap", "json", "figures.json", "vm.json")
# What ci/kunit writes per KUnit run (NAME.kcsan.txt only with --kcsan).
KUNIT_RUN_FILES: Tuple[RunExt, ...] = ("json", "log", "ktap", "build.log", "kcsan.txt")

# The files of the run directory itself.
DirFile = Literal["meta.json", "summary.json", "ab.json", "report.md", "report.png", "kcidb.json",
                  "gate.running", "gate.interrupted", "bench.json", "bench.md", "bench-speedup.png",
                  "bench-return.png"]
DIR_FILES: Tuple[str, ...] = get_args(DirFile)
META: DirFile = "meta.json"
SUMMARY: DirFile = "summary.json"
AB: DirFile = "ab.json"
REPORT_MD: DirFile = "report.md"
REPORT_PNG: DirFile = "report.png"
KCIDB: DirFile = "kcidb.json"
RUNNING: DirFile = "gate.running"
INTERRUPTED: DirFile = "gate.interrupted"
BENCH: DirFile = "bench.json"
BENCH_MD: DirFile = "bench.md"
BENCH_SPEEDUP_PNG: DirFile = "bench-speedup.png"
BENCH_RETURN_PNG: DirFile = "bench-return.png"

# make check's own files, in OUT beside the run dirs (zsgate/check.py): a stage's log, and
# the unit tests' counts.
CheckFile = Literal["check-unit.json", "check-unit.log", "check-mypy.log", "check-bad-input.log",
                    "check-selftests-faults.log"]
CHECK_FILES: Tuple[str, ...] = get_args(CheckFile)
CHECK_UNIT_JSON: CheckFile = "check-unit.json"
CHECK_UNIT_LOG: CheckFile = "check-unit.log"
CHECK_MYPY_LOG: CheckFile = "check-mypy.log"
CHECK_BAD_INPUT_LOG: CheckFile = "check-bad-input.log"
CHECK_FAULTS_LOG: CheckFile = "check-selftests-faults.log"

# ci/ab's boots: their run files, under RUN_DIR/ab/.
AB_DIR = "ab"
# the bench's boots (ci/bench), under RUN_DIR/bench/.
BENCH_DIR = "bench"


def file_name(name: str, ext: RunExt) -> str:
    """NAME.EXT, the file name of one of a run's files."""
    if ext not in RUN_EXTS:
        raise ValueError(f"unknown run file .{ext} (known: {', '.join(RUN_EXTS)})")
    return f"{name}.{ext}"


def run_file(run_dir: str, name: str, ext: RunExt) -> str:
    """RUN_DIR/NAME.EXT."""
    return os.path.join(run_dir, file_name(name, ext))


def path(run_dir: str, what: DirFile) -> str:
    """RUN_DIR/<what>, one of the run directory's own files."""
    if what not in DIR_FILES:
        raise ValueError(f"unknown run directory file {what} (known: {', '.join(DIR_FILES)})")
    return os.path.join(run_dir, what)


def ab_dir(run_dir: str) -> str:
    """RUN_DIR/ab: the A/B boots' run files."""
    return os.path.join(run_dir, AB_DIR)


def bench_dir(run_dir: str) -> str:
    """RUN_DIR/bench: the bench boots' run files."""
    return os.path.join(run_dir, BENCH_DIR)


def _write_json(p: str, doc: Any, indent: int, newline: bool = False) -> None:
    """Write p whole or not at all (p.tmp, renamed)."""
    with open(p + ".tmp", "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=indent)
        if newline:
            f.write("\n")
    os.replace(p + ".tmp", p)


def read_json(p: str) -> Any:
    with open(p, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------- meta.json

def read_meta(run_dir: str) -> Dict[str, Any]:
    """RUN_DIR/meta.json (OSError when missing, ValueError when not JSON)."""
    meta: Dict[str, Any] = read_json(path(run_dir, META))
    return meta


def write_meta(run_dir: str, meta: Dict[str, Any]) -> None:
    _write_json(path(run_dir, META), meta, indent=1)


def new_meta(version: str, part_a: bool, package: str, ksrc: str,
             series: Optional[Tuple[str, str, str]] = None) -> Dict[str, Any]:
    """The manifest of a new run: the kernel, the series (kind, id, path) or None, no runs."""
    return {"kernel": {"version": version, "part_a": part_a, "package": package or None, "path": ksrc},
            "series": None if series is None else dict(zip(("kind", "id", "path"), series)),
            "runs": []}


def init_meta(run_dir: str, version: str, part_a: bool, package: str, ksrc: str,
              series: Optional[Tuple[str, str, str]] = None) -> Dict[str, Any]:
    meta = new_meta(version, part_a, package, ksrc, series)
    write_meta(run_dir, meta)
    return meta


def add_run(run_dir: str, name: str, arch: str, revision: str, kind: str, config: str = "") -> None:
    """A run the gate started (kind kunit or vm; config e.g. "kcsan")."""
    meta = read_meta(run_dir)
    run = {"name": name, "arch": arch, "revision": revision, "kind": kind}
    if config:
        run["config"] = config
    meta["runs"].append(run)
    write_meta(run_dir, meta)


def add_step(run_dir: str, name: str, start: float, end: float, exit: Optional[int] = None) -> None:
    """A pipeline step's wall time (epoch seconds), in the order given."""
    meta = read_meta(run_dir)
    step: Dict[str, Any] = {"name": name, "start": round(start, 3), "seconds": round(end - start, 1)}
    if exit is not None:
        step["exit"] = exit
    meta.setdefault("steps", []).append(step)
    write_meta(run_dir, meta)


def note(run_dir: str, key: str, text: str) -> None:
    meta = read_meta(run_dir)
    meta.setdefault("notes", {})[key] = text
    write_meta(run_dir, meta)


# ---------------------------------------------------------------------------- summary.json, ab.json

def read_summary(run_dir: str) -> Optional[Dict[str, Any]]:
    """RUN_DIR/summary.json, or None when there is none or it is not JSON."""
    try:
        s: Dict[str, Any] = read_json(path(run_dir, SUMMARY))
        return s
    except (OSError, ValueError):
        return None


def write_summary(run_dir: str, summary: Dict[str, Any]) -> None:
    _write_json(path(run_dir, SUMMARY), summary, indent=2, newline=True)


def read_ab(run_dir: str) -> Optional[Dict[str, Any]]:
    """RUN_DIR/ab.json written by ci/ab (None when the run had no A/B; one problem when it
    is not JSON)."""
    p = path(run_dir, AB)
    if not os.path.exists(p):
        return None
    try:
        doc: Dict[str, Any] = read_json(p)
        return doc
    except ValueError:
        return {"problems": ["ab.json is not valid JSON"], "entries": []}


def write_bench(run_dir: str, doc: Dict[str, Any]) -> None:
    """RUN_DIR/bench.json, whole or not at all."""
    _write_json(path(run_dir, BENCH), doc, indent=1, newline=True)


def write_ab(run_dir: str, doc: Dict[str, Any]) -> None:
    _write_json(path(run_dir, AB), doc, indent=1)


# ---------------------------------------------------------------------------- ci/meta

USAGE = """usage: ci/meta RUN_DIR init VERSION PART_A PACKAGE KSRC [SERIES_KIND SERIES_ID SERIES_PATH]
       ci/meta RUN_DIR add-run NAME ARCH REVISION KIND [CONFIG]
       ci/meta RUN_DIR add-step NAME START END [EXIT]
       ci/meta RUN_DIR note KEY TEXT"""

_NARGS = {"init": (4, 7), "add-run": (4, 5), "add-step": (3, 4), "note": (2, 2)}


def _seconds(s: str) -> float:
    return float(s.replace(",", "."))  # $EPOCHREALTIME uses the locale's decimal mark


def main(argv: Sequence[str], prog: str = "ci/meta") -> int:
    """The manifest commands (see the module docstring); exit 2 on a usage error."""
    if len(argv) < 2 or argv[1] not in _NARGS:
        what = f"unknown command {argv[1]}" if len(argv) >= 2 else "no command"
        print(f"{prog}: {what}\n{USAGE}", file=sys.stderr)
        return 2
    run_dir, cmd, args = argv[0], argv[1], list(argv[2:])
    lo, hi = _NARGS[cmd]
    if len(args) not in (lo, hi) and not (cmd != "init" and lo <= len(args) <= hi):
        print(f"{prog}: {cmd}: {lo}..{hi} arguments, not {len(args)}\n{USAGE}", file=sys.stderr)
        return 2
    if cmd == "init":
        series = (args[4], args[5], args[6]) if len(args) >= 7 and args[4] else None
        init_meta(run_dir, args[0], args[1] == "true", args[2], args[3], series)
    elif cmd == "add-run":
        add_run(run_dir, args[0], args[1], args[2], args[3], args[4] if len(args) > 4 else "")
    elif cmd == "add-step":
        add_step(run_dir, args[0], _seconds(args[1]), _seconds(args[2]),
                 int(args[3]) if len(args) > 3 and args[3] != "" else None)
    else:
        note(run_dir, args[0], args[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python3 -m zsgate.rundir"))


def wall_seconds(st: List[Dict[str, Any]]) -> float:
    """The run's wall time: the first gate step's start to the last one's end, plus the
    summary's own seconds. A summary redone later (make report) is not the gate's time:
    counting up to its start made a 689 s gate read 983 s."""
    gate = [x for x in st if x["name"] != "summary"]
    if not gate:
        return float(sum(x["seconds"] for x in st))
    end = max(x["start"] + x["seconds"] for x in gate)
    return float(end - gate[0]["start"] + sum(x["seconds"] for x in st if x["name"] == "summary"))
