# SPDX-License-Identifier: GPL-2.0
"""ci/gate: the main job. source -> trees (base, patched) -> KUnit per arch x revision
-> kselftests in VMs of the same kernels -> A/B base vs patched -> summary.json,
report.md/.png and the verdict. Exit 0 only on a "pass" verdict.

ZSGATE_NO_VM=1 stops after KUnit (make kunit); ZSGATE_NO_AB=1 skips the A/B timing run
(make check: pass/fail tests carry no timing judgement; the gate's A/B does). Without an
A/B, meta.json notes "ab" why (ci/summary: "A/B not run (--no-ab)"); an A/B that ran and
wrote no ab.json fails the verdict.
ZSGATE_PATCHED_TREE=<dir> prepares the patched tree there instead of the shared
$ZSGATE_CACHE/work/<source>/patched/linux (ci/examples keeps its own).
A revision whose KUnit build fails gets no VM run and no A/B: ci/vm and ci/ab boot only
an image ci/kunit stamped for the tree as it is (ci/zsgate/build.py); ci/summary says
"build failed" with the first compiler error.
ZSGATE_REUSE_BASE=0 boots the base VM runs even when a clean run with the same kernel
image, selftests and arguments is kept (ci/vm --reuse; make check always boots them).
KCSAN: with x86_64 in ARCHS, the patched tree is built once more with
configs/zsmalloc-kcsan.config and runs the suite's race cases (kunit-x86_64-patched-kcsan);
ZSGATE_NO_KCSAN=1 or KCSAN=0 leaves that run out (summary.json "notes" says so).
ZSGATE_KCSAN_TIMEOUT: its kunit.py timeout (default: ci/zsgate/bounded.py's for KCSAN).
Each step's wall time goes into meta.json "steps" and the summary's time table.

PREV=<quilt dir or mbox>: the previous revision of the series, a third kernel: its tree is
prepared like the patched one (same base), its kernel of the A/B arch built and its KUnit
suite run through ci/kunit (kunit-<arch>-prev, counted like the others), and ci/ab --prev
boots it in the same rounds and judges patched against it too ("vs prev" in report.md).
Only when the A/B runs (not with ZSGATE_NO_VM, ZSGATE_NO_AB, DEBUG; summary.json notes why).

Environment (the Makefile passes these; GateConfig reads them once): KDIR, SERIES (quilt
dir, mbox, or "none"; default the reference series, config.REFERENCE_SERIES), PREV, ARCHS
(default "um x86_64"), ZSGATE_CACHE, OUT (default ./out), DEBUG=1, KCSAN, RUN_ID,
ZSGATE_NO_VM, ZSGATE_NO_AB, ZSGATE_REUSE_BASE, ZSGATE_PATCHED_TREE, ZSGATE_AB_ARCH (default
x86_64), ZSGATE_NO_KCSAN, ZSGATE_KCSAN_TIMEOUT, ZSGATE_GATE_WAIT; the steps read the rest
(JOBS, BASE, ZSGATE_*_TIMEOUT, ...) from the environment they inherit.

How the steps run: in this process the source (treeprep.find_source), the work trees
(treeprep.make_tree, what ci/tree does), the manifest (rundir, what ci/meta does), the
summary, the report and kcidb.json (their modules' main()), the packages, the KUnit runs,
the VM runs and the A/B (deps.main, kunitrun.main, vmrun.main and abrun.main through deps(),
kunit(), vm() and ab(): inproc.call, the steps' signal handlers, cwd, environment and log step
put back after each, an exception in one is its traceback and exit 1); apt-get, kunit.py and
QEMU/UML are children of the gate. No step's stdout is read.

The guard: main() first re-executes the gate under ci/zsgate/guard.py, so every process
the gate starts ends with it (SIGINT, SIGTERM, kill -9 of the gate or of make). A run dir keeps gate.running until the summary: a
run that did not get there is not a verdict (ci/summary), gate.interrupted says why.

Tests only: ZSGATE_GATE_TEST_STEPS=<file.py> defining find_source(ci_dir) and/or
make_tree(ksrc, name, series, kunit_dir, tree) replaces those two in-process steps
(ci/tests/gatesteps.py: the stub ci/source and ci/tree of a stand-in root).
"""

import ctypes
import fcntl
import importlib.util
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, NoReturn, Optional, Sequence, Tuple

from zsgate import abrun, config, deps, inproc, kcidb, kunitrun, report, rundir, summary, treeprep, vmrun
from zsgate.log import log, set_step

