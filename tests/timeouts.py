"""Timeouts of the tests' subprocesses, scaled to the suite's parallelism.

A subprocess's timeout is what it needs with a core to itself, with room to spare, times the
number of pytest-xdist workers: as if every worker's test shared that one core. On more cores
it finishes sooner; on fewer, or with other load, the timeout still holds.
"""

from __future__ import annotations

import os


def scaled(seconds: float) -> float:
    """``seconds`` on a core of its own, times the pytest-xdist workers running (1 without xdist)."""
    return seconds * max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
