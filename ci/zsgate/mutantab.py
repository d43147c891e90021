# SPDX-License-Identifier: GPL-2.0
"""The A/B of an ab mutant, for zsgate/mutants.py: VM kernels (configs/vm*.config, build dir
.kunit-x86_64-vm) of the reference tree and the mutant tree, then ci/ab's regression rule
(zsgate/mutantjudge.py's ab_verdict() reads its ab.json)."""

import os
import subprocess
import time
from typing import Any, Dict, List, Optional

from zsgate import abrun, build, config, inproc, rundir
from zsgate.log import log
from zsgate.mutantjudge import Row, ab_verdict
from zsgate.mutantspec import Mutant
from zsgate.results import first_compiler_error

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)
ARCH = "x86_64"  # ci/ab's arch
VM_BUILD = config.build_dir(ARCH, "vm")


def kunit_build(tree: str, blog: str) -> int:
    """kunit.py build of a VM kernel in tree (under the machine's build lock), its output
    in blog: the exit code."""
    cmd = ["flock", config.build_lock(),
           "python3", "tools/testing/kunit/kunit.py", "build", f"--arch={ARCH}",
           f"--kunitconfig={ROOT}/configs/zsmalloc-x86_64.kunitconfig",
           f"--kunitconfig={ROOT}/configs/vm.config", f"--kunitconfig={ROOT}/configs/vm-x86_64.config",
           f"--jobs={os.environ.get('JOBS', os.cpu_count())}", "--make_options", "CC=ccache gcc",
           f"--build_dir={VM_BUILD}"]
    with open(blog, "w") as lf:
        return subprocess.run(cmd, cwd=tree, stdout=lf, stderr=subprocess.STDOUT, text=True).returncode


def vm_kernel(tree: str, name: str, label: str, outdir: str) -> Optional[str]:
    """Build and stamp the VM kernel of tree (ci/ab boots only what this build stamps, as
    ci/kunit does); its log is OUT/<name>.build.log. None when built, else why not (the
    "how" of a mutant not run; label: ref or mutant)."""
    blog = rundir.run_file(outdir, name, "build.log")
    bdir = os.path.join(tree, VM_BUILD)
    before = build.tree_key(tree)
    build.invalidate(bdir)
    rc = kunit_build(tree, blog)
    if rc != 0:
        with open(blog, encoding="utf-8", errors="replace") as lf:
            err = first_compiler_error(lf) or f"kunit.py build exit {rc}"
        build.stamp_failed(tree, bdir, ARCH, name, err, blog)
        return f"VM kernel build failed ({label}): {err}"
    st = build.stamp_ok(tree, bdir, ARCH, name, before)
    if st["status"] != "ok":
        return f"VM kernel build ({label}): {st['error']}"
    return None


def ci_ab(args: List[str]) -> int:
    """ci/ab ARGS (the A/B latency run of two built VM kernels), abrun.main in this process
    (inproc.call: an exception in it is exit 1, signal handlers and the log step are put
    back; a SIGTERM ends its VM, then ci/mutants): its exit code."""
    return inproc.call(abrun.main, args, "ab")


def run(m: Mutant, ref: str, mt: str, outdir: str, t0: float) -> Row:
    """The verdict of ab mutant m: VM kernels of the prepared trees ref (reference) and mt
    (mutant), then ci/ab into OUT/<name>-ab; seconds counted from t0."""
    for t, label in ((ref, "ref"), (mt, "mutant")):
        log(f"{m['name']}: VM kernel build ({label})")
        how = vm_kernel(t, f"{m['name']}.{label}", label, outdir)
        if how is not None:
            return {"verdict": "not run", "by": [], "how": how, "seconds": round(time.time() - t0, 1)}
    abdir = os.path.join(outdir, m["name"] + "-ab")
    args = ["--base", ref, "--patched", mt, "--out", abdir, "--build-dir", VM_BUILD, "--labels", "base,mutant"]
    rounds = os.environ.get("ZSGATE_MUTANT_AB_ROUNDS") or str(m.get("ab_rounds") or "")
    if rounds:
        args += ["--rounds", rounds]
    rc = ci_ab(args)
    doc: Optional[Dict[str, Any]]
    try:
        doc = rundir.read_json(rundir.path(abdir, rundir.AB))
    except (OSError, ValueError):
        doc = None
    return ab_verdict(doc, rc, round(time.time() - t0, 1))
