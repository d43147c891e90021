# SPDX-License-Identifier: GPL-2.0
"""zsgate.summary.main() in-process, shaped like the subprocess.run() of ci/summary it replaces;
call() does the same for any step's main(argv) (zsgate.abrun, zsgate.vmrun, ...)."""
import contextlib
import io
import os
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence
from unittest import mock

from zsgate import summary


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def call(main: Callable[[Sequence[str]], int], argv: Sequence[str],
         env: Optional[Mapping[str, str]] = None) -> Result:
    """main(argv) in this process: its exit code (an argparse usage error's SystemExit
    too) and what it printed. `env`: the whole environment to run with (os.environ is
    restored afterwards)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as st:
        if env is not None:
            st.enter_context(mock.patch.dict(os.environ, env, clear=True))
        st.enter_context(contextlib.redirect_stdout(out))
        st.enter_context(contextlib.redirect_stderr(err))
        try:
            rc = main(list(argv))
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    return Result(rc, out.getvalue(), err.getvalue())


def run(run_dir: str, env: Optional[Mapping[str, str]] = None) -> Result:
    """ci/summary RUN_DIR, in this process: its exit code and what it printed. `env`: the
    whole environment to judge with (os.environ is restored afterwards)."""
    return call(summary.main, [run_dir], env)
