"""The pixel learners: what the actor may see, the augmentation and the asymmetric policy
(agents/learners/policies/pixels.py); the DAgger kind (agents/learners/algorithms/dagger.py), its settings and a
`pixels-tiny` run (every file of a run; nothing learns)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces

from banana_grasp.agents.common.layout import LearnerFiles, RunLayout
from banana_grasp.agents.learners import storage
from banana_grasp.agents.learners.algorithms import dagger, dagger_rl2
from banana_grasp.agents.learners.envs import EnvSpec, env_factory, normalized_keys
from banana_grasp.agents.learners.policies import pixels
from banana_grasp.agents.learners.registry import LearnerSpec, learner
from banana_grasp.agents.learners.training import device_for
from banana_grasp.agents.protocol.presets import preset
from banana_grasp.agents.run.compare import compare

pytestmark = pytest.mark.xdist_group("pixels-tiny-run")

ENV_ID = "BananaGrasp/Lift-Position-v3"


def test_pixel_env_shows_images_and_proprioception_and_the_state_apart() -> None:
    env = pixels.pixel_env(ENV_ID, greyscale=False, privileged=True)
    obs, _ = env.reset(seed=0)
    assert obs["pixels"].shape == (64, 64, 3) and obs["pixels"].dtype == np.uint8
    assert set(pixels.PROPRIO_KEYS) < set(obs)
    state = env.unwrapped.state_observation()
    assert {k for k in obs if k.startswith(pixels.STATE_PREFIX)} == {pixels.STATE_PREFIX + k for k in state}
    assert np.array_equal(obs["state_gripper_pos"], obs["gripper_pos"])
    assert env.observation_space.contains(obs)
    grey = pixels.pixel_env(ENV_ID, greyscale=True, privileged=False)
    obs, _ = grey.reset(seed=0)
    assert obs["pixels"].shape == (64, 64, 1) and not any(k.startswith(pixels.STATE_PREFIX) for k in obs)


def test_random_shift_moves_each_image_by_at_most_the_pad() -> None:
    torch.manual_seed(0)
    images = torch.rand(16, 3, 64, 64)
    shifted = pixels.random_shift(images, pad=4)
    assert shifted.shape == images.shape
    moved = 0
    for original, out in zip(images, shifted, strict=True):
        # The centre of a shifted image is the original, offset by (dy, dx) in [-4, 4].
        matches = [
            (dy, dx)
            for dy in range(-4, 5)
            for dx in range(-4, 5)
            if torch.equal(out[:, 8:56, 8:56], original[:, 8 + dy : 56 + dy, 8 + dx : 56 + dx])
        ]
        assert len(matches) == 1
        moved += matches[0] != (0, 0)
    assert moved >= 10  # 81 offsets: almost every image moves


def _space(channels: int = 3) -> spaces.Dict:
    env = pixels.pixel_env(ENV_ID, greyscale=channels == 1, privileged=True)
    space = dict(env.observation_space.spaces)
    space["pixels"] = spaces.Box(0, 255, (channels, 64, 64), np.uint8)
    return spaces.Dict(space)


def _batch(space: spaces.Dict, n: int = 4) -> dict[str, torch.Tensor]:
    space.seed(0)
    samples = [space.sample() for _ in range(n)]
    batch = {k: torch.as_tensor(np.stack([s[k] for s in samples]), dtype=torch.float32) for k in space.spaces}
    batch["pixels"] /= 255.0
    return batch


def test_the_pixel_actor_reads_no_state_key() -> None:
    space = _space()
    actor = pixels.PixelActor(space, 32).eval()
    batch = _batch(space)
    before = actor(batch)
    for key in batch:
        if key.startswith(pixels.STATE_PREFIX):
            batch[key] = torch.randn_like(batch[key]) * 100
    assert torch.equal(actor(batch), before)
    batch["pixels"] = torch.rand_like(batch["pixels"])
    assert not torch.equal(actor(batch), before)


def test_the_asymmetric_policy_acts_from_pixels_and_values_from_the_state() -> None:
    space = _space()
    policy = pixels.AsymmetricPolicy(space, spaces.Box(-1, 1, (5,), np.float32), lambda _: 3e-4)
    policy.eval()
    batch = _batch(space)
    actions, values = policy.get_distribution(batch).mode(), policy.predict_values(batch)
    noisy_state = {k: (torch.randn_like(v) * 10 if k.startswith(pixels.STATE_PREFIX) else v) for k, v in batch.items()}
    assert torch.equal(policy.get_distribution(noisy_state).mode(), actions)
    assert not torch.equal(policy.predict_values(noisy_state), values)
    assert isinstance(policy.vf_features_extractor, pixels.StateCritic)
    # The optimiser trains the critic's extractor as it is now, not the copy SB3 built.
    optimised = {id(p) for group in policy.optimizer.param_groups for p in group["params"]}
    assert all(id(p) in optimised for p in policy.vf_features_extractor.parameters())
    assert optimised == {id(p) for p in policy.parameters()}


@pytest.mark.parametrize("pad", [0, 2])
def test_random_shift_with_pad_zero_is_the_identity_and_keeps_the_dtype(pad: int) -> None:
    images = torch.rand(2, 1, 8, 8)
    out = pixels.random_shift(images, pad=pad)
    assert out.dtype == images.dtype
    if pad == 0:
        assert torch.equal(out, images)


# ================================================================ the DAgger kind
def test_a_pixel_kind_needs_pixel_observations_and_names_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="kind 'dagger' learns from pixels; set observation: pixels"):
        LearnerSpec(name="x", kind="dagger", variation="position", role="single-task", hyperparameters="dagger")
    with pytest.raises(ValueError, match=r"unknown observation 'rgb'; allowed: state, pixels"):
        LearnerSpec(
            name="x", kind="ppo", variation="position", role="single-task", hyperparameters="ppo", observation="rgb"
        )


def test_the_teacher_is_a_state_learner_of_the_same_variation() -> None:
    for name in ("pixel-position-specialist", "pixel-position-specialist-grey", "pixel-multi-task"):
        spec = learner(name)
        teacher = dagger.teacher_spec(spec)
        assert (teacher.kind, teacher.variation, teacher.observation, teacher.greyscale) == (
            "ppo",
            spec.variation,
            "state",
            False,
        )


def test_dagger_settings_take_a_presets_overrides_and_name_unknown_ones() -> None:
    spec = learner("pixel-position-specialist")
    chosen, teacher = dagger.settings_of(spec, {"epochs": 1, "teacher": {"steps": 512}})
    assert chosen["epochs"] == 1 and chosen["noise"] == 0.3 and teacher["steps"] == 512
    assert teacher["stop_at_success"] == 0.95
    with pytest.raises(ValueError, match=r"unknown dagger settings \['epoch'\]; allowed: episodes_per_round"):
        dagger.settings_of(spec, {"epoch": 1})


def test_pixel_envs_normalise_neither_images_nor_raw_keys() -> None:
    space = _space()
    keys = normalized_keys(space)
    assert "pixels" not in keys and "gripper_pos" in keys and "state_banana_pos" in keys
    assert not {"state_banana_color", "state_banana_quat", "state_finger_contact", "finger_contact"} & set(keys)


def test_a_pixel_learners_env_shows_pixels_and_keeps_the_state_for_the_critic() -> None:
    spec = learner("pixel-position-specialist-grey")
    env = env_factory(spec, EnvSpec("both", "heldout", "interleaved"))()
    obs, _ = env.reset(seed=0)
    assert obs["pixels"].shape == (64, 64, 1) and "state_banana_color" in obs and "banana_color" not in obs


def _lstm_policy(space: spaces.Dict) -> pixels.PixelLSTMPolicy:
    return pixels.PixelLSTMPolicy(space, spaces.Box(-1, 1, (5,), np.float32), lambda _: 3e-4, hidden_size=8,
                                  net_arch=(16,), features_dim=16)  # fmt: skip


def _trials(space: spaces.Dict, steps: int, n: int) -> tuple:
    """One pass of ``n`` trials of ``steps`` steps, as ``dagger_rl2`` collects them."""
    space.seed(n)
    samples = [[space.sample() for _ in range(n)] for _ in range(steps)]
    obs = {k: np.stack([np.stack([s[k] for s in row]) for row in samples]) for k in space.spaces}
    return obs, np.zeros((steps, n, 5), np.float32), np.zeros((steps, n), np.float32)


def test_the_pixel_rl2_students_value_loss_trains_the_critic_alone() -> None:
    space = _space()
    policy = _lstm_policy(space)
    x = policy.flatten({k: torch.as_tensor(v) for k, v in _trials(space, 3, 2)[0].items()})
    for shapes_memory in (True, False):
        policy.zero_grad(set_to_none=True)
        _, value, _ = policy.forward_trials(x, critic_shapes_memory=shapes_memory)
        value.sum().backward()
        assert policy.critic[0].weight.grad is not None
        reached = [p.grad is not None for p in (*policy.lstm.parameters(), *policy.cnn.parameters())]
        assert all(reached) if shapes_memory else not any(reached)


@pytest.mark.parametrize("passes", [1, 3])
def test_a_pixel_rl2_round_makes_the_same_number_of_updates_however_much_data(passes: int) -> None:
    space = _space()
    policy, steps = _lstm_policy(space), []
    step = policy.optimizer.step
    policy.optimizer.step = lambda *a, **k: steps.append(1) or step(*a, **k)
    trials = [_trials(space, 3, 2) for _ in range(passes)]
    loss = dagger_rl2._fit(policy, trials, updates=5, batch_trials=4, rng=np.random.default_rng(0))
    assert len(steps) == 5 and np.isfinite(loss) and not policy.training


@pytest.mark.parametrize("gpu", [True, False])
def test_pixel_learners_train_on_a_gpu_when_there_is_one_and_state_learners_on_the_cpu(monkeypatch, gpu: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert (
        device_for(learner("pixel-rl2"))
        == device_for(learner("pixel-position-specialist"))
        == ("cuda" if gpu else "cpu")
    )
    assert device_for(learner("position-specialist")) == device_for(learner("rl2")) == "cpu"


@pytest.fixture(scope="module")
def pixel_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("pixels") / "run"
    compare("pixels-tiny", run, workers=2, progress=False)
    return run


def test_pixels_tiny_run_trains_teachers_and_students_and_writes_its_report(pixel_run: Path) -> None:
    chosen = preset("pixels-tiny")
    report = (pixel_run / "report.md").read_text()
    for name in chosen.learners:
        assert f"| {name} |" in report
    for name in ("pixel-position-specialist", "pixel-position-specialist-grey", "pixel-multi-task"):
        files = RunLayout(pixel_run).learner(name, 0)
        meta = json.loads(files.meta.read_text())
        assert meta["kind"] == "dagger" and meta["steps"] == 1600 and meta["dagger_rounds"] == 2
        assert meta["teacher"]["steps"] == 512 and meta["wall_seconds"] >= meta["teacher"]["wall_seconds"]
        assert (files.folder / "teacher" / "meta.json").is_file()
        # The student's normalisation is the teacher's, for the state keys and the proprioception.
        _, student = storage.load_model(files, learner(name))
        _, teacher = storage.load_model(LearnerFiles(files.folder / "teacher"), dagger.teacher_spec(learner(name)))
        for key in ("gripper_pos", "state_gripper_pos", "state_banana_pos"):
            source = teacher.obs_rms[key.removeprefix("state_")]
            assert np.array_equal(student.obs_rms[key].mean, source.mean)
    results = json.loads((pixel_run / "results.json").read_text())
    assert results["preset"] == "pixels-tiny"
    rows = list(csv.DictReader((pixel_run / "results.csv").read_text().splitlines()))
    assert {row["learner"] for row in rows} == set(chosen.learners)
    assert list((pixel_run / "videos").glob("*.mp4"))
