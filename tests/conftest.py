"""Shared set-up for the environment tests.

* Headless rendering: MuJoCo picks its GL backend when ``mujoco`` is first imported, so
  MUJOCO_GL is set here, before any test module imports it (the package sets the same
  default, but only if it is imported before ``mujoco``).
* The scripted-expert evaluation (100 episodes of 100 steps per env id and layout) is
  the slow part of the suite. It runs in two worker subprocesses that start as soon as
  collection finishes, only for the expert cases that were selected, so it uses both
  cores and overlaps the other tests. ``expert_results`` waits for it. This file doubles
  as the worker script (``python conftest.py JOBS_JSON``) so that nothing needs to be
  importable by module name in the workers.
"""

from __future__ import annotations

import os

if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"

import json
import subprocess
import sys
import tempfile
from collections import defaultdict

import pytest

EXPERT_TASKS = 100  # tasks (episodes) per env id and layout, unless a case says fewer
EXPERT_WORKERS = 2
EXPERT_FIXTURE = "expert_results"
_MARK = "EXPERT-RESULTS "  # prefix of the worker's result line (MuJoCo may print warnings too)


def expert_episodes(jobs: list[list]) -> list[dict]:
    """Run the scripted expert for each job ``[env_id, position_layout, seeds]``, one episode per seed.

    The task of each episode is the one the env samples for ``reset(seed=seed)``.
    """
    import gymnasium as gym

    import banana_grasp.envs  # noqa: F401  (registers the ids)
    from banana_grasp.envs import ScriptedExpert

    results = []
    for env_id, layout, seeds in jobs:
        env = gym.make(env_id, position_layout=layout)
        expert = ScriptedExpert()
        for seed in seeds:
            obs, info = env.reset(seed=seed)
            task = info["task"]
            expert.reset()
            steps, terminated, truncated = 0, False, False
            while not (terminated or truncated):
                obs, _, terminated, truncated, info = env.step(expert.act(obs))
                steps += 1
            results.append(
                {
                    "env_id": env_id,
                    "layout": layout,
                    "seed": seed,
                    "task": task.as_dict(),
                    "success": bool(info["is_success"]),
                    "steps": steps,
                    "terminated": bool(terminated),
                    "diverged": bool(info.get("physics_diverged", False)),
                }
            )
        env.close()
    return results


class ExpertRun:
    """Expert episodes spread over worker subprocesses; ``results()`` waits for them."""

    def __init__(self, cases: list[tuple[str, str, int]]) -> None:
        self.cases = sorted(set(cases))
        # Seeds interleaved over the workers so that each gets the same share of every case.
        shares = [
            [[env_id, layout, list(range(k, n, EXPERT_WORKERS))] for env_id, layout, n in self.cases]
            for k in range(EXPERT_WORKERS)
        ]
        # Output goes to files, not pipes: nothing blocks however much a worker writes.
        self._outputs = [tempfile.TemporaryFile("w+") for _ in shares]  # noqa: SIM115 (closed in kill())
        self._procs = [
            subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), json.dumps(share)],
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for share, output in zip(shares, self._outputs)
        ]
        self._results: dict[tuple[str, str], list[dict]] | None = None

    def results(self) -> dict[tuple[str, str], list[dict]]:
        if self._results is None:
            by_case: dict[tuple[str, str], list[dict]] = defaultdict(list)
            for proc, output in zip(self._procs, self._outputs):
                proc.wait()
                output.seek(0)
                lines = output.read().splitlines()
                marked = [line for line in lines if line.startswith(_MARK)]
                if proc.returncode != 0 or not marked:
                    tail = "\n".join(lines[-40:])
                    raise RuntimeError(f"expert worker failed (exit {proc.returncode}):\n{tail}")
                for row in json.loads(marked[-1][len(_MARK) :]):
                    by_case[row["env_id"], row["layout"]].append(row)
            for rows in by_case.values():
                rows.sort(key=lambda row: row["seed"])
            self._results = dict(by_case)
        return self._results

    def kill(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for output in self._outputs:
            output.close()


def _expert_cases(items) -> list[tuple[str, str, int]]:
    cases = []
    for item in items:
        if EXPERT_FIXTURE in getattr(item, "fixturenames", ()) and hasattr(item, "callspec"):
            params = item.callspec.params
            cases.append((params["env_id"], params["layout"], params.get("n_tasks", EXPERT_TASKS)))
    return cases


def pytest_collection_finish(session) -> None:
    if session.config.option.collectonly:
        return
    cases = _expert_cases(session.items)
    if cases:
        session.config._banana_expert_run = ExpertRun(cases)


def pytest_unconfigure(config) -> None:
    run = getattr(config, "_banana_expert_run", None)
    if run is not None:
        run.kill()


@pytest.fixture(scope="session")
def expert_results(request) -> dict[tuple[str, str], list[dict]]:
    """Expert episodes per (env_id, layout), in seed order, from the selected expert cases."""
    run = getattr(request.config, "_banana_expert_run", None)
    if run is None:  # collection hook skipped (e.g. another plugin): run everything now
        run = request.config._banana_expert_run = ExpertRun(_expert_cases(request.session.items))
    return run.results()


if __name__ == "__main__":
    print(_MARK + json.dumps(expert_episodes(json.loads(sys.argv[1]))), flush=True)
