# SPDX-License-Identifier: GPL-2.0
"""A step's main(argv) called in this process the way the child process it replaced ran it.

Usage (Python only): rc = inproc.call(vmrun.main, ["--tree", ...], "vm"); the gate
(zsgate/gate.py deps(), kunit(), vm(), ab()), the A/B's boots (zsgate/boots.py), an ab
mutant's A/B (zsgate/mutantab.py), ci/mutants' and ci/bench's kunit and deps, ci/check's deps
and ./zsgate's in-process steps (cli.call) call the steps' main()s so; those have no
exception handler of their own for this.

What a child process gave for free, call() does by hand:
- its exit code: main()'s return value; a SystemExit (argparse's usage error, a sys.exit())
  its code (None 0, a message 1 with the message on stderr); any other exception exit 1
  with its traceback on stderr, as python3 prints it: the step failed, the caller goes on.
- nothing leaks back: the signal handlers of SIGTERM, SIGHUP and SIGINT, the working
  directory, os.environ and the log's step name (zsgate.log.set_step) are put back as they
  were before the call, however it ends.
- a SIGTERM or SIGHUP ends it and its caller: a step that wants its cleanups to run on
  those (ci/vm removes its scratch dirs and ends its VM) installs on_term(), which raises
  Terminated (a SystemExit, exit 128+SIG when nothing catches it); call() lets it through,
  after the step's finally blocks have run. A caller that must die of the signal itself (the
  gate: its guard tells "killed by SIGTERM" from an exit code) calls die_of().
Writes nothing.
"""

import argparse
import os
import signal
import sys
import traceback
from types import FrameType
from typing import Callable, Dict, List, NoReturn, Optional, Sequence

from zsgate import log as zlog

Main = Callable[[Sequence[str]], int]
SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Terminated(SystemExit):
    """SIGTERM or SIGHUP arrived during a step (on_term): unwinds through its cleanups; exit
    128+SIG when it reaches the top of the program."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


class Stop(Exception):
    """A step ends here (deps, kunitrun: their main() returns @code); its message is on
    stderr already."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def die(msg: str, code: int = 1) -> NoReturn:
    """The shell steps' die: one line "zsgate: STEP: MSG" on stderr, then Stop(@code)."""
    print(f"zsgate: {zlog.step()}: {msg}", file=sys.stderr, flush=True)
    raise Stop(code)


class Parser(argparse.ArgumentParser):
    """argparse that raises Stop instead of sys.exit(): a usage error is die (exit 1, as the
    shell step's), --help is Stop(0)."""

    def exit(self, status: int = 0, message: Optional[str] = None) -> NoReturn:
        if message:
            print(message, file=sys.stderr, end="", flush=True)
        raise Stop(status)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        die(message)


def on_term(sig: int, _frame: Optional[FrameType]) -> NoReturn:
    """The SIGTERM/SIGHUP handler of a step: end it through its finally blocks."""
    raise Terminated(sig)


def die_of(sig: int) -> NoReturn:
    """End this process by @sig at its default action (what a shell and the guard see of a
    process killed by it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)  # a signal whose default is not to end the process: end anyway


def exit_code(e: SystemExit) -> int:
    """The exit status python3 gives a program that ends with @e."""
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr, flush=True)
    return 1


def call(main: Main, argv: Sequence[str], what: str) -> int:
    """main(argv) in this process: its exit code (see the module docstring). @what names the
    step in the line that says an exception ended it."""
    step = zlog._step
    handlers = {s: signal.getsignal(s) for s in SIGNALS}
    cwd = os.getcwd()
    env = dict(os.environ)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        return main(list(argv))
    except Terminated:
        raise
    except SystemExit as e:
        return exit_code(e)
    except Exception as e:  # a bug in the step fails the step, not its caller
        traceback.print_exc()
        zlog.log(f"{what} failed with {type(e).__name__}: {e} (exit 1)")
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for s, h in handlers.items():
            if h is not None and signal.getsignal(s) is not h:
                signal.signal(s, h)
        if os.getcwd() != cwd:
            os.chdir(cwd)
        if dict(os.environ) != env:
            _restore_env(env)
        zlog._step = step


def _restore_env(env: Dict[str, str]) -> None:
    gone: List[str] = [k for k in os.environ if k not in env]
    for k in gone:
        del os.environ[k]
    for k, v in env.items():
        if os.environ.get(k) != v:
            os.environ[k] = v