# the repository this module belongs to (ZSGATE_ROOT when the environment has none)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PR_SET_NAME = 15

FindSource = Callable[[str], Dict[str, str]]
MakeTree = Callable[[str, str, Optional[str], str, Optional[str]], treeprep.Made]


class Stop(Exception):
    """The gate stops, exit 1, with one line "zsgate: STEP: MESSAGE" on stderr; once the run
    dir exists it says why in gate.interrupted (ci/summary: no verdict)."""

    def __init__(self, msg: str, step: str = "gate", mark: bool = True):
        super().__init__(msg)
        self.step = step
        self.mark = mark


def _on(v: str) -> bool:
    """A switch the shell gate read as `[ -n "$V" ] && [ "$V" != 0 ]`."""
    return v not in ("", "0")


@dataclass(frozen=True)
class GateConfig:
    """The gate's inputs, read once from the environment (from_env); raw values where the
    log lines and notes quote them."""
    root: str
    cache: str
    out: str
    archs: Tuple[str, ...]
    kdir: str
    series: str  # "" for none
    prev: str  # "" for none
    debug: bool
    kcsan: str  # KCSAN as given: "0" leaves the KCSAN run out
    no_kcsan: str
    no_vm: str  # any non-empty value: no VM runs (as the shell gate)
    no_ab: str
    reuse_base: bool
    patched_tree: str
    ab_arch: str
    kcsan_timeout: str
    gate_wait: bool
    guard_state: str
    run_id: str
    test_steps: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "GateConfig":
        root = env.get("ZSGATE_ROOT") or ROOT
        series = env.get("SERIES", "")
        if not series and os.path.isfile(os.path.join(config.reference_series(root), "series")):
            series = config.reference_series(root)
        prev = env.get("PREV", "")
        return cls(
            root=root,
            cache=config.cache_dir(env),
            out=env.get("OUT") or os.path.join(root, "out"),
            archs=tuple((env.get("ARCHS") or "um x86_64").split()),
            kdir=env.get("KDIR", ""),
            series="" if series == "none" else series,
            prev="" if prev == "none" else prev,
            debug=_on(env.get("DEBUG", "")),
            kcsan=env.get("KCSAN") or "1",
            no_kcsan=env.get("ZSGATE_NO_KCSAN", ""),
            no_vm=env.get("ZSGATE_NO_VM", ""),
            no_ab=env.get("ZSGATE_NO_AB", ""),
            reuse_base=(env.get("ZSGATE_REUSE_BASE") or "1") != "0",
            patched_tree=env.get("ZSGATE_PATCHED_TREE", ""),
            ab_arch=env.get("ZSGATE_AB_ARCH") or "x86_64",
            kcsan_timeout=env.get("ZSGATE_KCSAN_TIMEOUT", ""),
            gate_wait=(env.get("ZSGATE_GATE_WAIT") or "1") != "0",
            guard_state=env.get("ZSGATE_GUARD_STATE", ""),
            run_id=env.get("RUN_ID", ""),
            test_steps=env.get("ZSGATE_GATE_TEST_STEPS", ""),
        )

    @property
    def ci(self) -> str:
        return os.path.join(self.root, "ci")

    @property
    def suffix(self) -> str:
        """Of the run names and build dirs: "-debug" with DEBUG=1."""
        return "-debug" if self.debug else ""

    def build_dir(self, arch: str) -> str:
        return config.build_dir(arch, "debug" if self.debug else "")

    def check(self) -> None:
        """Stop on what cannot be gated, before anything runs."""
        configs = os.path.join(self.root, "configs")
        for a in self.archs:
            if not os.path.isfile(os.path.join(configs, f"zsmalloc-{a}.kunitconfig")):
                known = sorted(n[len("zsmalloc-"):-len(".kunitconfig")] for n in os.listdir(configs)
                               if n.startswith("zsmalloc-") and n.endswith(".kunitconfig"))
                raise Stop(f"unknown arch '{a}' in ARCHS (known: {' '.join(known)} )")
        if self.kdir and not os.path.isdir(self.kdir):
            raise Stop(f"KDIR={self.kdir} does not exist")
        if self.series and not os.path.exists(self.series):
            raise Stop(f"SERIES={self.series} does not exist")
        if self.prev:
            if not os.path.exists(self.prev):
                raise Stop(f"PREV={self.prev} does not exist")
            if not self.series:
                raise Stop(f"PREV={self.prev} needs a SERIES to judge against it (SERIES=none)")


