"""A fault for the tests of resume: a process that kills itself, once, at a named point of a run.

A test of a run killed mid-way, or of a Dask worker lost in the middle of a job, must stop the
job at a known point, not catch it there by polling. With the environment variable
``BANANA_GRASP_TEST_KILL`` set to ``POINT=MARKER``, the first process that reaches ``POINT``
creates the file ``MARKER`` and kills itself with SIGKILL, as a lost node or the kernel's
out-of-memory killer would: no handler runs, no file is closed. Every later process finds the
marker and goes on, so the run started again (or the job run again) finishes. The one point:
``checkpoint:<learner>``, just after that learner's training has written a checkpoint
(``learners.checkpoints.save_checkpoint``). Unset, as it always is outside the tests,
nothing happens.
"""

from __future__ import annotations

import os
import signal

VARIABLE = "BANANA_GRASP_TEST_KILL"


def reached(point: str) -> None:
    """Kill this process if the test fault names ``point`` and no process has died there yet."""
    setting = os.environ.get(VARIABLE)
    if not setting:
        return
    wanted, separator, marker = setting.partition("=")
    if not separator or not marker:
        raise ValueError(f"{VARIABLE} must be POINT=MARKER (a point and a file path); got {setting!r}")
    if wanted != point:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
