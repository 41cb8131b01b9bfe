"""Resume is exact: a training interrupted and resumed from its checkpoint ends with the weights,
optimiser state and normalisation statistics of one never interrupted, bit for bit, for every
trained kind (PPO, RL^2, first-order MAML, the DAgger student and its teacher).

Each case trains a learner twice at a tiny budget: once straight through, once stopped by an
exception (from the progress callback, or just after a checkpoint is written) and run again
into the same folder. Nothing learns at these budgets; what is compared is every number a
saved learner holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from banana_grasp.agents.common import faults
from banana_grasp.agents.common.curves import read_curve
from banana_grasp.agents.common.files import read_json, write_json_atomic
from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.learners import registry, stopping, storage
from banana_grasp.agents.learners.algorithms import dagger
from banana_grasp.agents.learners.envs import EnvSpec
from banana_grasp.agents.learners.registry import LearnerSpec
from banana_grasp.agents.learners.training import TrainRun, train

PPO_TINY = {"n_steps": 32, "batch_size": 64, "n_epochs": 1}  # 8 envs: 256 steps per rollout
RL2_TINY = {"minibatch_trials": 4, "n_epochs": 1}  # a rollout: 8 trials of 2 x 100 steps, 1,600 steps
# learner -> (budget, overrides, checkpoint_every, rollouts before the interruption).
CASES = {
    # Rollouts of 256 steps; checkpoints at 512 and 1,024; stopped after the 4th rollout (1,024),
    # before its checkpoint: the resumed run plays the 3rd and 4th rollouts again.
    "position-specialist": (1536, PPO_TINY, 512, 4),
    # Rollouts of 1,600 steps (one trial per env); a checkpoint at 1,600; stopped after the 2nd
    # and last rollout: the resumed run plays it again.
    "rl2": (3200, RL2_TINY, 1600, 2),
    # Meta-iterations of 1,600 steps; a checkpoint after the 1st; stopped after the 2nd and last.
    "fomaml": (3200, PPO_TINY, 1600, 2),
}


class Interrupt(Exception):
    """Raised to stop a training as a killed run would stop."""


def saved_state(folder: Path, spec: LearnerSpec) -> dict[str, np.ndarray]:
    """Every number a saved learner holds, flat: weights, optimiser state, normalisation."""
    model, normalize = storage.load_model(LearnerFiles(folder), spec)
    state = {f"policy.{k}": v.numpy() for k, v in model.policy.state_dict().items()}
    optimiser = model.policy.optimizer.state_dict()
    for index, entries in optimiser["state"].items():
        state |= {f"optimiser.{index}.{k}": torch.as_tensor(v).numpy() for k, v in entries.items()}
    for g, group in enumerate(optimiser["param_groups"]):
        state |= {f"optimiser.group{g}.{k}": np.asarray(v) for k, v in group.items()}
    for key, rms in {**normalize.obs_rms, "return": normalize.ret_rms}.items():
        state |= {f"normalize.{key}.{part}": np.asarray(getattr(rms, part)) for part in ("mean", "var", "count")}
    return state


def assert_same_learner(resumed: Path, straight: Path, spec: LearnerSpec) -> None:
    a, b = saved_state(resumed, spec), saved_state(straight, spec)
    assert a.keys() == b.keys()
    differ = [key for key in a if not np.array_equal(a[key], b[key])]
    assert not differ, f"the resumed learner differs from the uninterrupted one in {differ}"
    curve = lambda folder: [(r["steps"], r["success_rate"], r["episodes"]) for r in read_curve(folder / "curve.csv")]
    np.testing.assert_array_equal(curve(resumed), curve(straight))
    meta_a, meta_b = read_json(resumed / "meta.json"), read_json(straight / "meta.json")
    assert meta_a["steps"] == meta_b["steps"]
    assert meta_a.get("success_checks") == meta_b.get("success_checks")


def _interrupt_after(rollouts: int):
    seen: list[int] = []

    def on_rollout(steps: int) -> None:
        seen.append(steps)
        if len(seen) == rollouts:
            raise Interrupt

    return on_rollout


@pytest.mark.parametrize("name", list(CASES))
def test_an_interrupted_training_resumes_bit_for_bit(tmp_path: Path, name: str) -> None:
    budget, overrides, every, rollouts = CASES[name]
    spec = registry.learner(name)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(TrainRun(spec, 0, budget, str(straight), algo_overrides=overrides, checkpoint_every=every))

    stopped = TrainRun(spec, 0, budget, str(resumed), algo_overrides=overrides, checkpoint_every=every,
                       on_rollout=_interrupt_after(rollouts))  # fmt: skip
    with pytest.raises(Interrupt):
        train(stopped)
    state = read_json(LearnerFiles(resumed).checkpoint.state)
    assert 0 < state["steps"] < budget and not (resumed / "meta.json").exists()
    # A checkpoint is not the finished learner: the weights differ from the end's.
    checkpoint = saved_state(resumed / "checkpoint", spec)
    final_key = next(k for k in checkpoint if k.startswith("policy."))
    train(TrainRun(spec, 0, budget, str(resumed), algo_overrides=overrides, checkpoint_every=every))
    assert_same_learner(resumed, straight, spec)
    assert not np.array_equal(checkpoint[final_key], saved_state(straight, spec)[final_key])


def test_the_comparison_can_fail(tmp_path: Path) -> None:
    """Two trainings of other seeds differ where the comparison looks (else it proves nothing)."""
    spec = registry.learner("position-specialist")
    for seed in (0, 1):
        train(TrainRun(spec, seed, 256, str(tmp_path / str(seed)), algo_overrides=PPO_TINY))
    with pytest.raises(AssertionError, match="differs from the uninterrupted one"):
        assert_same_learner(tmp_path / "0", tmp_path / "1", spec)


DAGGER = "pixel-position-specialist"
TEACHER = dagger.teacher_spec(registry.learner(DAGGER))
# 2 rounds of 8 episodes; the teacher: 1,024 steps in rollouts of 256, checkpoints at 512 and 768.
DAGGER_OVERRIDES = {"episodes_per_round": 8, "epochs": 1,
                    "teacher": {"steps": 1024, "algo_overrides": {"n_steps": 32, "batch_size": 128, "n_epochs": 2}}}  # fmt: skip


def _dagger(folder: Path, **settings) -> dict:
    return train(TrainRun(registry.learner(DAGGER), 0, 1600, str(folder), algo_overrides=DAGGER_OVERRIDES,
                          checkpoint_every=512, **settings))  # fmt: skip


@pytest.fixture(scope="module")
def dagger_straight(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dagger") / "straight"
    _dagger(folder)
    return folder


def test_dagger_resumes_bit_for_bit_when_stopped_in_its_teachers_training(
    dagger_straight: Path, tmp_path: Path, monkeypatch
) -> None:
    def die(point: str) -> None:  # where BANANA_GRASP_TEST_KILL would kill the process
        if point == f"checkpoint:{DAGGER}-teacher":
            raise Interrupt

    with monkeypatch.context() as patch:
        patch.setattr(faults, "reached", die)
        with pytest.raises(Interrupt):
            _dagger(tmp_path / "resumed")
    teacher = LearnerFiles(tmp_path / "resumed" / "teacher")
    assert read_json(teacher.checkpoint.state)["steps"] == 512 and not teacher.meta.exists()
    _dagger(tmp_path / "resumed")
    assert_same_learner(tmp_path / "resumed" / "teacher", dagger_straight / "teacher", TEACHER)
    assert_same_learner(tmp_path / "resumed", dagger_straight, registry.learner(DAGGER))


def test_dagger_resumes_bit_for_bit_when_stopped_in_its_students_rounds(dagger_straight: Path, tmp_path: Path) -> None:
    with pytest.raises(Interrupt):
        _dagger(tmp_path / "resumed", on_rollout=_interrupt_after(1))
    assert (tmp_path / "resumed" / "teacher" / "meta.json").is_file()
    assert not (tmp_path / "resumed" / "meta.json").exists()
    _dagger(tmp_path / "resumed")
    assert_same_learner(tmp_path / "resumed" / "teacher", dagger_straight / "teacher", TEACHER)
    assert_same_learner(tmp_path / "resumed", dagger_straight, registry.learner(DAGGER))


def test_a_resumed_success_check_keeps_its_record_and_schedule(tmp_path: Path, monkeypatch) -> None:
    """The checks made before a checkpoint come back with it: the next is due where it was."""
    files = LearnerFiles(tmp_path)
    spec = registry.learner("position-specialist")
    tasks = EnvSpec("position", "train", "interleaved")
    monkeypatch.setattr(stopping, "PRECONDITION", 0.0)
    for steps in (256, 512, 768):
        with files.curve.open("a") as curve:
            curve.write(("steps,success_rate,episodes,wall_seconds\n" if steps == 256 else "") + f"{steps},1.0,8,1\n")
    fresh = stopping.SuccessCheck(spec, tasks, 0, 0.9, files)
    assert fresh.checks == [] and fresh._ready(768)
    write_json_atomic(files.checkpoint.state, {"steps": 768, "success_checks": [[512, 0.25], [700, 0.5]]})
    resumed = stopping.SuccessCheck(spec, tasks, 0, 0.9, files)
    assert resumed.checks == [[512, 0.25], [700, 0.5]]
    assert not resumed._ready(700 + stopping.CHECK_EVERY - 1)
    assert resumed._ready(700 + stopping.CHECK_EVERY)
