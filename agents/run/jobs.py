"""The jobs of a comparison, as data (a training is a ``training.TrainRun``; an evaluation an
:class:`EvalJob`): each can run in any process, and leaves files behind
(a learner's ``meta.json``, an evaluation's ``outcomes/*.json``, a video), so a run started
again skips what is done."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from banana_grasp.agents.common.files import read_json, write_json_atomic
from banana_grasp.agents.common.layout import RunLayout
from banana_grasp.agents.families import import_modules, outside_modules
from banana_grasp.agents.learners.checkpoints import check_reusable, training_config
from banana_grasp.agents.learners.registry import LearnerSpec, learner
from banana_grasp.agents.learners.training import TrainRun, train
from banana_grasp.agents.protocol.evaluation import evaluate_one
from banana_grasp.agents.protocol.presets import EvalProtocol, Preset


@dataclass(frozen=True)
class EvalJob:
    learner: str
    seed: int
    run: str
    protocol: EvalProtocol
    spec: LearnerSpec | None = None  # the learner, as data (one of a learners file is unknown to the registry)
    imports: tuple[str, ...] = ()  # modules that register the run's task families of one's own

    @property
    def path(self) -> Path:
        return RunLayout(Path(self.run)).outcomes(self.learner, self.seed)

    @property
    def label(self) -> str:
        return f"evaluate {self.learner} seed {self.seed}"

    def is_done(self) -> bool:
        return self.path.is_file()


def job_spec(job: EvalJob) -> LearnerSpec:
    """The evaluation's learner: the spec it carries, else the registry's learner of that name."""
    return job.spec if job.spec is not None else learner(job.learner)


def family_imports(preset: Preset) -> tuple[str, ...]:
    """The modules a worker imports before a job of ``preset``: those its file names
    (``families``), and those that registered the families of its learners and protocol."""
    used = [preset.protocol.variation, *(spec.variation for spec in preset.specs())]
    return tuple(dict.fromkeys((*preset.families, *outside_modules(used))))


def train_jobs(preset: Preset, run: RunLayout) -> list[TrainRun]:
    protocol, jobs, imports = preset.protocol, [], family_imports(preset)
    for spec in preset.specs():
        if not spec.trained:
            continue
        overrides = preset.algo_overrides.get(spec.kind, {})
        for seed in preset.seeds:
            folder = str(run.learner(spec.name, seed).folder)
            jobs.append(TrainRun(spec, seed, preset.steps_for(spec), folder, protocol.trial_episodes,
                                 protocol.position_layout, overrides, preset.stop_at_success, protocol.own_k,
                                 preset.checkpoint_every, imports))  # fmt: skip
    return jobs


def eval_jobs(preset: Preset, run: RunLayout) -> list[EvalJob]:
    return [
        EvalJob(spec.name, seed, str(run.root), preset.protocol, spec, family_imports(preset))
        for spec in preset.specs()
        for seed in preset.seeds
    ]


def check_saved_learners(jobs: list[TrainRun]) -> None:
    """Before any training: every learner already saved in the run folder must have been
    trained with today's hyperparameters (else it would be reused as if it had)."""
    for job in jobs:
        check_reusable(job.files, job.learner, training_config(job.learner, job.algo_overrides, job.trial_episodes))


def run_train_job(job: TrainRun, progress_queue: Any = None) -> dict:
    import_modules(job.imports)
    if progress_queue is not None:
        job = replace(job, on_rollout=lambda steps: progress_queue.put((job.label, steps)))
    return train(job)


def run_eval_job(job: EvalJob) -> list[dict]:
    """Evaluate one (learner, seed) under the job's protocol and save its outcomes."""
    import_modules(job.imports)
    if job.is_done():
        return read_json(job.path)["outcomes"]
    spec = job_spec(job)
    files = RunLayout(Path(job.run)).learner(spec.name, job.seed) if spec.trained else None
    rows = [o.as_row() for o in evaluate_one(spec, files, job.protocol, job.seed)]
    write_json_atomic(job.path, {"job": asdict(job), "outcomes": rows})
    return rows
