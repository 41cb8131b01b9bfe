"""Running the job grid on a Dask distributed cluster (``compare --scheduler ADDRESS``).

No shared filesystem is assumed. A training job ships the learner's folder as it is on the
client (empty, or a checkpoint to resume from) to a worker, which trains in a temporary
folder of its own and sends every file of the learner back with the SHA-256 of each, as it
computed them; an evaluation job ships the trained learner's files and gets the outcomes
back. The client checks every file that comes back against the worker's SHA-256 and writes
nothing of a job whose files do not match; then it writes them into the run folder, each
file atomically and ``meta.json`` last, so a run stopped at any point resumes as a local one
does. A worker loads what it is sent as data, as the client does (``learners/storage.py``).
Dask retries a job whose worker died; a job that still fails stops the run with the jobs
finished so far saved.

Needs the ``cluster`` extra (``pip install banana-grasp[cluster]``) here and, on every
worker, banana-grasp of the same version.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import tempfile
from importlib import metadata
from pathlib import Path

from tqdm import tqdm

from banana_grasp.agents.common.files import package_version, sha256_bytes, write_json_atomic
from banana_grasp.agents.common.layout import LearnerFiles, RunLayout
from banana_grasp.agents.learners.registry import KINDS
from banana_grasp.agents.learners.training import TrainRun
from banana_grasp.agents.run.jobs import EvalJob, run_eval_job, run_train_job

CONNECT_TIMEOUT = "10s"
RETRIES = 2  # a job whose worker died is run again this many times


def read_folder(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, by path relative to it (empty if there is no folder)."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` under ``folder``, each atomically, ``meta.json`` (completeness) last."""
    for name in sorted(files, key=lambda name: name == LearnerFiles.META):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(files[name])
        os.replace(tmp, path)


def remote_train(job: TrainRun, files: dict[str, bytes]) -> tuple[dict[str, bytes], dict[str, str]]:
    """On a worker: train ``job`` from ``files`` (what the client has of the learner) in a
    temporary folder; returns every file of the learner, and the SHA-256 of each."""
    with tempfile.TemporaryDirectory(prefix="banana-grasp-") as tmp:
        folder = Path(tmp) / "learner"
        write_folder(folder, files)
        run_train_job(dataclasses.replace(job, folder=str(folder)))
        trained = read_folder(folder)
        return trained, {name: sha256_bytes(data) for name, data in trained.items()}


def store_trained(job: TrainRun, returned: tuple[dict[str, bytes], dict[str, str]]) -> None:
    """On the client: write a training job's files into the run folder, once every one of them
    matches the SHA-256 the worker computed (else nothing is written)."""
    files, digests = returned
    if set(files) != set(digests):
        raise ValueError(f"{job.label}: the worker sent files {sorted(files)} but SHA-256 for {sorted(digests)}; "
                         f"nothing of it was written to {job.files.folder}")  # fmt: skip
    for name, data in files.items():
        if sha256_bytes(data) != digests[name]:
            raise ValueError(f"{job.label}: {name} came back from the worker with another SHA-256 than the worker "
                             f"computed (damaged on the way); nothing of it was written to {job.files.folder}")  # fmt: skip
    write_folder(job.files.folder, files)


def remote_eval(job: EvalJob, files: dict[str, bytes]) -> list[dict]:
    """On a worker: evaluate ``job`` on the learner in ``files``; returns the outcomes' rows."""
    with tempfile.TemporaryDirectory(prefix="banana-grasp-") as tmp:
        run = RunLayout(Path(tmp))
        write_folder(run.learner(job.learner, job.seed).folder, files)
        return run_eval_job(dataclasses.replace(job, run=tmp))


