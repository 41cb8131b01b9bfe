"""The main job: train every learner of a preset, evaluate, and write the run folder.

The work is a grid of independent jobs described by data (:class:`TrainJob`,
:class:`EvalJob`): a local process pool runs them here, and a cluster engine could run
the same grid. Finished jobs leave files behind (a learner's ``meta.json``, an
evaluation's ``outcomes/*.json``), so a run started again skips them and loses nothing.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, as_completed, wait
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from tqdm import tqdm

from banana_grasp.agents import storage
from banana_grasp.agents.evaluation import Outcome
from banana_grasp.agents.protocol import evaluate_one, learner_folder
from banana_grasp.agents.specs import Preset, learner, preset

RUN_FILE = "run.json"


@dataclass(frozen=True)
class TrainJob:
    learner: str
    seed: int
    steps: int
    folder: str
    trial_episodes: int
    position_layout: str
    algo_overrides: dict

    @property
    def label(self) -> str:
        return f"train {self.learner} seed {self.seed}"


@dataclass(frozen=True)
class EvalJob:
    learner: str
    seed: int
    run: str
    k: int
    episodes: int
    n_tasks: int
    n_train_tasks: int
    task_seed: int
    position_layout: str

    @property
    def path(self) -> Path:
        return Path(self.run) / "outcomes" / f"{self.learner}__seed{self.seed}.json"

    @property
    def label(self) -> str:
        return f"evaluate {self.learner} seed {self.seed}"


def package_version() -> str:
    return metadata.version("banana-grasp")


def prepare_run(run: Path, chosen: Preset) -> None:
    """Check the run folder before any training: writable, and not another preset's or version's."""
    try:
        run.mkdir(parents=True, exist_ok=True)
        probe = run / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"cannot write to the output folder {run}: {error.strerror or error}") from error
    record = {"preset": chosen.name, "package_version": package_version(), "config": asdict(chosen)}
    path = run / RUN_FILE
    if path.exists():
        existing = storage.read_json(path)
        if existing.get("preset") != chosen.name:
            raise ValueError(
                f"{run} holds a run of preset {existing.get('preset')!r}, not {chosen.name!r}: "
                "choose another --out folder or the matching preset"
            )
        if existing.get("package_version") != record["package_version"]:
            raise ValueError(
                f"{run} was made by banana-grasp {existing.get('package_version')}, this is "
                f"{record['package_version']}: results would mix versions; choose another --out folder"
            )
        # Compare as JSON: run.json holds lists where the preset holds tuples.
        if existing.get("config") != json.loads(json.dumps(record["config"])):
            raise ValueError(
                f"{run} was made with a different {chosen.name!r} preset file; choose another --out folder"
            )
    else:
        storage.write_json_atomic(path, record)


def train_jobs(chosen: Preset, run: Path) -> list[TrainJob]:
    jobs = []
    for name in chosen.learners:
        spec = learner(name)
        if not spec.trained:
            continue
        for seed in chosen.seeds:
            jobs.append(TrainJob(name, seed, chosen.steps_for(spec), str(learner_folder(run, name, seed)),
                                 chosen.k_episodes + 1, chosen.position_layout,
                                 chosen.algo_overrides.get(spec.kind, {})))  # fmt: skip
    return jobs


def check_saved_learners(jobs: list[TrainJob]) -> None:
    """Before any training: every learner already saved in the run folder must have been
    trained with today's hyperparameters (else it would be reused as if it had)."""
    from banana_grasp.agents.training import check_reusable, training_config

    for job in jobs:
        spec = learner(job.learner)
        check_reusable(Path(job.folder), spec, training_config(spec, job.algo_overrides))


def eval_jobs(chosen: Preset, run: Path) -> list[EvalJob]:
    budgets = (chosen.k_episodes, chosen.eval_episodes, chosen.heldout_tasks, chosen.train_eval_episodes)
    return [
        EvalJob(name, seed, str(run), *budgets, chosen.task_seed, chosen.position_layout)
        for name in chosen.learners
        for seed in chosen.seeds
    ]


def run_train_job(job: TrainJob, progress_queue=None) -> dict:
    from banana_grasp.agents.training import train

    report = None
    if progress_queue is not None:
        report = lambda steps: progress_queue.put((job.label, steps))
    return train(learner(job.learner), job.seed, job.steps, Path(job.folder), trial_episodes=job.trial_episodes,
                 position_layout=job.position_layout, on_rollout=report, algo_overrides=job.algo_overrides)  # fmt: skip


