"""Shared set-up of the tests: headless rendering.

MuJoCo picks its OpenGL backend from MUJOCO_GL when ``mujoco`` is first imported, so the
default is set here, before any test module imports it (``banana_grasp.envs`` sets the same
default, but only when it is imported before ``mujoco``). Parallel runs: pytest-xdist
(``pytest -n auto``); the full scripted-expert sweep is marked ``slow``.
"""

from __future__ import annotations

import os
import sys

if "MUJOCO_GL" not in os.environ and sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"
