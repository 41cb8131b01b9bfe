"""The comparison on a Dask distributed cluster: a scheduler and two worker processes on
127.0.0.1, started in a folder of their own (no filesystem shared with the run folder)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from banana_grasp.agents.run.compare import compare
from banana_grasp.agents.run.jobs import EvalJob, TrainJob

PRESET = "tiny"
# One cluster for the whole module: xdist's loadgroup keeps these tests on one worker.
pytestmark = pytest.mark.xdist_group("dask-cluster")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """The address of a local scheduler with two single-threaded worker processes, all bound
    to 127.0.0.1 (a scheduler runs whatever code it is sent)."""
    home = tmp_path_factory.mktemp("dask-cluster")
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    dask = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--no-dashboard"], cwd=home, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]  # fmt: skip
    procs += [
        subprocess.Popen(
            [
                *dask,
                "worker",
                address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--no-dashboard",
                "--local-directory",
                str(home / f"worker{i}"),
            ],
            cwd=home,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(2)
    ]
    from distributed import Client

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="2s") as client:
                    if len(client.scheduler_info()["workers"]) == 2:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the local Dask cluster did not start within 60 s")
            time.sleep(0.5)
        yield address
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _mtimes(run: Path) -> dict[str, int]:
    return {str(p.relative_to(run)): p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}


def test_the_tiny_preset_runs_on_the_cluster_as_it_does_locally(scheduler: str, tmp_path: Path) -> None:
    on_cluster = tmp_path / "cluster"
    report = compare(PRESET, on_cluster, progress=False, scheduler=scheduler)
    assert report.is_file()
    local = tmp_path / "local"
    compare(PRESET, local, workers=2, progress=False)
    # Every job ran on the cluster, and gave what it gives here: the same outcomes.
    assert (on_cluster / "results.csv").read_text() == (local / "results.csv").read_text()
    for meta in (local / "learners").rglob("meta.json"):
        assert (on_cluster / meta.relative_to(local)).is_file()
        for name in ("model.zip", "vecnormalize.pkl", "curve.csv"):
            assert (on_cluster / meta.parent.relative_to(local) / name).stat().st_size > 0
    assert not list(on_cluster.rglob("*.tmp"))


def test_a_finished_run_is_not_sent_to_the_cluster_again(scheduler: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    compare(PRESET, run, progress=False, scheduler=scheduler)
    before = {k: v for k, v in _mtimes(run).items() if not k.startswith(("report", "results", "plots"))}
    compare(PRESET, run, progress=False, scheduler=scheduler)
    after = {k: v for k, v in _mtimes(run).items() if k in before}
    assert after == before


def test_an_interrupted_run_resumes_on_the_cluster(scheduler: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    compare(PRESET, run, progress=False, scheduler=scheduler)
    # Lose one learner and one evaluation, as if the client had stopped before they came back.
    learner = run / "learners" / "multi-task" / "seed1"
    outcome = run / "outcomes" / "rl2__seed0.json"
    expected = outcome.read_text()
    for path in learner.rglob("*"):
        if path.is_file():
            path.unlink()
    outcome.unlink()
    kept = run / "outcomes" / "expert__seed0.json"
    kept_mtime = kept.stat().st_mtime_ns
    compare(PRESET, run, progress=False, scheduler=scheduler)
    assert (learner / "meta.json").is_file()
    assert outcome.read_text() == expected
    assert kept.stat().st_mtime_ns == kept_mtime


def test_an_unreachable_scheduler_is_named(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(ValueError, match=rf"cannot reach the Dask scheduler at '{address}'"):
        compare(PRESET, tmp_path / "run", progress=False, scheduler=address)
    assert time.monotonic() - started < 60


def test_workers_of_another_version_are_refused_before_any_job(scheduler: str, tmp_path: Path, monkeypatch) -> None:
    # Here the workers run the installed banana-grasp; make this client expect another version.
    from banana_grasp.agents.run import cluster

    monkeypatch.setattr(cluster, "package_version", lambda: "9.9.9")
    with pytest.raises(
        ValueError, match=r"every Dask worker needs banana-grasp 9\.9\.9; found tcp://127\.0\.0\.1:\d+: "
    ):
        compare(PRESET, tmp_path / "run", progress=False, scheduler=scheduler)
    assert not (tmp_path / "run" / "learners").exists()


def test_the_cli_reports_an_unreachable_scheduler(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "banana_grasp.agents.cli", "compare", "--preset", PRESET, "--quiet",
         "--out", str(tmp_path / "run"), "--scheduler", address],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"cannot reach the Dask scheduler at '{address}'" in result.stderr
    assert "Traceback" not in result.stderr


def test_jobs_pickle_for_the_cluster() -> None:
    import pickle

    from banana_grasp.agents.protocol.presets import preset

    job = TrainJob("multi-task", 0, 512, "/somewhere", 2, "interleaved", {})
    assert pickle.loads(pickle.dumps(job)) == job
    evaluation = EvalJob("rl2", 1, "/run", preset(PRESET).protocol)
    assert pickle.loads(pickle.dumps(evaluation)) == evaluation