def run_eval_job(job: EvalJob, progress_queue=None) -> list[dict]:
    if job.path.is_file():
        return storage.read_json(job.path)["outcomes"]
    outcomes = evaluate_one(learner(job.learner), Path(job.run), job.seed, job.k, job.episodes, job.n_tasks,
                            job.n_train_tasks, job.task_seed, position_layout=job.position_layout)  # fmt: skip
    rows = [o.as_row() for o in outcomes]
    storage.write_json_atomic(job.path, {"job": asdict(job), "outcomes": rows})
    return rows


def _done_steps(job: TrainJob) -> int:
    folder = Path(job.folder)
    if storage.trained_steps(folder) >= job.steps:
        return job.steps
    state = folder / "checkpoint" / "state.json"
    return min(storage.read_json(state)["steps"], job.steps) if state.is_file() else 0


def _result(future, job: TrainJob | EvalJob, pool: ProcessPoolExecutor):
    """A job's result; if it failed, let running jobs finish (and save), drop queued ones, raise."""
    try:
        return future.result()
    except Exception as error:
        pool.shutdown(wait=True, cancel_futures=True)
        raise RuntimeError(f"{job.label} failed: {error!r}; finished jobs are saved, run again to resume") from error


def run_grid(train: list[TrainJob], evaluate: list[EvalJob], workers: int, progress: bool = True) -> list[Outcome]:
    """Run the training jobs then the evaluation jobs on ``workers`` processes, with one progress bar."""
    pending_train = [j for j in train if storage.trained_steps(Path(j.folder)) < j.steps]
    pending_eval = [j for j in evaluate if not j.path.is_file()]
    done = {j.label: _done_steps(j) for j in train}
    jobs_steps = {j.label: j.steps for j in train}
    total = sum(j.steps for j in train)
    bar = tqdm(total=total, initial=sum(done.values()), unit="step", desc="training", disable=not progress,
               dynamic_ncols=True, smoothing=0.05)  # fmt: skip
    if progress:
        skipped = len(train) - len(pending_train)
        tqdm.write(f"{len(train)} training jobs ({skipped} already done), {len(evaluate)} evaluation jobs "
                   f"({len(evaluate) - len(pending_eval)} already done), {workers} workers")  # fmt: skip
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(workers, mp_context=context) as pool:
        queue = manager.Queue()
        futures = {pool.submit(run_train_job, job, queue): job for job in pending_train}
        running: set[str] = set()
        finished_count = len(train) - len(pending_train)
        while futures:
            finished, _ = wait(futures, timeout=1.0, return_when=FIRST_COMPLETED)
            while not queue.empty():
                label, steps = queue.get()
                steps = min(steps, jobs_steps[label])  # the last rollout may overshoot the budget
                bar.update(max(0, steps - done[label]))
                done[label] = max(done[label], steps)
                running.add(label)
            for future in finished:
                job = futures.pop(future)
                _result(future, job, pool)
                bar.update(job.steps - done[job.label])
                done[job.label] = job.steps
                running.discard(job.label)
                finished_count += 1
            bar.set_postfix_str(f"{finished_count}/{len(train)} done; running: {', '.join(sorted(running))}")
        bar.close()
        eval_bar = tqdm(total=len(evaluate), initial=len(evaluate) - len(pending_eval), unit="job",
                        desc="evaluating", disable=not progress, dynamic_ncols=True)  # fmt: skip
        futures = {pool.submit(run_eval_job, job): job for job in pending_eval}
        for future in as_completed(futures):
            _result(future, futures[future], pool)
            eval_bar.update(1)
        eval_bar.close()
    return [Outcome(**row) for job in evaluate for row in storage.read_json(job.path)["outcomes"]]


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def compare(preset_name: str, out: Path, workers: int | None = None, progress: bool = True) -> Path:
    """Run the whole comparison of ``preset_name`` into ``out``; returns the report's path."""
    from banana_grasp.agents.report import write_report

    started = time.perf_counter()
    chosen = preset(preset_name)
    out = Path(out)
    prepare_run(out, chosen)
    trains = train_jobs(chosen, out)
    check_saved_learners(trains)
    outcomes = run_grid(trains, eval_jobs(chosen, out), workers or default_workers(), progress)
    return write_report(out, chosen, outcomes, started, progress=progress)
