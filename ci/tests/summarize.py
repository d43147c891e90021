# SPDX-License-Identifier: GPL-2.0
"""zsgate.summary.main() in-process, shaped like the subprocess.run() of ci/summary it replaces."""
import contextlib
import io
import os
from dataclasses import dataclass
from typing import Mapping, Optional
from unittest import mock

from zsgate import summary


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run(run_dir: str, env: Optional[Mapping[str, str]] = None) -> Result:
    """ci/summary RUN_DIR, in this process: its exit code and what it printed. `env`: the
    whole environment to judge with (os.environ is restored afterwards)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as st:
        if env is not None:
            st.enter_context(mock.patch.dict(os.environ, env, clear=True))
        st.enter_context(contextlib.redirect_stdout(out))
        st.enter_context(contextlib.redirect_stderr(err))
        rc = summary.main([run_dir])
    return Result(rc, out.getvalue(), err.getvalue())