class Gate:
    """One gate run: its config, its run dir once there is one, the steps timed before it."""

    def __init__(self, cfg: GateConfig):
        self.cfg = cfg
        self.run = ""
        self.early: List[Tuple[str, float, float, int]] = []
        self.lock_fd = -1
        self.find_source: FindSource = lambda ci: treeprep.find_source(ci)
        self.make_tree: MakeTree = treeprep.make_tree
        if cfg.test_steps:
            self._load_test_steps(cfg.test_steps)

    def _load_test_steps(self, path: str) -> None:
        spec = importlib.util.spec_from_file_location("zsgate_gate_test_steps", path)
        if spec is None or spec.loader is None:
            raise Stop(f"ZSGATE_GATE_TEST_STEPS={path}: not a Python file")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        self.find_source = getattr(mod, "find_source", self.find_source)
        self.make_tree = getattr(mod, "make_tree", self.make_tree)

    # -------------------------------------------------------------- helpers

    def need_space(self, path: str, mb: int, what: str) -> None:
        msg = config.need_space(path, mb, what)
        if msg:
            raise Stop(msg)

    def need_build(self, tree: str, bdir: str, run_name: str) -> None:
        """Space for a build dir, measured on a cold make gate (linux-source-7.3, 2 archs): a
        work tree of hard links 26 MB, .kunit-um 106 MB, .kunit-x86_64 312 MB,
        .kunit-x86_64-kcsan 428 MB (debug dirs: not measured, 500 MB is asked), a VM run's
        scratch 10 MB, a run dir 2 MB (the source step checks its own: 166 MB .deb, 1.8 GB
        unpacked). A build dir that exists is updated in place: 50 MB."""
        mb = 400
        if bdir == ".kunit-um":
            mb = 150
        if bdir.endswith(("-kcsan", "-debug")):
            mb = 500
        if os.path.isdir(os.path.join(tree, bdir)):
            mb = 50
        self.need_space(os.path.join(tree, bdir), mb, f"building {run_name}")

    def enospc(self, build_log: str, what: str) -> None:
        """The disk filled up during WHAT: nothing of it is judged, the gate stops."""
        try:
            with open(build_log, encoding="utf-8", errors="replace") as f:
                hit = next((ln.rstrip("\n") for ln in f if "No space left on device" in ln), None)
        except OSError:
            return
        if hit is not None:
            raise Stop(f"the disk filled up during {what} ({build_log}: {hit[:160]}): free space or set "
                       "ZSGATE_CACHE=<dir on a bigger disk>")

    def step_end(self, name: str, t0: float, rc: int = 0) -> None:
        """A step's wall time into meta.json (kept until the run dir exists)."""
        t1 = time.time()
        if not self.run:
            self.early.append((name, t0, t1, rc))
            return
        try:
            rundir.add_step(self.run, name, t0, t1, rc)
        except (OSError, ValueError, KeyError):
            pass  # a step time is not worth stopping the gate

    # -------------------------------------------------------------- the steps, in this process

    def deps(self) -> int:
        """ci/deps (deps.main, in this process): the Debian packages (apt)."""
        return self.in_process("deps", deps.main, [])

    def kunit(self, tree: str, arch: str, name: str, extra: Sequence[str] = ()) -> int:
        """ci/kunit (kunitrun.main, in this process; kunit.py its child, under the build lock):
        build the tree's KUnit kernel for ARCH and run the suite. Its exit code as ci/kunit's
        (an exception in it: exit 1); the gate holds its own lock meanwhile."""
        return self.in_process("kunit", kunitrun.main,
                               ["--tree", tree, "--arch", arch, "--out", self.run, "--name", name, *extra])

    def in_process(self, step: str, main: inproc.Main, args: Sequence[str]) -> int:
        """ci/STEP's main(ARGS) in this process (inproc.call): its exit code, an exception in
        it exit 1 (traceback on stderr); signal handlers, cwd, environment and the log's step
        name as they were. The gate holds its lock itself meanwhile. A SIGTERM/SIGHUP that
        ended the step (its VM first, then its scratch dirs) ends the gate of that signal,
        as it ended the child and the gate before (the guard: "killed by SIGTERM")."""
        try:
            return inproc.call(main, args, step)
        except inproc.Terminated as e:
            inproc.die_of(e.signum)

    def vm(self, tree: str, arch: str, name: str, build_dir: str, reuse: bool) -> int:
        """ci/vm (vmrun.main, in this process): the kselftests in a VM of the tree's KUnit
        build (QEMU/UML)."""
        return self.in_process("vm", vmrun.main, ["--tree", tree, "--arch", arch, "--out", self.run,
                                                  "--name", name, "--build-dir", build_dir]
                               + (["--reuse"] if reuse else []))

    def ab(self, base: str, patched: str, prev: str) -> int:
        """ci/ab (abrun.main, in this process; its boots run vmrun.main too): the A/B latency
        rounds (QEMU)."""
        return self.in_process("ab", abrun.main, ["--base", base, "--patched", patched]
                               + (["--prev", prev] if prev else []) + ["--out", self.run])

    # -------------------------------------------------------------- the pipeline

    def lock(self) -> None:
        """One gate at a time per cache: the base and patched work trees and their build dirs
        are shared, so a second gate would rebuild the first one's kernels under it. The
        second waits with a message (ZSGATE_GATE_WAIT=0: refuses). flock ends with its
        holders, so a killed gate leaves no stale lock."""
        cache = self.cfg.cache
        os.makedirs(cache, exist_ok=True)
        t0 = time.time()
        self.lock_fd = os.open(os.path.join(cache, "gate.lock"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not self.cfg.gate_wait:
                raise Stop(f"another gate is using {cache} (its work trees and build dirs are shared): try "
                           "again when it ends, or use another ZSGATE_CACHE")
            log(f"another gate is using {cache} (shared work trees and build dirs): waiting for it to end")
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
            log("the other gate ended: going on")
            self.step_end("wait-for-gate", t0)

    def source(self) -> Dict[str, str]:
        log("step source")
        t0 = time.time()
        try:
            src = self.find_source(self.cfg.ci)
        except treeprep.TreeError as e:
            raise Stop(str(e), mark=False)
        self.step_end("source", t0)
        return src

    def tree(self, ksrc: str, name: str, series: Optional[str], tree: Optional[str] = None) -> treeprep.Made:
        t0 = time.time()
        try:
            made = self.make_tree(ksrc, name, series, os.path.join(self.cfg.root, "kunit"), tree)
        except treeprep.TreeError as e:
            raise Stop(str(e), step="tree", mark=False)
        for line in made.lines:
            print(line, file=sys.stderr, flush=True)
        self.step_end(f"tree-{name}", t0)
        return made

    def start_run(self, src: Dict[str, str], series_id: str) -> None:
        """The run dir: meta.json, OUT/latest, gate.running, the guard told where it is."""
        cfg = self.cfg
        run_id = cfg.run_id or time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + (series_id or "base")
        run = os.path.join(cfg.out, run_id)
        self.need_space(cfg.out, 20, "the results of this run")
        os.makedirs(run, exist_ok=True)
        ser = None
        if cfg.series:
            ser = ("mbox" if os.path.isfile(cfg.series) else "quilt", series_id, os.path.realpath(cfg.series))
        rundir.init_meta(run, src.get("KVERSION", ""), src.get("PART_A") == "true", src.get("KPKG", ""),
                         src.get("KSRC", ""), ser)
        latest = os.path.join(cfg.out, "latest")
        tmp = os.path.join(cfg.out, f".latest.{os.getpid()}")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(run_id, tmp)
        os.replace(tmp, latest)
        with open(rundir.path(run, rundir.RUNNING), "w", encoding="utf-8") as f:
            f.write(f"started {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} by pid {os.getpid()}\n")
        if cfg.guard_state:
            with open(cfg.guard_state, "a", encoding="utf-8") as f:
                f.write(f"run {run}\n")
        self.run = run
        log(f"results go to {run}")
        for name, t0, t1, rc in self.early:
            try:
                rundir.add_step(run, name, t0, t1, rc)
            except (OSError, ValueError, KeyError):
                pass

    def kunit_step(self, tree: str, arch: str, name: str, revision: str, bdir: str, what: str = "",
                   config_: str = "", extra: Sequence[str] = ()) -> None:
        rundir.add_run(self.run, name, arch, revision, "kunit", config_)
        log(f"step kunit: {name}{what}")
        self.need_build(tree, bdir, name)
        t0 = time.time()
        rc = self.kunit(tree, arch, name, extra)
        self.step_end(name, t0, rc)
        self.enospc(rundir.run_file(self.run, name, "build.log"), name)

    def finish(self) -> int:
        """summary.json and the verdict (its exit code is the gate's), report, kcidb.json."""
        log("step summary")
        try:
            os.unlink(rundir.path(self.run, rundir.RUNNING))
        except FileNotFoundError:
            pass
        try:
            rc = summary.main([self.run])
        except Exception:  # a bug in the summary is a failed gate, not a traceback of it
            traceback.print_exc()
            rc = 1
        steps: Tuple[Tuple[str, Callable[[Sequence[str]], int]], ...] = (
            ("report", report.main), (rundir.KCIDB, kcidb.main))
        for what, fn in steps:
            try:
                ok = fn([self.run]) == 0
            except Exception:
                traceback.print_exc()
                ok = False
            if not ok:
                log(f"{what} failed (the verdict stands)")
        sys.stdout.flush()
        return rc

    def pipeline(self) -> int:
        cfg = self.cfg
        cfg.check()
        self.lock()

        log("checking packages")
        t0 = time.time()
        rc = self.deps()
        if rc != 0:
            return rc
        self.step_end("deps", t0)
        src = self.source()
        ksrc = src["KSRC"]

        self.need_space(os.path.join(cfg.cache, "work"), 100, "the work trees")
        log("step tree: base")
        base_tree = self.tree(ksrc, "base", None).tree
        patched_tree = series_id = ""
        if cfg.series:
            log(f"step tree: patched ({cfg.series})")
            made = self.tree(ksrc, "patched", cfg.series, cfg.patched_tree or None)
            patched_tree, series_id = made.tree, made.series_id
        # The previous revision: only for the A/B, so only when the A/B runs.
        prev_tree = prev_id = prev_off = ""
        if cfg.prev:
            if cfg.no_vm:
                prev_off = f"ZSGATE_NO_VM={cfg.no_vm} (no A/B)"
            if cfg.no_ab:
                prev_off = f"ZSGATE_NO_AB={cfg.no_ab} (no A/B)"
            if cfg.debug:
                prev_off = "DEBUG=1 (no A/B on debug kernels)"
            if cfg.ab_arch not in cfg.archs:
                prev_off = f"{cfg.ab_arch}, the A/B's arch, is not in ARCHS"
        if cfg.prev and not prev_off:
            log(f"step tree: prev ({cfg.prev})")
            made = self.tree(ksrc, "prev", cfg.prev)
            prev_tree, prev_id = made.tree, made.series_id

        self.start_run(src, series_id)
        run = self.run
        if prev_tree:
            rundir.note(run, "prev", f"{prev_id} ({os.path.realpath(cfg.prev)}): a third kernel in the A/B, "
                        "patched judged against it")
        elif cfg.prev:
            log(f"no previous revision in this run: {prev_off}")
            rundir.note(run, "prev", f"not run: {prev_off}")

        trees = (("base", base_tree), ("patched", patched_tree))
        debug = ["--debug"] if cfg.debug else []
        for arch in cfg.archs:
            for rev, tree in trees:
                if tree:
                    self.kunit_step(tree, arch, f"kunit-{arch}-{rev}{cfg.suffix}", rev, cfg.build_dir(arch),
                                    extra=debug)
        # The previous revision's kernel for the A/B, built (and its suite run) as the patched
        # one is: ci/kunit stamps the image ci/ab checks before it boots it.
        if prev_tree:
            self.kunit_step(prev_tree, cfg.ab_arch, f"kunit-{cfg.ab_arch}-prev", "prev",
                            config.build_dir(cfg.ab_arch), " (the previous revision, for the A/B)")

        # The race cases of the suite (KUNIT_CASE_SLOW: free vs migrate, the contract's
        # owner/drainer race through zs_free_deferred(), the reference's enqueue vs drain) on
        # a KCSAN kernel of the patched tree: a data-race report naming zsmalloc/zram/zswap
        # fails the verdict (ci/summary). Patched only: nothing is compared with a base run.
        # The last reason that holds is the one said, as in the shell gate.
        kcsan_off = ""
        if cfg.kcsan == "0":
            kcsan_off = "KCSAN=0"
        if _on(cfg.no_kcsan):
            kcsan_off = f"ZSGATE_NO_KCSAN={cfg.no_kcsan}"
        if "x86_64" not in cfg.archs:
            kcsan_off = "x86_64 is not in ARCHS (KCSAN runs on x86_64 only)"
        if cfg.debug:
            kcsan_off = "DEBUG=1 (KCSAN excludes KASAN: run ci/kunit --kcsan on its own)"
        if not patched_tree:
            kcsan_off = "no series (KCSAN runs the patched tree only)"
        if not kcsan_off:
            timeout = ["--timeout", cfg.kcsan_timeout] if cfg.kcsan_timeout else []
            self.kunit_step(patched_tree, "x86_64", "kunit-x86_64-patched-kcsan", "patched",
                            config.build_dir("x86_64", "kcsan"), " (the race cases on a KCSAN kernel)", "kcsan",
                            ["--kcsan", "--filter", "zsmalloc", "--attr-filter", "speed=slow", *timeout])
        else:
            log(f"no KCSAN run: {kcsan_off}")
            rundir.note(run, "kcsan", f"not run: {kcsan_off}")

        # The A/B runs only as part of a full gate of a series; why not goes into the notes
        # (ci/summary: "A/B not run (WHY)"; a gate that ran it and found no ab.json fails).
        ab_off = ""  # the last reason that holds, as for KCSAN
        if cfg.no_ab:
            ab_off = "--no-ab"
        if cfg.debug:
            ab_off = "DEBUG=1"
        if cfg.no_vm:
            ab_off = "--no-vm"
        if not patched_tree:
            ab_off = "no series"
        if ab_off:
            rundir.note(run, "ab", f"not run: {ab_off}")

        # VM selftests: the same kernels boot with KUnit off and run zram_free and zswap_free
        # (correctness, leaks, splats) per arch x revision; then the A/B latency run.
        if not cfg.no_vm:
            for arch in cfg.archs:
                for rev, tree in trees:
                    if not tree:
                        continue
                    name = f"vm-{arch}-{rev}{cfg.suffix}"
                    rundir.add_run(run, name, arch, rev, "vm")
                    log(f"step vm: {name}")
                    # base is the same kernel and tests from one revision to the next: its
                    # last clean run with identical inputs stands (ci/vm --reuse)
                    self.need_space(os.path.join(cfg.cache, "vm"), 50, f"the VM run {name}")
                    t0 = time.time()
                    rc = self.vm(tree, arch, name, cfg.build_dir(arch), rev == "base" and cfg.reuse_base)
                    self.step_end(name, t0, rc)
            if not ab_off:
                log("step ab: base vs patched" + (" vs prev" if prev_tree else ""))
                self.need_space(os.path.join(cfg.cache, "vm"), 50, "the A/B")
                t0 = time.time()
                rc = self.ab(base_tree, patched_tree, prev_tree)
                self.step_end("ab", t0, rc)

        return self.finish()


def _guarded() -> bool:
    return os.environ.get("ZSGATE_GUARDED") == str(os.getppid())


def _under_guard(argv: Sequence[str]) -> NoReturn:
    """Run this gate again as the child of ci/zsgate/guard.py."""
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pp = os.environ.get("PYTHONPATH", "")
    if pp.split(":")[0] != pkg_parent:
        os.environ["PYTHONPATH"] = pkg_parent + (":" + pp if pp else "")
    guard = os.path.join(pkg_parent, "zsgate", "guard.py")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-I", guard, "run", "--",
                              sys.executable, "-m", "zsgate.gate", *argv])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    set_step("gate")
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    # what every step reads (zsgate.config, zsgate.log)
    env = os.environ
    env["ZSGATE_ROOT"] = env.get("ZSGATE_ROOT") or ROOT
    env["ZSGATE_CACHE"] = config.cache_dir()
    env["ZSGATE_T0"] = env.get("ZSGATE_T0") or str(int(time.time()))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if not _guarded():
        _under_guard(args)
    # under the guard: "gate" in ps (and to the guard's tests), and the default SIGINT of a
    # shell script (the guard's process group gets none from the terminal anyway)
    try:
        ctypes.CDLL(None).prctl(PR_SET_NAME, b"gate", 0, 0, 0)
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    g: Optional[Gate] = None
    try:
        g = Gate(GateConfig.from_env(env))
        return g.pipeline()
    except Stop as e:
        if e.mark and g is not None and g.run and os.path.isdir(g.run):
            with open(rundir.path(g.run, rundir.INTERRUPTED), "w", encoding="utf-8") as f:
                f.write(f"stopped: {e}\n")
        sys.stdout.flush()
        print(f"zsgate: {e.step}: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
