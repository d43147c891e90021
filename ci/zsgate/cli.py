# SPDX-License-Identifier: GPL-2.0
"""./zsgate <verb>: the one entry point of the pipeline, shaped like tools/testing/kunit/kunit.py.

Every Make target and every step of ci/ is a verb (argparse subparsers); the options that
several verbs share are added by one function per group (add_source_opts, add_build_opts,
add_path_opts, add_run_opts), as kunit.py's add_common_opts/add_build_opts do. The parsed
options become one frozen request dataclass per verb (GateRequest, VmRequest, ...), and a
request says what it runs as a plan of steps, each with the environment and arguments its
program reads (ci/gate reads KDIR, SERIES, ARCHS, ZSGATE_NO_VM, ...):
  Call     a Python step in this process: zsgate.<module>.main(argv), with its variables
           set in os.environ for the call (put back after). The verbs whose ci/ program is
           a wrapper of a module's main() (gate and kunit: gate, kunit --tree: kunitrun,
           vm: vmrun, ab: abrun, bench: benchrun, summary, report, meta: rundir, export,
           farm-collect: farm, tree: treeprep, mutants, examples, check, deps, selftests,
           selftests-faults: selftestfaults, kselftest-tar: kselftesttar, source: kernelsrc,
           doctor) run that main() directly.
  Command  a program run as a child or exec'd: only test-tools' unittest and mypy now
           (every ci/ program is a wrapper of a module's main(): kunit.py, make, qemu,
           patch and apt-get are the steps' own children).

Options win over the environment; an option not given leaves the caller's environment as
it is (the Makefile exports KDIR BASE SERIES PREV ARCHS JOBS ZSGATE_CACHE OUT DEBUG KCSAN, so
`make gate KDIR=...` and `./zsgate gate --kdir ...` are the same run). A Command last in a
plan replaces this process (exec: its exit code is the verb's, signals reach it directly);
earlier Commands run as children. A Call's main() returns the exit code (summary before report: the first's is not the verb's); the step installs its
own SIGTERM/SIGHUP handling as its ci/ wrapper would.
docs/cli.md lists the verbs; `make help` is `./zsgate --help`.
"""

import argparse
import contextlib
import importlib
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Protocol, Sequence, Tuple, Union

from . import inproc
from .config import REFERENCE_SERIES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELP_WIDTH = 100  # fixed, so that `make help` and `./zsgate --help` print the same text

Env = Tuple[Tuple[str, str], ...]


@dataclass(frozen=True)
class Command:
    """One program to run: argv, variables set on top of the caller's environment, and
    whether its failure ends the plan (with its exit code)."""
    argv: Tuple[str, ...]
    env: Env = ()
    cwd: Optional[str] = None
    must_pass: bool = True


@dataclass(frozen=True)
class Call:
    """One Python step in this process: zsgate.<module>.main(list(argv)), with env set on
    top of the caller's environment (os.environ) for the call, and whether its failure ends
    the plan (with its exit code)."""
    module: str
    argv: Tuple[str, ...] = ()
    env: Env = ()
    must_pass: bool = True


Step = Union[Command, Call]
Plan = Tuple[Step, ...]
Runner = Callable[[Plan, Mapping[str, str]], int]


# ---------------------------------------------------------------- shared option groups

@dataclass(frozen=True)
class SourceOpts:
    """Which kernel source and which revision (KDIR, BASE, SERIES)."""
    kdir: Optional[str] = None
    base: Optional[str] = None
    series: Optional[str] = None

    def env(self) -> Env:
        return _pairs(("KDIR", self.kdir), ("BASE", self.base), ("SERIES", self.series))


@dataclass(frozen=True)
class BuildOpts:
    """Which kernels (ARCHS, JOBS, DEBUG, KCSAN)."""
    archs: Optional[str] = None
    jobs: Optional[int] = None
    debug: bool = False
    kcsan: Optional[bool] = None

    def env(self, kcsan_var: str = "KCSAN") -> Env:
        return _pairs(("ARCHS", self.archs), ("JOBS", _str(self.jobs)),
                      ("DEBUG", "1" if self.debug else None),
                      (kcsan_var, None if self.kcsan is None else ("1" if self.kcsan else "0")))


@dataclass(frozen=True)
class PathOpts:
    """Where the cache and the results are (ZSGATE_CACHE, OUT)."""
    cache: Optional[str] = None
    out: Optional[str] = None

    def env(self) -> Env:
        return _pairs(("ZSGATE_CACHE", self.cache), ("OUT", self.out))

    def out_root(self, environ: Mapping[str, str]) -> str:
        """--out, else $OUT, else out/ of this repository (as ci/gate)."""
        return self.out or environ.get("OUT") or os.path.join(ROOT, "out")


@dataclass(frozen=True)
class RunOpts:
    """Behaviour switches of a gate run that are environment variables of ci/ today."""
    no_bounded: bool = False
    verify_source: bool = False
    refresh: bool = False
    no_wait: bool = False
    kunit_timeout: Optional[int] = None
    vm_timeout: Optional[int] = None
    ab_timeout: Optional[int] = None
    kcsan_timeout: Optional[int] = None

    def env(self) -> Env:
        return _pairs(("ZSGATE_BOUNDED", "0" if self.no_bounded else None),
                      ("ZSGATE_VERIFY_SOURCE", "full" if self.verify_source else None),
                      ("ZSGATE_REFRESH", "1" if self.refresh else None),
                      ("ZSGATE_GATE_WAIT", "0" if self.no_wait else None),
                      ("ZSGATE_KUNIT_TIMEOUT", _str(self.kunit_timeout)),
                      ("ZSGATE_VM_TIMEOUT", _str(self.vm_timeout)),
                      ("ZSGATE_AB_TIMEOUT", _str(self.ab_timeout)),
                      ("ZSGATE_KCSAN_TIMEOUT", _str(self.kcsan_timeout)))


def _str(v: Optional[int]) -> Optional[str]:
    return None if v is None else str(v)


def _pairs(*kv: Tuple[str, Optional[str]]) -> Env:
    return tuple((k, v) for k, v in kv if v is not None)


def _flag(on: bool, *args: str) -> Tuple[str, ...]:
    return args if on else ()


def _opt(name: str, v: Optional[str]) -> Tuple[str, ...]:
    return () if v is None else (name, v)