def connect(address: str, security=None):
    """A client of the scheduler at ``address`` whose workers run this banana-grasp version.
    ``security``: a ``distributed.Security`` for TLS (default: Dask's configuration)."""
    try:
        from distributed import Client
    except ImportError as error:
        raise ValueError("--scheduler needs Dask distributed: pip install 'banana-grasp[cluster]'") from error
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, security=security)
    except (OSError, TimeoutError, ValueError) as error:
        raise ValueError(f"cannot reach the Dask scheduler at {address!r}: {error}") from None
    workers = client.scheduler_info()["workers"]
    if not workers:
        client.close()
        raise ValueError(f"the Dask scheduler at {address!r} has no workers: start some with `dask worker {address}`")
    mine = package_version()
    found = client.run(metadata.version, "banana-grasp", on_error="return")
    wrong = {worker: version for worker, version in found.items() if version != mine}
    if wrong:
        client.close()
        described = ", ".join(
            f"{worker}: {'not installed' if isinstance(v, Exception) else v}" for worker, v in sorted(wrong.items())
        )
        raise ValueError(f"every Dask worker needs banana-grasp {mine}; found {described}")
    return client


def _collect(client, futures: dict, bar: tqdm, store) -> None:
    from distributed import as_completed

    for future in as_completed(list(futures)):
        job = futures[future]
        try:
            result = future.result()
        except Exception as error:
            client.cancel(list(futures))
            raise RuntimeError(
                f"{job.label} failed on the cluster: {error!r}; finished jobs are saved, run again to resume"
            ) from error
        store(job, result)
        bar.update(1)


def _import_error(module: str) -> str | None:
    """On a worker: why ``module`` cannot be imported there, or None."""
    try:
        importlib.import_module(module)
    except Exception as error:  # noqa: BLE001 (reported to the client, whatever it is)
        return repr(error)
    return None


def check_outside_kinds(client, kinds: set[str]) -> None:
    """Before any job: every worker imports the modules of the learner kinds outside the package."""
    for module in sorted(name for name in kinds if name not in KINDS):
        failed = {w: e for w, e in client.run(_import_error, module).items() if e is not None}
        if failed:
            client.close()
            described = ", ".join(f"{worker}: {error}" for worker, error in sorted(failed.items()))
            raise ValueError(f"module {module!r} (a learner kind or task family of one's own) is not importable on "
                             f"every Dask worker ({described}); install its package on the workers or put it on "
                             "their PYTHONPATH")  # fmt: skip


def run_grid_on_cluster(
    train: list[TrainRun], evaluate: list[EvalJob], address: str, progress: bool = True, security=None
) -> None:
    """Run the training jobs, then the evaluation jobs, on the Dask cluster at ``address``;
    jobs already done are skipped."""
    client = connect(address, security)
    try:
        kinds = {job.learner.kind for job in train} | {job.spec.kind for job in evaluate if job.spec is not None}
        check_outside_kinds(client, kinds | {module for job in (*train, *evaluate) for module in job.imports})
        pending_train = [j for j in train if not j.is_done()]
        pending_eval = [j for j in evaluate if not j.is_done()]
        if progress:
            tqdm.write(f"{len(pending_train)} training and {len(pending_eval)} evaluation jobs to run on {address} "
                       f"({len(client.scheduler_info()['workers'])} workers)")  # fmt: skip
        bar = tqdm(total=len(train), initial=len(train) - len(pending_train), unit="job", desc="training",
                   disable=not progress)  # fmt: skip
        futures = {
            client.submit(remote_train, job, read_folder(job.files.folder), pure=False, retries=RETRIES): job
            for job in pending_train
        }
        _collect(client, futures, bar, store_trained)
        bar.close()

        def learner_files(job: EvalJob) -> dict[str, bytes]:
            folder = RunLayout(Path(job.run)).learner(job.learner, job.seed).folder
            return {n: b for n, b in read_folder(folder).items() if not n.startswith(("tb/", "checkpoint/"))}

        bar = tqdm(total=len(evaluate), initial=len(evaluate) - len(pending_eval), unit="job", desc="evaluating",
                   disable=not progress)  # fmt: skip
        futures = {
            client.submit(remote_eval, job, learner_files(job), pure=False, retries=RETRIES): job
            for job in pending_eval
        }
        _collect(client, futures, bar, lambda job, rows: write_json_atomic(job.path, {"job": dataclasses.asdict(job),
                                                                                      "outcomes": rows}))  # fmt: skip
        bar.close()
    finally:
        client.close()
