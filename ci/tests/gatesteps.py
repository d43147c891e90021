# SPDX-License-Identifier: GPL-2.0
"""ZSGATE_GATE_TEST_STEPS for ci/gate over a stand-in root (test_gate.py, test_signals.py):
the gate's in-process source and tree steps run the stand-in root's stub ci/source (its
--json file, as treeprep.find_source read it before zsgate.kernelsrc) and ci/tree (its
KEY=VALUE stdout) instead, so a stub can log its arguments or block like the real step.

The gate's in-process steps (deps.main, kunitrun.main, vmrun.main, abrun.main, looked up
when gate.deps(), kunit(), vm() and ab() call them) are monkeypatched here, in the gate's
process, when the gate loads this file: they run the stand-in root's stub ci/deps, ci/kunit,
ci/vm or ci/ab with the same arguments. vm_main() and ab_main() also do what those do around
their work (the log step, SIGTERM and SIGHUP handlers that end the step, put back on return).
FAKE_STEP_RAISE=vm|ab makes that step raise instead (an exception in a step is its exit 1,
not the end of the gate)."""
import json
import os
import shlex
import signal
import subprocess
import tempfile
from typing import Dict, List, Optional, Sequence

from zsgate import abrun, deps, inproc, kunitrun, treeprep, vmrun
from zsgate.log import set_step


def _run(ci: str, args: List[str]) -> Dict[str, str]:
    r = subprocess.run([os.path.join(ci, args[0]), *args[1:]], stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise treeprep.TreeError(f"stub ci/{args[0]} exited {r.returncode}")
    out = {}
    for tok in shlex.split(r.stdout):
        k, eq, v = tok.partition("=")
        if eq:
            out[k] = v
    return out


def find_source(ci_dir: str) -> Dict[str, str]:
    """The stub `ci/source --json FILE` of the stand-in root (treeprep.find_source finds the
    source in-process with zsgate.kernelsrc, which a stub cannot replace)."""
    with tempfile.TemporaryDirectory(prefix="zsgate-stub-source-") as tmp:
        path = os.path.join(tmp, "result")
        rc = subprocess.run([os.path.join(ci_dir, "source"), "--json", path], stdout=subprocess.DEVNULL).returncode
        if rc != 0:
            raise treeprep.TreeError(f"ci/source failed (exit {rc}): its messages are above")
        with open(path, encoding="utf-8") as h:
            return {str(k): str(v) for k, v in json.load(h).items()}


def make_tree(ksrc: str, name: str, series: Optional[str], kunit_dir: str, tree: Optional[str]) -> treeprep.Made:
    args = ["tree", "--ksrc", ksrc, "--name", name] + (["--series", series] if series else []) \
        + (["--tree", tree] if tree else [])
    a = _run(os.path.join(os.environ["ZSGATE_ROOT"], "ci"), args)
    return treeprep.Made(a["TREE"], a.get("SERIES_ID", ""), a.get("PART_B") == "true", ())


def _step(step: str, argv: Sequence[str]) -> int:
    args = list(argv)
    set_step(f"vm {args[args.index('--name') + 1]}" if step == "vm" else step)
    old = {s: signal.signal(s, inproc.on_term) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        if os.environ.get("FAKE_STEP_RAISE") == step:
            raise RuntimeError(f"fake {step} raised")
        return subprocess.run([os.path.join(os.environ["ZSGATE_ROOT"], "ci", step), *args]).returncode
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def vm_main(argv: Sequence[str]) -> int:
    return _step("vm", argv)


def ab_main(argv: Sequence[str]) -> int:
    return _step("ab", argv)


vmrun.main = vm_main  # type: ignore[assignment]
abrun.main = ab_main  # type: ignore[assignment]


def _stub(step: str, argv: Sequence[str]) -> int:
    return subprocess.run([os.path.join(os.environ["ZSGATE_ROOT"], "ci", step), *argv]).returncode


deps.main = lambda argv=None, env=None: _stub("deps", argv or [])  # type: ignore[assignment]
kunitrun.main = lambda argv=None, env=None: _stub("kunit", argv or [])  # type: ignore[assignment]