def add_source_opts(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("source (KDIR, BASE, SERIES)")
    g.add_argument("--kdir", metavar="TREE",
                   help="gate an existing kernel tree (only read) instead of Debian's linux-source-7.3 (KDIR)")
    g.add_argument("--base", metavar="7.N",
                   help="Debian's linux-source-7.N as the base, e.g. 7.2 (no Part A) (BASE)")
    g.add_argument("--series", metavar="DIR|MBOX|none",
                   help=f"the revision: a quilt dir, a b4 mbox, or none (default {REFERENCE_SERIES}) (SERIES)")


def add_build_opts(p: argparse.ArgumentParser, kcsan_help: str = "") -> None:
    g = p.add_argument_group("kernels (ARCHS, JOBS, DEBUG, KCSAN)")
    g.add_argument("--archs", metavar='"um x86_64"', help="KUnit arches, space or comma separated (ARCHS)")
    g.add_argument("--jobs", type=int, metavar="N", help="make jobs (JOBS, default nproc)")
    g.add_argument("--debug", action="store_true", help="KASAN, lockdep, DEBUG_VM kernels (DEBUG=1)")
    g.add_argument("--kcsan", dest="kcsan", action="store_true", default=None,
                   help=kcsan_help or "the KCSAN run of the race cases (KCSAN=1, the default)")
    g.add_argument("--no-kcsan", dest="kcsan", action="store_false", help="no KCSAN run (KCSAN=0)")


def add_path_opts(p: argparse.ArgumentParser, out_help: str = "results (OUT, default ./out)") -> None:
    g = p.add_argument_group("paths (ZSGATE_CACHE, OUT)")
    g.add_argument("--cache", metavar="DIR", help="debs, sources, work trees, build dirs (ZSGATE_CACHE)")
    g.add_argument("--out", metavar="DIR", help=out_help)


def add_run_opts(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run switches")
    g.add_argument("--no-bounded", action="store_true",
                   help="no oops/lockup/stall/hung-task panics on the kernel command line (ZSGATE_BOUNDED=0)")
    g.add_argument("--verify-source", action="store_true",
                   help="check every file of the cached source by sha256 (ZSGATE_VERIFY_SOURCE=full)")
    g.add_argument("--refresh", action="store_true", help="ask the Debian archive again (ZSGATE_REFRESH=1)")
    g.add_argument("--no-wait", action="store_true",
                   help="refuse instead of waiting when another gate uses the cache (ZSGATE_GATE_WAIT=0)")
    for what, var in (("kunit", "a KUnit run's run phase"), ("vm", "a VM run"), ("ab", "an A/B boot"),
                      ("kcsan", "the KCSAN run's kunit.py")):
        g.add_argument(f"--{what}-timeout", type=int, metavar="S",
                       help=f"seconds for {var} (ZSGATE_{what.upper()}_TIMEOUT)")


# ------------------------------------------------------------- reading the namespace

def _s(ns: argparse.Namespace, k: str) -> Optional[str]:
    v = getattr(ns, k, None)
    return v if isinstance(v, str) else None


def _i(ns: argparse.Namespace, k: str) -> Optional[int]:
    v = getattr(ns, k, None)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _f(ns: argparse.Namespace, k: str) -> Optional[float]:
    v = getattr(ns, k, None)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _b(ns: argparse.Namespace, k: str) -> bool:
    return getattr(ns, k, False) is True


def _ob(ns: argparse.Namespace, k: str) -> Optional[bool]:
    v = getattr(ns, k, None)
    return v if isinstance(v, bool) else None


def _l(ns: argparse.Namespace, k: str) -> Tuple[str, ...]:
    v = getattr(ns, k, None)
    return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else ()


def source_of(ns: argparse.Namespace) -> SourceOpts:
    return SourceOpts(_s(ns, "kdir"), _s(ns, "base"), _s(ns, "series"))


def build_of(ns: argparse.Namespace) -> BuildOpts:
    archs = _s(ns, "archs")
    return BuildOpts(None if archs is None else " ".join(archs.replace(",", " ").split()),
                     _i(ns, "jobs"), _b(ns, "debug"), _ob(ns, "kcsan"))


def paths_of(ns: argparse.Namespace) -> PathOpts:
    return PathOpts(_s(ns, "cache"), _s(ns, "out"))


def run_of(ns: argparse.Namespace) -> RunOpts:
    return RunOpts(_b(ns, "no_bounded"), _b(ns, "verify_source"), _b(ns, "refresh"), _b(ns, "no_wait"),
                   _i(ns, "kunit_timeout"), _i(ns, "vm_timeout"), _i(ns, "ab_timeout"),
                   _i(ns, "kcsan_timeout"))


# ------------------------------------------------------------------ the requests

class Request(Protocol):
    def plan(self, environ: Mapping[str, str]) -> Plan: ...


@dataclass(frozen=True)
class GateRequest:
    """ci/gate: source -> trees -> KUnit -> VM kselftests -> A/B -> summary and verdict."""
    source: SourceOpts
    build: BuildOpts
    paths: PathOpts
    run: RunOpts
    no_vm: bool = False
    no_ab: bool = False
    no_reuse_base: bool = False
    kcsan_all: bool = False
    prev: Optional[str] = None

    def plan(self, environ: Mapping[str, str]) -> Plan:
        env = (self.source.env() + self.build.env() + self.paths.env() + self.run.env()
               + _pairs(("PREV", self.prev), ("ZSGATE_NO_VM", "1" if self.no_vm else None),
                        ("ZSGATE_NO_AB", "1" if self.no_ab else None),
                        ("ZSGATE_REUSE_BASE", "0" if self.no_reuse_base else None),
                        ("ZSGATE_KCSAN_ALL", "1" if self.kcsan_all else None)))
        return (Call("gate", (), env),)


@dataclass(frozen=True)
class KunitStep:
    """ci/kunit on one work tree and one arch (the step the gate runs per arch x revision)."""
    tree: str
    arch: str
    name: str
    filter: Optional[str] = None
    attr_filter: Optional[str] = None


@dataclass(frozen=True)
class KunitRequest:
    """make kunit (the gate's KUnit half: ci/gate with ZSGATE_NO_VM=1), or with --tree the
    one step ci/kunit."""
    source: SourceOpts
    build: BuildOpts
    paths: PathOpts
    run: RunOpts
    step: Optional[KunitStep] = None

    def plan(self, environ: Mapping[str, str]) -> Plan:
        if self.step is None:
            return GateRequest(self.source, self.build, self.paths, self.run, no_vm=True).plan(environ)
        s = self.step
        argv = ("--tree", s.tree, "--arch", s.arch, "--out", self.paths.out_root(environ),
                "--name", s.name) + _flag(self.build.debug, "--debug") \
            + _flag(self.build.kcsan is True, "--kcsan") + _opt("--filter", s.filter) \
            + _opt("--attr-filter", s.attr_filter) + _opt("--timeout", _str(self.run.kunit_timeout)) \
            + _flag(self.run.no_bounded, "--no-bounded")
        return (Call("kunitrun", argv, _pairs(("JOBS", _str(self.build.jobs)), ("ZSGATE_CACHE", self.paths.cache))),)


@dataclass(frozen=True)
class CheckRequest:
    """ci/check: the project's own tests."""
    source: SourceOpts
    build: BuildOpts
    paths: PathOpts
    run: RunOpts

    def plan(self, environ: Mapping[str, str]) -> Plan:
        env = (self.source.env() + self.build.env("ZSGATE_CHECK_KCSAN") + self.paths.env()
               + self.run.env())
        return (Call("check", (), env),)


@dataclass(frozen=True)
class VmRequest:
    """ci/vm (zsgate.vmrun): the kselftests in a VM of a tree's KUnit build."""
    tree: str
    arch: str
    name: str
    paths: PathOpts
    cases: Optional[str] = None
    filter: Optional[str] = None
    all: bool = False
    full: bool = False
    env: Tuple[str, ...] = ()
    mem: Optional[int] = None
    timeout: Optional[int] = None
    no_bounded: bool = False
    build_dir: Optional[str] = None
    bin: Optional[str] = None
    reuse: bool = False
    unstamped: bool = False
    build_only: bool = False

    def plan(self, environ: Mapping[str, str]) -> Plan:
        argv = ("--tree", self.tree, "--arch", self.arch, "--out", self.paths.out_root(environ),
                "--name", self.name) + _opt("--cases", self.cases) + _opt("--filter", self.filter) \
            + _flag(self.all, "--all") + _flag(self.full, "--full") \
            + tuple(a for e in self.env for a in ("--env", e)) + _opt("--mem", _str(self.mem)) \
            + _opt("--timeout", _str(self.timeout)) + _flag(self.no_bounded, "--no-bounded") \
            + _opt("--build-dir", self.build_dir) + _opt("--bin", self.bin) + _flag(self.reuse, "--reuse") \
            + _flag(self.unstamped, "--unstamped") + _flag(self.build_only, "--build-only")
        return (Call("vmrun", argv, _pairs(("ZSGATE_CACHE", self.paths.cache))),)


@dataclass(frozen=True)
class AbRequest:
    """ci/ab (zsgate.abrun): the A/B latency run, base vs patched."""
    base_tree: str
    patched_tree: str
    paths: PathOpts
    arch: Optional[str] = None
    rounds: Optional[int] = None
    inner: Optional[int] = None
    sizes: Optional[str] = None
    filter: Optional[str] = None
    margin: Optional[float] = None
    full: bool = False
    labels: Optional[str] = None
    timeout: Optional[int] = None
    build_dir: Optional[str] = None
    bin: Optional[str] = None
    judge_concurrent: bool = False
    reanalyze: bool = False
    prev_tree: Optional[str] = None
    no_percall: bool = False
    percall_only: bool = False
    windows: Optional[int] = None

    def plan(self, environ: Mapping[str, str]) -> Plan:
        argv = ("--base", self.base_tree, "--patched", self.patched_tree) + _opt("--prev", self.prev_tree) \
            + ("--out", self.paths.out_root(environ)) + _opt("--arch", self.arch) \
            + _opt("--rounds", _str(self.rounds)) + _opt("--inner", _str(self.inner)) \
            + _opt("--sizes", self.sizes) + _opt("--filter", self.filter) \
            + _opt("--margin", None if self.margin is None else repr(self.margin)) \
            + _flag(self.full, "--full") + _opt("--labels", self.labels) + _opt("--timeout", _str(self.timeout)) \
            + _opt("--build-dir", self.build_dir) + _opt("--bin", self.bin) \
            + _flag(self.judge_concurrent, "--judge-concurrent") + _flag(self.reanalyze, "--reanalyze") \
            + _flag(self.no_percall, "--no-percall") + _flag(self.percall_only, "--percall-only") \
            + _opt("--windows", _str(self.windows))
        return (Call("abrun", argv, _pairs(("ZSGATE_CACHE", self.paths.cache))),)


@dataclass(frozen=True)
class BenchRequest:
    """ci/bench (zsgate.benchrun): 7.2, 7.3, 7.3 + the revision and the limit control in interleaved rounds at
    the seed's sizes: bench.md/json/png (docs/bench.md)."""
    paths: PathOpts
    series: Optional[str] = None
    base72: Optional[str] = None
    rounds: Optional[int] = None
    inner: Optional[int] = None
    quick: bool = False
    reanalyze: Optional[str] = None

    def plan(self, environ: Mapping[str, str]) -> Plan:
        argv = _opt("--series", self.series) + _opt("--base72", self.base72) \
            + _opt("--rounds", _str(self.rounds)) + _opt("--inner", _str(self.inner)) \
            + _flag(self.quick, "--quick") + _opt("--reanalyze", self.reanalyze) \
            + ("--out", self.paths.out_root(environ))
        return (Call("benchrun", argv, _pairs(("ZSGATE_CACHE", self.paths.cache))),)


def _run_dir(run_dir: Optional[str], paths: PathOpts, environ: Mapping[str, str]) -> str:
    return run_dir or os.path.join(paths.out_root(environ), "latest")


@dataclass(frozen=True)
class SummaryRequest:
    """ci/summary (zsgate.summary): summary.json, the table and the verdict of a run dir (exit 0 on pass)."""
    paths: PathOpts
    run_dir: Optional[str] = None
    kcsan_all: bool = False

    def plan(self, environ: Mapping[str, str]) -> Plan:
        return (Call("summary", (_run_dir(self.run_dir, self.paths, environ),),
                     _pairs(("ZSGATE_KCSAN_ALL", "1" if self.kcsan_all else None))),)


@dataclass(frozen=True)
class ReportRequest:
    """ci/summary then ci/report (zsgate.summary, zsgate.report): re-render report.md/report.png
    of a run dir (make report)."""
    paths: PathOpts
    run_dir: Optional[str] = None

    def plan(self, environ: Mapping[str, str]) -> Plan:
        d = _run_dir(self.run_dir, self.paths, environ)
        # The summary's exit code is the verdict, not a failure to render: as `make report`
        # always did, the report is written either way and its exit code is the verb's.
        return (Call("summary", (d,), must_pass=False), Call("report", (d,)))


@dataclass(frozen=True)
class MutantsRequest:
    """ci/deps, then ci/mutants: gate each known-bad revision, fail if one survives."""
    paths: PathOpts
    jobs: Optional[int] = None
    only: Optional[str] = None
    list: bool = False
    no_control: bool = False
    skip_ab: bool = False
    no_hold_lock: bool = False
    lock_per_group: bool = False

    def plan(self, environ: Mapping[str, str]) -> Plan:
        argv = _opt("--only", self.only) + _opt("--out", self.paths.out) \
            + _flag(self.list, "--list") + _flag(self.no_control, "--no-control") \
            + _flag(self.skip_ab, "--skip-ab") + _flag(self.no_hold_lock, "--no-hold-lock") \
            + _flag(self.lock_per_group, "--lock-per-group")
        main: Step = Call("mutants", argv, _pairs(("ZSGATE_CACHE", self.paths.cache), ("JOBS", _str(self.jobs))))
        return (main,) if self.list else (Call("deps"), main)


@dataclass(frozen=True)
class ExamplesRequest:
    """ci/deps, then ci/examples: good examples must PASS, bad twins FAIL by their catch."""
    build: BuildOpts
    paths: PathOpts
    kdir: Optional[str] = None
    only: Optional[str] = None
    ab: bool = False
    list: bool = False
    rejudge: Optional[str] = None

    def plan(self, environ: Mapping[str, str]) -> Plan:
        argv = _opt("--only", self.only) + _opt("--out", self.paths.out) \
            + _flag(self.ab, "--ab") + _flag(self.list, "--list") + _opt("--rejudge", self.rejudge)
        main: Step = Call("examples", argv, _pairs(("KDIR", self.kdir)) + self.build.env() + self.paths.env())
        return (main,) if self.list or self.rejudge else (Call("deps"), main)


@dataclass(frozen=True)
class TreeRequest:
    """ci/tree: a work tree (base or patched) of a kernel source, with the suite in it."""
    ksrc: str
    paths: PathOpts
    name: Optional[str] = None
    caps: bool = False
    series: Optional[str] = None
    tree: Optional[str] = None
    kunit_dir: Optional[str] = None

    def plan(self, environ: Mapping[str, str]) -> Plan:
        argv = ("--ksrc", self.ksrc) + _opt("--name", self.name) + _flag(self.caps, "--caps") \
            + _opt("--series", self.series) + _opt("--tree", self.tree) + _opt("--kunit-dir", self.kunit_dir)
        return (Call("treeprep", argv, _pairs(("ZSGATE_CACHE", self.paths.cache))),)


@dataclass(frozen=True)
class SourceRequest:
    """ci/source (zsgate.kernelsrc): fetch/unpack the kernel source, print KSRC= KVERSION= KPKG= PART_A=."""
    kdir: Optional[str]
    base: Optional[str]
    paths: PathOpts
    refresh: bool = False
    verify_source: bool = False
    mirror: Optional[str] = None

    def plan(self, environ: Mapping[str, str]) -> Plan:
        env = _pairs(("KDIR", self.kdir), ("BASE", self.base), ("ZSGATE_CACHE", self.paths.cache),
                     ("ZSGATE_REFRESH", "1" if self.refresh else None),
                     ("ZSGATE_VERIFY_SOURCE", "full" if self.verify_source else None),
                     ("ZSGATE_MIRROR", self.mirror))
        return (Call("kernelsrc", (), env),)


@dataclass(frozen=True)
class DepsRequest:
    """ci/deps: install the Debian packages zsgate needs."""

    def plan(self, environ: Mapping[str, str]) -> Plan:
        return (Call("deps"),)


@dataclass(frozen=True)
class DoctorRequest:
    """ci/doctor (zsgate.doctor): check this machine before a long run."""
    kdir: Optional[str]
    paths: PathOpts
    offline: bool = False
    need_gb: Optional[int] = None
    mirror: Optional[str] = None

    def plan(self, environ: Mapping[str, str]) -> Plan:
        env = _pairs(("KDIR", self.kdir)) + self.paths.env() + _pairs(
            ("ZSGATE_DOCTOR_OFFLINE", "1" if self.offline else None),
            ("ZSGATE_DOCTOR_NEED_GB", _str(self.need_gb)), ("ZSGATE_MIRROR", self.mirror))
        return (Call("doctor", (), env),)


@dataclass(frozen=True)
class HostTestsRequest:
    """ci/selftests, ci/selftests-faults, ci/kselftest-tar: the kselftests built against a
    kernel tree's framework (KSRC, default ci/source's), results in <out>/<subdir>; @module
    is the program's (zsgate.selftests, zsgate.selftestfaults, zsgate.kselftesttar)."""
    module: str
    subdir: str
    paths: PathOpts
    kdir: Optional[str] = None
    ksrc: Optional[str] = None
    args: Tuple[str, ...] = ()

    def plan(self, environ: Mapping[str, str]) -> Plan:
        out = self.paths.out_root(environ)
        if self.subdir:
            out = os.path.join(out, self.subdir)
        env = _pairs(("KDIR", self.kdir), ("KSRC", self.ksrc), ("ZSGATE_CACHE", self.paths.cache), ("OUT", out))
        return (Call(self.module, self.args, env),)


@dataclass(frozen=True)
class ExportRequest:
    """ci/export (zsgate.export): the tests as a git format-patch series for the kernel, into
    <out>/export."""
    paths: PathOpts
    kdir: Optional[str] = None
    ksrc: Optional[str] = None
    series: Optional[str] = None
    signoff: Optional[str] = None
    kernelci: bool = False
    subject_prefix: Optional[str] = None
    no_checkpatch: bool = False

    def plan(self, environ: Mapping[str, str]) -> Plan:
        series = self.series if self.series is not None else environ.get("SERIES", "")
        argv = ("--out", os.path.join(self.paths.out_root(environ), "export")) \
            + _opt("--ksrc", self.ksrc) + (("--series", series) if series and series != "none" else ()) \
            + _opt("--signoff", self.signoff) + _flag(self.kernelci, "--kernelci") \
            + _opt("--subject-prefix", self.subject_prefix) + _flag(self.no_checkpatch, "--no-checkpatch")
        return (Call("export", argv, _pairs(("KDIR", self.kdir), ("ZSGATE_CACHE", self.paths.cache))),)


@dataclass(frozen=True)
class FarmCollectRequest:
    """ci/farm-collect (zsgate.farm): farm results (LAVA, tuxrun, KernelCI) into a run dir and a verdict."""
    tree: str
    specs: Tuple[str, ...]
    paths: PathOpts
    series: Optional[str] = None
    kunit_tool: Optional[str] = None
    ab_env: Tuple[str, ...] = ()
    origin: Optional[str] = None
    base_url: Optional[str] = None

    def plan(self, environ: Mapping[str, str]) -> Plan:
        argv = ("--out", self.paths.out_root(environ), "--tree", self.tree) \
            + _opt("--series", self.series) + _opt("--kunit-tool", self.kunit_tool) \
            + tuple(a for e in self.ab_env for a in ("--ab-env", e)) + _opt("--origin", self.origin) \
            + _opt("--base-url", self.base_url) + self.specs
        return (Call("farm", argv),)


@dataclass(frozen=True)
class MetaRequest:
    """ci/meta (zsgate.rundir): the run manifest RUN_DIR/meta.json: init, add-run, add-step,
    note."""
    run_dir: str
    command: str
    args: Tuple[str, ...] = ()

    def plan(self, environ: Mapping[str, str]) -> Plan:
        return (Call("rundir", (self.run_dir, self.command) + self.args),)


@dataclass(frozen=True)
class TestToolsRequest:
    """The unit tests of the ci/ tooling, then mypy --strict on ci/zsgate (Debian's mypy)."""

    def plan(self, environ: Mapping[str, str]) -> Plan:
        return (Command(("python3", "-m", "unittest", "discover", "-s", "ci/tests", "-t", "ci"), cwd=ROOT),
                Command(("/usr/bin/python3", "-m", "mypy", "--strict", "ci/zsgate"), cwd=ROOT))


# ------------------------------------------------------------------- the verbs

def _p_gate(p: argparse.ArgumentParser) -> None:
    add_source_opts(p)
    add_build_opts(p)
    add_path_opts(p)
    add_run_opts(p)
    g = p.add_argument_group("gate")
    g.add_argument("--no-vm", action="store_true", help="stop after KUnit, as make kunit (ZSGATE_NO_VM=1)")
    g.add_argument("--no-ab", action="store_true", help="no A/B timing run (ZSGATE_NO_AB=1)")
    g.add_argument("--no-reuse-base", action="store_true",
                   help="boot the base VM runs even when a kept clean run matches (ZSGATE_REUSE_BASE=0)")
    g.add_argument("--kcsan-all", action="store_true",
                   help="any KCSAN report fails, not only zsmalloc/zram/zswap ones (ZSGATE_KCSAN_ALL=1)")
    g.add_argument("--prev", metavar="DIR|MBOX",
                   help="the previous revision of the series: a third kernel in the A/B, the series judged "
                        "against it too (PREV)")


def _r_gate(ns: argparse.Namespace) -> Request:
    return GateRequest(source_of(ns), build_of(ns), paths_of(ns), run_of(ns), _b(ns, "no_vm"),
                       _b(ns, "no_ab"), _b(ns, "no_reuse_base"), _b(ns, "kcsan_all"), _s(ns, "prev"))


def _p_kunit(p: argparse.ArgumentParser) -> None:
    add_source_opts(p)
    add_build_opts(p)
    add_path_opts(p, "results (OUT; with --tree: the run dir for NAME.{log,ktap,json,build.log})")
    add_run_opts(p)
    g = p.add_argument_group("one step (ci/kunit): --tree, --arch, --name")
    g.add_argument("--tree", help="the work tree (ci/tree) to build and run in")
    g.add_argument("--arch", choices=("um", "x86_64"))
    g.add_argument("--name", help="run name: the files NAME.log/.ktap/.json/.build.log")
    g.add_argument("--filter", metavar="GLOB", help="kunit.py filter_glob, e.g. 'zsmalloc.test_deferred_*'")
    g.add_argument("--attr-filter", metavar="EXPR", help="kunit.py --filter on attributes, e.g. speed=slow")


_SOURCE_ONLY = ("kdir", "base", "series", "archs", "verify_source", "refresh", "no_wait",
                "vm_timeout", "ab_timeout", "kcsan_timeout")


def _r_kunit(ns: argparse.Namespace, p: argparse.ArgumentParser) -> Request:
    tree, arch, name = _s(ns, "tree"), _s(ns, "arch"), _s(ns, "name")
    step = None
    if tree is not None or arch is not None or name is not None:
        if tree is None or arch is None or name is None or _s(ns, "out") is None:
            p.error("one step needs --tree, --arch, --name and --out")
        bad = [k for k in _SOURCE_ONLY if getattr(ns, k, None) not in (None, False)]
        if _ob(ns, "kcsan") is False:
            bad.append("no_kcsan")
        if bad:
            p.error("not with --tree (one step): " + ", ".join("--" + k.replace("_", "-") for k in bad))
        step = KunitStep(tree, arch, name, _s(ns, "filter"), _s(ns, "attr_filter"))
    elif _s(ns, "filter") is not None or _s(ns, "attr_filter") is not None:
        p.error("--filter and --attr-filter need --tree (one step)")
    return KunitRequest(source_of(ns), build_of(ns), paths_of(ns), run_of(ns), step)


def _p_check(p: argparse.ArgumentParser) -> None:
    add_source_opts(p)
    add_build_opts(p, "add the KCSAN run to stage 3 (ZSGATE_CHECK_KCSAN=1; off by default)")
    add_path_opts(p)
    add_run_opts(p)


def _r_check(ns: argparse.Namespace) -> Request:
    return CheckRequest(source_of(ns), build_of(ns), paths_of(ns), run_of(ns))


def _p_step_paths(p: argparse.ArgumentParser, out_help: str) -> None:
    g = p.add_argument_group("paths")
    g.add_argument("--cache", metavar="DIR", help="ZSGATE_CACHE")
    g.add_argument("--out", metavar="DIR", required=True, help=out_help)


def _p_vm(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tree", required=True)
    p.add_argument("--arch", required=True, choices=("um", "x86_64"))
    p.add_argument("--name", required=True, help="run name: NAME.vm.json, NAME.log, ...")
    _p_step_paths(p, "the run dir")
    p.add_argument("--cases", help='collections (default "zram_free zswap_free")')
    f = p.add_mutually_exclusive_group()
    f.add_argument("--filter", help="kselftest_harness arguments (default: the correctness set)")
    f.add_argument("--all", action="store_true", help="every test")
    p.add_argument("--full", action="store_true", help="nominal sizes (default quick: ZSGATE_QUICK=1 in the guest)")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="a ZSGATE_* knob in the guest")
    p.add_argument("--mem", type=int, metavar="MB")
    p.add_argument("--timeout", type=int, metavar="S")
    p.add_argument("--no-bounded", action="store_true")
    p.add_argument("--build-dir", metavar=".kunit-ARCH")
    p.add_argument("--bin", metavar="DIR", help="prebuilt static selftests")
    p.add_argument("--reuse", action="store_true", help="take a kept clean run with the same inputs")
    p.add_argument("--unstamped", action="store_true", help="boot an image with no build stamp")
    p.add_argument("--build-only", action="store_true", help="only build the static selftests")


def _r_vm(ns: argparse.Namespace) -> Request:
    return VmRequest(_s(ns, "tree") or "", _s(ns, "arch") or "", _s(ns, "name") or "", paths_of(ns),
                     _s(ns, "cases"), _s(ns, "filter"), _b(ns, "all"), _b(ns, "full"), _l(ns, "env"),
                     _i(ns, "mem"), _i(ns, "timeout"), _b(ns, "no_bounded"), _s(ns, "build_dir"),
                     _s(ns, "bin"), _b(ns, "reuse"), _b(ns, "unstamped"), _b(ns, "build_only"))


def _p_ab(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-tree", required=True, metavar="TREE", help="ci/ab --base")
    p.add_argument("--patched-tree", required=True, metavar="TREE", help="ci/ab --patched")
    p.add_argument("--prev-tree", metavar="TREE", help="ci/ab --prev: the previous revision, a third kernel")
    _p_step_paths(p, "the run dir (ab.json, ab/)")
    p.add_argument("--arch")
    p.add_argument("--rounds", type=int)
    p.add_argument("--inner", type=int)
    p.add_argument("--sizes")
    p.add_argument("--filter")
    p.add_argument("--margin", type=float)
    p.add_argument("--full", action="store_true", help="the nominal sizes (default quick)")
    p.add_argument("--labels", metavar="A,B[,C]")
    p.add_argument("--timeout", type=int, metavar="S")
    p.add_argument("--build-dir")
    p.add_argument("--bin")
    p.add_argument("--judge-concurrent", action="store_true")
    p.add_argument("--reanalyze", action="store_true", help="no boots: recompute ab.json")
    p.add_argument("--no-percall", action="store_true", help="no per-call (icount) boots")
    p.add_argument("--percall-only", action="store_true",
                   help="only the per-call boots: to measure the per-call rule")
    p.add_argument("--windows", type=int, metavar="N",
                   help="also judge each disjoint run of N rounds as a gate (power / false alarms)")


def _r_ab(ns: argparse.Namespace) -> Request:
    return AbRequest(_s(ns, "base_tree") or "", _s(ns, "patched_tree") or "", paths_of(ns), _s(ns, "arch"),
                     _i(ns, "rounds"), _i(ns, "inner"), _s(ns, "sizes"), _s(ns, "filter"), _f(ns, "margin"),
                     _b(ns, "full"), _s(ns, "labels"), _i(ns, "timeout"), _s(ns, "build_dir"), _s(ns, "bin"),
                     _b(ns, "judge_concurrent"), _b(ns, "reanalyze"), _s(ns, "prev_tree"),
                     _b(ns, "no_percall"), _b(ns, "percall_only"), _i(ns, "windows"))


def _p_bench(p: argparse.ArgumentParser) -> None:
    add_path_opts(p)
    g = p.add_argument_group("bench")
    g.add_argument("--series", metavar="DIR|MBOX", help="the revision (SERIES; default the reference series)")
    g.add_argument("--base72", metavar="7.2|TREE", help="the kernel without Part A (BASE72; default 7.2)")
    g.add_argument("--rounds", type=int, help="interleaved rounds of the four kernels (default 3)")
    g.add_argument("--inner", type=int, help="rounds inside each boot (default 1)")
    g.add_argument("--quick", action="store_true", help="quick sizes: a dry run, not for a cover letter")
    g.add_argument("--reanalyze", metavar="RUN_DIR", help="no builds or boots: the tables and plots again")


def _r_bench(ns: argparse.Namespace) -> Request:
    return BenchRequest(paths_of(ns), _s(ns, "series"), _s(ns, "base72"), _i(ns, "rounds"), _i(ns, "inner"),
                        _b(ns, "quick"), _s(ns, "reanalyze"))


def _p_rundir(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a run dir (default OUT/latest)")
    g = p.add_argument_group("paths")
    g.add_argument("--out", metavar="DIR", help="results (OUT): RUN_DIR defaults to OUT/latest")


def _p_summary(p: argparse.ArgumentParser) -> None:
    _p_rundir(p)
    p.add_argument("--kcsan-all", action="store_true", help="any KCSAN report fails (ZSGATE_KCSAN_ALL=1)")


def _r_summary(ns: argparse.Namespace) -> Request:
    return SummaryRequest(paths_of(ns), _s(ns, "run_dir"), _b(ns, "kcsan_all"))


def _r_report(ns: argparse.Namespace) -> Request:
    return ReportRequest(paths_of(ns), _s(ns, "run_dir"))


def _p_catalogue(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", metavar="NAME,...", help="only these (ONLY)")
    p.add_argument("--list", action="store_true", help="list them, run nothing")


def _p_mutants(p: argparse.ArgumentParser) -> None:
    _p_catalogue(p)
    p.add_argument("--skip-ab", action="store_true", help="leave out the mutants caught only by the A/B")
    p.add_argument("--no-control", action="store_true", help="no control run of the good series")
    p.add_argument("--no-hold-lock", action="store_true", help="take the build lock per kunit.py run")
    p.add_argument("--lock-per-group", action="store_true", help="release the build lock between arch groups")
    g = p.add_argument_group("paths and kernels")
    g.add_argument("--cache", metavar="DIR", help="ZSGATE_CACHE")
    g.add_argument("--out", metavar="DIR", help="results (OUT)")
    g.add_argument("--jobs", type=int, metavar="N", help="make jobs (JOBS)")


def _r_mutants(ns: argparse.Namespace) -> Request:
    return MutantsRequest(paths_of(ns), _i(ns, "jobs"), _s(ns, "only"), _b(ns, "list"), _b(ns, "no_control"),
                          _b(ns, "skip_ab"), _b(ns, "no_hold_lock"), _b(ns, "lock_per_group"))


def _p_examples(p: argparse.ArgumentParser) -> None:
    _p_catalogue(p)
    p.add_argument("--ab", action="store_true", help="the gate's A/B timing run too (AB=1)")
    p.add_argument("--rejudge", metavar="OUT/examples-ID", help="judge again the gate runs already there")
    p.add_argument("--kdir", metavar="TREE", help="KDIR for every example's gate")
    add_build_opts(p)
    add_path_opts(p, "results (OUT): OUT/examples-<id>/")


def _r_examples(ns: argparse.Namespace) -> Request:
    return ExamplesRequest(build_of(ns), paths_of(ns), _s(ns, "kdir"), _s(ns, "only"), _b(ns, "ab"),
                           _b(ns, "list"), _s(ns, "rejudge"))


def _p_tree(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ksrc", "--kdir", dest="ksrc", required=True, metavar="TREE", help="the kernel source (only read)")
    p.add_argument("--name", choices=("base", "patched", "prev"))
    p.add_argument("--caps", action="store_true", help="print the capability header for --ksrc as it is")
    p.add_argument("--series", metavar="DIR|MBOX")
    p.add_argument("--tree", metavar="DIR", help="where the work tree goes (default under the cache)")
    p.add_argument("--kunit-dir", metavar="DIR")
    p.add_argument("--cache", metavar="DIR", help="ZSGATE_CACHE")


def _r_tree(ns: argparse.Namespace) -> Request:
    return TreeRequest(_s(ns, "ksrc") or "", paths_of(ns), _s(ns, "name"), _b(ns, "caps"), _s(ns, "series"),
                       _s(ns, "tree"), _s(ns, "kunit_dir"))


def _p_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kdir", metavar="TREE", help="that tree, read-only (KDIR)")
    p.add_argument("--base", metavar="7.N", help="linux-source-7.N exactly (BASE)")
    p.add_argument("--cache", metavar="DIR", help="ZSGATE_CACHE")
    p.add_argument("--refresh", action="store_true", help="ask the archive again (ZSGATE_REFRESH=1)")
    p.add_argument("--verify-source", action="store_true", help="sha256 of every file (ZSGATE_VERIFY_SOURCE=full)")
    p.add_argument("--mirror", metavar="URL", help="Debian mirror (ZSGATE_MIRROR)")


def _r_source(ns: argparse.Namespace) -> Request:
    return SourceRequest(_s(ns, "kdir"), _s(ns, "base"), paths_of(ns), _b(ns, "refresh"),
                         _b(ns, "verify_source"), _s(ns, "mirror"))


def _p_none(p: argparse.ArgumentParser) -> None:
    pass


def _r_deps(ns: argparse.Namespace) -> Request:
    return DepsRequest()


def _p_doctor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kdir", metavar="TREE", help="KDIR, as make gate uses it")
    add_path_opts(p)
    p.add_argument("--offline", action="store_true", help="skip the Debian archive probe (ZSGATE_DOCTOR_OFFLINE=1)")
    p.add_argument("--need-gb", type=int, metavar="GB", help="free space wanted at the cache (ZSGATE_DOCTOR_NEED_GB)")
    p.add_argument("--mirror", metavar="URL", help="ZSGATE_MIRROR")


def _r_doctor(ns: argparse.Namespace) -> Request:
    return DoctorRequest(_s(ns, "kdir"), paths_of(ns), _b(ns, "offline"), _i(ns, "need_gb"), _s(ns, "mirror"))


def _p_host(p: argparse.ArgumentParser, out_help: str) -> None:
    g = p.add_argument_group("kernel tree and paths")
    g.add_argument("--ksrc", metavar="TREE", help="its kselftest framework builds the tests (KSRC; default ci/source's)")
    g.add_argument("--kdir", metavar="TREE", help="KDIR for ci/source")
    g.add_argument("--cache", metavar="DIR", help="ZSGATE_CACHE")
    g.add_argument("--out", metavar="DIR", help=out_help)


def _p_selftests(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="small sizes, 2 rounds (ZSGATE_QUICK=1; make QUICK=1)")
    p.add_argument("--static", action="store_true", help="link statically")
    p.add_argument("--build-only", action="store_true")
    p.add_argument("run_args", nargs="*", metavar="-- RUN_KSELFTEST_ARGS", help="after --: run_kselftest.sh arguments")
    _p_host(p, "results (OUT): OUT/selftests-host/")


def _r_selftests(ns: argparse.Namespace) -> Request:
    rest = _l(ns, "run_args")
    args = _flag(_b(ns, "quick"), "--quick") + _flag(_b(ns, "static"), "--static") \
        + _flag(_b(ns, "build_only"), "--build-only") + (("--",) + rest if rest else ())
    return HostTestsRequest("selftests", "selftests-host", paths_of(ns), _s(ns, "kdir"), _s(ns, "ksrc"), args)


def _p_faults(p: argparse.ArgumentParser) -> None:
    _p_host(p, "results (OUT): OUT/selftests-faults/")


def _r_faults(ns: argparse.Namespace) -> Request:
    return HostTestsRequest("selftestfaults", "selftests-faults", paths_of(ns), _s(ns, "kdir"), _s(ns, "ksrc"))


def _p_tar(p: argparse.ArgumentParser) -> None:
    p.add_argument("--static", action="store_true", help="link the test binaries statically")
    p.add_argument("--check", action="store_true", help="extract the tarball and run zram_free from it")
    _p_host(p, "OUT: OUT/kselftest.tar.gz")


def _r_tar(ns: argparse.Namespace) -> Request:
    args = _flag(_b(ns, "static"), "--static") + _flag(_b(ns, "check"), "--check")
    return HostTestsRequest("kselftesttar", "", paths_of(ns), _s(ns, "kdir"), _s(ns, "ksrc"), args)


def _p_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ksrc", metavar="TREE", help="the tree to export against (default ci/source's)")
    p.add_argument("--kdir", metavar="TREE", help="KDIR for ci/source")
    p.add_argument("--series", metavar="DIR|MBOX|none", help="a revision's patches first (default $SERIES)")
    p.add_argument("--signoff", metavar='"NAME <MAIL>"', help="Signed-off-by (make SIGNOFF=)")
    p.add_argument("--kernelci", action="store_true", help="a CI-branch-only patch for KernelCI (make KERNELCI=1)")
    p.add_argument("--subject-prefix", metavar="PATCH")
    p.add_argument("--no-checkpatch", action="store_true")
    add_path_opts(p, "OUT: OUT/export/")


def _r_export(ns: argparse.Namespace) -> Request:
    return ExportRequest(paths_of(ns), _s(ns, "kdir"), _s(ns, "ksrc"), _s(ns, "series"), _s(ns, "signoff"),
                         _b(ns, "kernelci"), _s(ns, "subject_prefix"), _b(ns, "no_checkpatch"))


def _p_farm(p: argparse.ArgumentParser) -> None:
    p.add_argument("specs", nargs="+", metavar="SPEC", help="NAME=ARCH:REV:KIND:FILE (see docs/ci-farms.md)")
    p.add_argument("--tree", required=True, help="the kernel tree the farm ran")
    p.add_argument("--out", required=True, metavar="DIR", help="the run dir to write")
    p.add_argument("--series", metavar="DIR|MBOX")
    p.add_argument("--kunit-tool", metavar="KUNIT.PY")
    p.add_argument("--ab-env", action="append", default=[], metavar="K=V")
    p.add_argument("--origin")
    p.add_argument("--base-url", metavar="URL")


def _r_farm(ns: argparse.Namespace) -> Request:
    return FarmCollectRequest(_s(ns, "tree") or "", _l(ns, "specs"), paths_of(ns), _s(ns, "series"),
                              _s(ns, "kunit_tool"), _l(ns, "ab_env"), _s(ns, "origin"), _s(ns, "base_url"))


def _p_meta(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (its meta.json)")
    p.add_argument("command", choices=("init", "add-run", "add-step", "note"),
                   help="what to write (the arguments: `python3 -m zsgate.rundir` prints them)")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARG", help="the command's arguments")


def _r_meta(ns: argparse.Namespace) -> Request:
    return MetaRequest(_s(ns, "run_dir") or "", _s(ns, "command") or "", _l(ns, "args"))


def _r_test_tools(ns: argparse.Namespace) -> Request:
    return TestToolsRequest()


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    add_opts: Callable[[argparse.ArgumentParser], None]
    request: Callable[[argparse.Namespace, argparse.ArgumentParser], Request]
    make: bool = True  # a Make target of the same name


def _v(name: str, help: str, add: Callable[[argparse.ArgumentParser], None],
       req: Callable[[argparse.Namespace], Request], make: bool = True) -> Verb:
    return Verb(name, help, add, lambda ns, p: req(ns), make)


VERBS: Tuple[Verb, ...] = (
    _v("gate", "the main job: source -> base/patched trees -> KUnit + VM kselftests (ARCHS) -> A/B"
       " -> report.md/png and the verdict", _p_gate, _r_gate),
    _v("check", "the project's own tests: tooling unit tests, bad input, KUnit and VM kselftests"
       " (base + patched), host kselftests; no timing judgement", _p_check, _r_check),
    Verb("kunit", "KUnit only, for ARCHS x (base, patched) and the verdict; --debug for KASAN/lockdep;"
         " with --tree/--arch/--name one ci/kunit step", _p_kunit, _r_kunit),
    _v("vm", "step: the kselftests in a VM of a tree's KUnit build (ci/vm)", _p_vm, _r_vm, make=False),
    _v("ab", "step: the A/B latency run, base vs patched trees (ci/ab)", _p_ab, _r_ab, make=False),
    _v("bench", "the full measurement for a cover letter: 7.2 / 7.3 / 7.3 + SERIES / the limit control,"
       " the seed's sizes, CPU, compaction, swap-in, pressure -> bench.md/json/png (~50 min)", _p_bench, _r_bench),
    _v("summary", "step: summary.json, the table and the verdict of a run dir (ci/summary)",
       _p_summary, _r_summary, make=False),
    _v("report", "re-render report.md/report.png of the newest run (OUT/latest) or RUN_DIR",
       _p_rundir, _r_report),
    _v("mutants", "gate each known-bad revision in series/mutants/, fail if one survives (--only)",
       _p_mutants, _r_mutants),
    _v("examples", "gate each example in series/examples/: good ones must PASS, bad twins FAIL by"
       " their catch: test (--only, --ab); OUT/examples-<id>/", _p_examples, _r_examples),
    _v("tree", "step: a base or patched work tree of a kernel source, the suite in it (ci/tree)",
       _p_tree, _r_tree, make=False),
    _v("source", "fetch/unpack the kernel source and print where it is", _p_source, _r_source),
    _v("deps", "install the Debian packages zsgate needs (root)", _p_none, _r_deps),
    _v("doctor", "check this machine before a long run: tools, disk, memory, load, archive",
       _p_doctor, _r_doctor),
    _v("selftests", "zram_free/zswap_free kselftests on the running kernel (root)", _p_selftests, _r_selftests),
    _v("selftests-faults", "the same, killed at each phase: the host must be put back (root)",
       _p_faults, _r_faults),
    _v("kselftest-tar", "a run_kselftest.sh tarball with both collections, into OUT", _p_tar, _r_tar),
    _v("export", "the tests as a git format-patch series for the kernel (checkpatch --strict), OUT/export/",
       _p_export, _r_export),
    _v("farm-collect", "step: farm results (LAVA, tuxrun, KernelCI) into a run dir and a verdict",
       _p_farm, _r_farm, make=False),
    _v("meta", "step: the run manifest RUN_DIR/meta.json: init, add-run, add-step, note (ci/meta)",
       _p_meta, _r_meta, make=False),
    _v("test-tools", "unit tests of the ci/ tooling and mypy --strict ci/zsgate (seconds, no kernel build)",
       _p_none, _r_test_tools),
)

# The Makefile's variables and the option each one is (make help prints this table).
MAKE_VARIABLES: Tuple[Tuple[str, str], ...] = (
    ("KDIR=<tree>", "--kdir: gate an existing tree (read-only) instead of linux-source-7.3"),
    ("BASE=7.2", "--base: linux-source-7.2 as the base (no Part A): gate a Part A revision"),
    ("SERIES=<dir|mbox|none>", f"--series: the revision (default {REFERENCE_SERIES}, Part B)"),
    ("PREV=<dir|mbox>", "--prev: gate: the previous revision too, a third kernel in the A/B"),
    ("BASE72=<7.2|tree>", "--base72: bench: the kernel without Part A (default linux-source-7.2)"),
    ('ARCHS="um x86_64"', "--archs: KUnit arches"),
    ("JOBS=N", "--jobs: make jobs (default nproc)"),
    ("DEBUG=1", "--debug: debug kernels (KASAN, lockdep; no KCSAN run then)"),
    ("KCSAN=0", "--no-kcsan: no KCSAN run of the race cases (on by default)"),
    ("ZSGATE_CACHE=<dir>", "--cache: debs, sources, work trees (default ~/.cache/zsgate)"),
    ("OUT=<dir>", "--out: results (default ./out)"),
    ("ONLY=name,name", "--only: mutants, examples"),
    ("AB=1", "--ab: examples with the A/B"),
    ("QUICK=1", "--quick: selftests at small sizes"),
    ('SIGNOFF="N <m>"', "--signoff: export"),
    ("KERNELCI=1", "--kernelci: export adds a CI-branch-only patch for KernelCI"),
)


def _epilog() -> str:
    lines = ["make: `make VERB` is `./zsgate VERB` for each verb not marked step; also `make clean`",
             "(remove OUT), `make distclean` (also ZSGATE_CACHE). Make variables and their options:"]
    lines += [f"  {v:24} {o}" for v, o in MAKE_VARIABLES]
    lines += ["Other ZSGATE_* variables (timeouts, VM and A/B knobs) are read from the environment as",
              "before: README.md#variables. `./zsgate VERB --help` lists a verb's options; docs/cli.md."]
    return "\n".join(lines)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, width=HELP_WIDTH, max_help_position=26)


def build_parser() -> Tuple[argparse.ArgumentParser, Dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="zsgate", formatter_class=_formatter, epilog=_epilog(), allow_abbrev=False,
        description="zsgate: the gate for the zsmalloc free-path series. One verb per Make target and"
                    " per pipeline step.")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    parsers: Dict[str, argparse.ArgumentParser] = {}
    for v in VERBS:
        h = v.help if v.make else v.help.replace("step: ", "", 1) + " [step]"
        p = sub.add_parser(v.name, help=h, description=v.help, formatter_class=_formatter,
                           allow_abbrev=False)
        v.add_opts(p)
        parsers[v.name] = p
    return parser, parsers


def parse(argv: Sequence[str]) -> Request:
    """The request for a command line; argparse's usage error (exit 2) for a bad one."""
    parser, parsers = build_parser()
    ns = parser.parse_args(list(argv))
    verb = next(v for v in VERBS if v.name == ns.verb)
    return verb.request(ns, parsers[verb.name])


def merged_env(cmd: Step, environ: Mapping[str, str]) -> Dict[str, str]:
    env = dict(environ)
    env.update(cmd.env)
    return env


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ is @env inside the block, what it was after it."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def call(step: Call, environ: Mapping[str, str]) -> int:
    """zsgate.<module>.main(argv) in this process (inproc.call), in the step's environment;
    its exit code (an argparse usage error's or a sys.exit()'s too, an exception's 1)."""
    mod = importlib.import_module(f"{__package__}.{step.module}")
    main_: inproc.Main = getattr(mod, "main")
    with environment(merged_env(step, environ)):
        return inproc.call(main_, step.argv, step.module)


def run_plan(plan: Plan, environ: Mapping[str, str]) -> int:
    """Run the plan in order: a Call in this process, a Command as a child, and a Command
    that is last in place of this process (exec), so that its exit code and signals are
    the verb's. A failed must_pass step ends the plan with its exit code."""
    for i, st in enumerate(plan):
        if isinstance(st, Call):
            rc = call(st, environ)
            if i == len(plan) - 1 or (rc != 0 and st.must_pass):
                return rc
            continue
        if i < len(plan) - 1:
            rc = subprocess.run(list(st.argv), env=merged_env(st, environ), cwd=st.cwd).returncode
            if rc != 0 and st.must_pass:
                return rc
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        if st.cwd:
            os.chdir(st.cwd)
        os.execvpe(st.argv[0], list(st.argv), merged_env(st, environ))
    return 0


def main(argv: Optional[Sequence[str]] = None, runner: Runner = run_plan,
         environ: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if environ is None else environ
    request = parse(sys.argv[1:] if argv is None else argv)
    return runner(request.plan(env), env)


__all__: List[str] = ["main", "parse", "run_plan", "Call", "Command", "VERBS", "MAKE_VARIABLES"]
