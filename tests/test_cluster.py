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

from banana_grasp.agents.common import faults
from banana_grasp.agents.common.layout import RunLayout
from banana_grasp.agents.learners import registry
from banana_grasp.agents.learners.training import TrainRun
from banana_grasp.agents.protocol.presets import preset
from banana_grasp.agents.run.compare import compare
from banana_grasp.agents.run.jobs import EvalJob, eval_jobs, train_jobs

from timeouts import scaled

PRESET = "tiny"
# One cluster for the whole module: xdist's loadgroup keeps these tests on one worker.
pytestmark = pytest.mark.xdist_group("dask-cluster")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_cluster(home: Path, workers: int = 2, **environ: str) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and ``workers`` single-threaded worker processes on 127.0.0.1, started in
    ``home`` with ``environ`` added to their environment; returns its address once every worker
    has joined, and the processes."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), **environ}
    dask = [sys.executable, "-m", "dask"]
    quiet = {"cwd": home, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--no-dashboard"], **quiet)]  # fmt: skip
    worker = [*dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard"]
    procs += [
        subprocess.Popen([*worker, "--local-directory", str(home / f"worker{i}")], **quiet) for i in range(workers)
    ]
    from distributed import Client

    deadline = time.monotonic() + scaled(60)
    while True:
        try:
            with Client(address, timeout="2s") as client:
                if len(client.scheduler_info()["workers"]) == workers:
                    return address, procs
        except OSError:
            pass
        if time.monotonic() > deadline:
            _stop(procs)
            pytest.fail(f"the local Dask cluster did not start within {scaled(60):.0f} s")
        time.sleep(0.5)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=scaled(20))
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """The address of a local scheduler with two single-threaded worker processes, all bound
    to 127.0.0.1 (a scheduler runs whatever code it is sent)."""
    address, procs = _start_cluster(tmp_path_factory.mktemp("dask-cluster"))
    try:
        yield address
    finally:
        _stop(procs)


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
        for name in ("model.zip", "normalize.json", "curve.csv"):
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


def test_a_job_whose_worker_dies_is_run_again(tmp_path_factory, tmp_path: Path) -> None:
    """A worker killed (SIGKILL) in the middle of a training job, just after its first checkpoint:
    the job runs again on a worker that is alive, and the run finishes with every job's files."""
    marker = tmp_path / "killed"
    fault = {faults.VARIABLE: f"checkpoint:multi-task={marker}"}  # the first worker there dies
    address, procs = _start_cluster(tmp_path_factory.mktemp("dask-dying"), **fault)
    try:
        run = tmp_path / "run"
        report = compare(PRESET, run, progress=False, scheduler=address)
    finally:
        _stop(procs)
    assert marker.is_file(), "no worker was killed in a training job"
    assert report.is_file()
    chosen, layout = preset(PRESET), RunLayout(run)
    assert all(job.is_done() for job in train_jobs(chosen, layout))
    assert all(job.is_done() for job in eval_jobs(chosen, layout))


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
        capture_output=True, text=True, timeout=scaled(120), check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"cannot reach the Dask scheduler at '{address}'" in result.stderr
    assert "Traceback" not in result.stderr


def test_jobs_pickle_for_the_cluster() -> None:
    import pickle

    job = TrainRun(registry.learner("multi-task"), 0, 512, "/somewhere", 2, "interleaved", {})
    assert pickle.loads(pickle.dumps(job)) == job
    evaluation = EvalJob("rl2", 1, "/run", preset(PRESET).protocol)
    assert pickle.loads(pickle.dumps(evaluation)) == evaluation


def test_the_documented_slurm_workers_are_one_thread_each() -> None:
    """docs/cluster.md's dask-jobqueue settings (SLURMCluster) are valid for the installed
    dask-jobqueue and make each batch job one single-threaded worker of the scheduler."""
    pytest.importorskip("dask_jobqueue")
    from dask_jobqueue import SLURMCluster

    readme = (Path(__file__).resolve().parent.parent / "docs" / "cluster.md").read_text()
    settings = 'cores=1, processes=1, memory="4GB", walltime="04:00:00", worker_extra_args=["--nthreads", "1"]'
    assert f"SLURMCluster(\n        {settings}\n    )" in readme
    cluster = SLURMCluster(
        cores=1, processes=1, memory="4GB", walltime="04:00:00", worker_extra_args=["--nthreads", "1"],
        scheduler_options={"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
    )  # fmt: skip
    try:
        script = cluster.job_script()
        worker = next(line for line in script.splitlines() if "dask_worker" in line)
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:") and cluster.scheduler_address in worker
        assert worker.count("--nthreads 1") >= 1 and "--nthreads 2" not in worker
        assert "#SBATCH --cpus-per-task=1" in script and "#SBATCH -t 04:00:00" in script
    finally:
        cluster.close()


def test_a_learner_kind_the_workers_cannot_import_is_named_before_any_job(
    scheduler: str, tmp_path: Path, monkeypatch
) -> None:
    # A kind of one's own, importable here (its folder on this process's path) but not on the workers.
    (tmp_path / "kinds").mkdir()
    (tmp_path / "kinds" / "only_here_kind.py").write_text(
        "from banana_grasp.agents.learners.algorithms.random_policy import load_agent  # noqa: F401\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "kinds"))
    learners = tmp_path / "learners.yaml"
    learners.write_text("only-here:\n  kind: only_here_kind\n  variation: both\n  role: reference\n")
    with pytest.raises(
        ValueError,
        match=r"module 'only_here_kind' \(a learner kind or task family of one's own\) is not importable on every Dask worker",
    ):
        compare(PRESET, tmp_path / "run", progress=False, scheduler=scheduler, learners_file=learners)
    assert not (tmp_path / "run" / "learners").exists()
