# SPDX-License-Identifier: GPL-2.0
"""The one progress log of the ci/ steps (the shell steps' log() of ci/lib.sh is gone with it):

    [MM:SS] step: message

on stderr (stdout stays machine-readable), MM:SS the time since ZSGATE_T0 (the gate's
start, exported by the gate and ci/check for their steps; unset: since this process
started). The step is the one the program names with set_step(), else $ZSGATE_STEP, else
the program's name. Under the gate's guard (ZSGATE_GUARD_STATE set, ci/zsgate/guard.py)
the line, without the time, also replaces $ZSGATE_GUARD_STATE.last, so an interrupted gate
says what it was doing.
"""

import contextlib
import os
import sys
import time
from typing import Iterator, Optional

_START = int(time.time())
_step: Optional[str] = None


def set_step(name: str) -> None:
    """The step name of this program's lines (e.g. "mutants", "vm vm-um-base")."""
    global _step
    _step = name


@contextlib.contextmanager
def stepped(name: str) -> Iterator[None]:
    """The step name is @name inside the block (a step run in another's process, e.g. the
    gate's source step, kernelsrc.find), the caller's again after it."""
    global _step
    old = _step
    _step = name
    try:
        yield
    finally:
        _step = old


def step() -> str:
    return _step or os.environ.get("ZSGATE_STEP") or os.path.basename(sys.argv[0] or "python3")


def elapsed() -> str:
    """MM:SS since ZSGATE_T0 (epoch seconds)."""
    try:
        t0 = int(os.environ.get("ZSGATE_T0") or _START)
    except ValueError:
        t0 = _START
    s = int(time.time()) - t0
    return f"{s // 60:02d}:{s % 60:02d}"


def log(msg: str) -> None:
    name = step()
    print(f"[{elapsed()}] {name}: {msg}", file=sys.stderr, flush=True)
    state = os.environ.get("ZSGATE_GUARD_STATE")
    if state:
        try:
            with open(state + ".last", "w", encoding="utf-8") as f:
                f.write(f"{name}: {msg}\n")
        except OSError:
            pass
