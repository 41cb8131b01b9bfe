"""Tests of the banana-grasp environments: API conformance, seeding, task factors,
rewards, the scripted expert, the wrappers (Greyscale, FixedTask, Trial), env ids, input
validation, rendering and divergence.

The full scripted-expert sweep is marked ``slow`` (``make test-fast`` leaves it out); a few
tasks per id run in every selection.
"""

from __future__ import annotations

import colorsys
import inspect
import math
import os
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env
from test_tasks import check_task  # the documented task layout, restated independently of the code

from banana_grasp import envs  # envs.env_id: tests name their parameter env_id
from banana_grasp.envs import (
    CELL_ENV_IDS,
    ENV_IDS,
    MAX_EPISODE_STEPS,
    V0_ENV_IDS,
    V1_ENV_IDS,
    V2_ENV_IDS,
    BananaGraspEnv,
    FixedTask,
    Greyscale,
    ScriptedExpert,
    Task,
    Trial,
)
from banana_grasp.envs.expert import banana_yaw
from banana_grasp.envs.tasks import CENTRE_POSE, COLOR_SPACES, FACTOR_SPLITS, POSITION_SPACES, YELLOW
from banana_grasp.envs.wrappers import LUMA

from timeouts import scaled

REPO = Path(__file__).resolve().parents[1]
V3_IDS = ENV_IDS | CELL_ENV_IDS  # the current ids: the lift ids and the matrix's one-factor cells
IDS = list(V3_IDS)
OTHER_SPLIT = {"train": "heldout", "heldout": "train"}
STATE_KEYS = (
    "gripper_pos", "gripper_yaw", "finger_opening", "finger_contact",
    "banana_pos", "banana_quat", "gripper_to_banana", "banana_color",
)  # fmt: skip
PROPRIO_KEYS = STATE_KEYS[:4]
REWARD_TERMS = {"reach", "grasp", "lift", "success"}
# The documented dense reward's default weights and lift height (BananaGraspEnv's docstring).
REACH_W, GRASP_W, LIFT_W, SUCCESS_W = 1.0, 1.0, 2.0, 2.0
LIFT_HEIGHT = 0.05  # metres
HOME = (0.0, 0.0, 0.15)  # metres, the gripper's documented start before noise


def variation_of(env_id: str) -> str:
    return V3_IDS[env_id][0]


def split_of(env_id: str) -> str:
    return V3_IDS[env_id][1]


def colour_varies(env_id: str) -> bool:
    return variation_of(env_id) in ("color", "both", "color-or-position")


def position_varies(env_id: str) -> bool:
    return variation_of(env_id) in ("position", "both", "color-or-position")


POSITION_IDS = [env_id for env_id in IDS if position_varies(env_id)]


# --------------------------------------------------------------------- helpers
# check_env warnings that are expected here: positions are unbounded (documented), and a
# wrapped env is checked on purpose.
BENIGN_WARNINGS = (
    "observation space minimum value is -infinity",
    "observation space maximum value is infinity",
)
WRAPPED_WARNING = "is different from the unwrapped version"


def run_check_env(env: gym.Env, also_benign: tuple[str, ...] = ()) -> None:
    """check_env, failing on any of Gymnasium's warnings except the expected ones."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    unexpected = [
        str(w.message)
        for w in caught
        if "WARN:" in str(w.message) and not any(b in str(w.message) for b in BENIGN_WARNINGS + also_benign)
    ]
    assert not unexpected, unexpected
    env.close()


def rollout(env: gym.Env, seed: int, steps: int = MAX_EPISODE_STEPS, actions=None, expert: bool = True):
    """Reset with ``seed`` and step; actions come from ``actions`` if given, else the expert (or random).

    Returns the reset observation and info, and per step (action, obs, reward, terminated, truncated, info).
    """
    obs, info = env.reset(seed=seed)
    first = (obs, info)
    scripted = ScriptedExpert()
    rng = np.random.default_rng(seed)
    trajectory = []
    for t in range(steps):
        if actions is not None:
            action = actions[t]
        elif expert:
            action = scripted.act(env.unwrapped.state_observation())
        else:
            action = rng.uniform(-1.0, 1.0, 5).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        trajectory.append((action, obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return first, trajectory


def banana_pose(obs: dict) -> np.ndarray:
    return np.array([*obs["banana_pos"][:2], banana_yaw(obs["banana_quat"])])


def pose_of(task: Task) -> tuple[float, float, float]:
    return (task.x, task.y, task.yaw)


def luma(color) -> float:
    return float(np.dot(np.asarray(color, np.float64), LUMA.astype(np.float64)))


def assert_obs_finite_and_in_space(obs: dict, space: gym.spaces.Dict) -> None:
    assert set(obs) == set(space.spaces)
    for key, value in obs.items():
        assert value.dtype == space[key].dtype, key
        assert value.shape == space[key].shape, key
        assert np.all(np.isfinite(value)), (key, value)
        assert space[key].contains(value), (key, value, space[key])


# ==================================================================== 1. API
@pytest.mark.parametrize("env_id", IDS)
def test_check_env_state(env_id: str) -> None:
    # check_env re-makes the env with render_mode="rgb_array" and renders: small frames are cheaper.
    run_check_env(gym.make(env_id, width=32, height=32).unwrapped)


@pytest.mark.parametrize(
    ("env_id", "camera", "with_proprio"),
    [
        ("BananaGrasp/Lift-Both-v3", "front", False),
        ("BananaGrasp/Lift-Both-v3", "front", True),
        ("BananaGrasp/Lift-Color-HeldOut-v3", "wrist", True),
    ],
)
def test_check_env_pixels(env_id: str, camera: str, with_proprio: bool) -> None:
    env = gym.make(
        env_id,
        obs_mode="pixels",
        pixel_size=32,
        camera=camera,
        pixels_with_proprio=with_proprio,
        width=32,
        height=32,
    )
    obs, _ = env.reset(seed=0)
    assert set(obs) == ({"pixels", *PROPRIO_KEYS} if with_proprio else {"pixels"})
    assert obs["pixels"].shape == (32, 32, 3) and obs["pixels"].dtype == np.uint8
    assert obs["pixels"].std() > 5  # an image, not a blank frame
    run_check_env(env.unwrapped)


def test_check_env_with_render_mode() -> None:
    env = gym.make("BananaGrasp/Lift-Both-v3", render_mode="rgb_array", width=48, height=40)  # sizes not 32
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (40, 48, 3) and frame.dtype == np.uint8
    run_check_env(env.unwrapped)


@pytest.mark.parametrize("obs_mode", ["state", "pixels"])
def test_check_env_greyscale(obs_mode: str) -> None:
    kwargs = {"obs_mode": obs_mode, "pixel_size": 32, "width": 32, "height": 32}
    env = Greyscale(gym.make("BananaGrasp/Lift-Both-v3", **kwargs).unwrapped)
    run_check_env(env, also_benign=(WRAPPED_WARNING,))


def _check_vector_env(envs: gym.vector.VectorEnv, env_id: str) -> None:
    obs, info = envs.reset(seed=0)
    assert envs.observation_space.contains(obs)
    assert all(value.shape[0] == 2 for value in obs.values())
    tasks = list(info["task"])
    assert all(isinstance(task, Task) for task in tasks)
    if variation_of(env_id) != "none":
        assert tasks[0] != tasks[1]  # the sub-envs are seeded differently
    envs.action_space.seed(0)
    for t in range(1, MAX_EPISODE_STEPS + 1):
        obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        assert envs.observation_space.contains(obs)
        assert reward.shape == (2,) and np.all(np.isfinite(reward))
        assert not terminated.any()  # random actions do not knock a banana off the table
        assert truncated.any() == truncated.all() == (t == MAX_EPISODE_STEPS), (t, truncated)
    obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())  # the autoreset step
    assert not truncated.any() and envs.observation_space.contains(obs)
    envs.close()


@pytest.mark.parametrize("env_id", IDS)
def test_vector_env_sync(env_id: str) -> None:
    _check_vector_env(gym.make_vec(env_id, num_envs=2, vectorization_mode="sync"), env_id)


def test_vector_env_async() -> None:
    env_id = "BananaGrasp/Lift-Both-v3"
    _check_vector_env(gym.make_vec(env_id, num_envs=2, vectorization_mode="async"), env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_env_pickles(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    env.reset(seed=1)
    env.step(env.action_space.sample())
    clone = pickle.loads(pickle.dumps(env))
    assert isinstance(clone, BananaGraspEnv) and clone is not env
    assert (clone.variation, clone.split) == V3_IDS[env_id]
    (obs, info), trajectory = rollout(clone, seed=5, steps=20)
    (obs_ref, info_ref), trajectory_ref = rollout(env, seed=5, steps=20)
    assert info["task"] == info_ref["task"]
    assert all(np.array_equal(obs[k], obs_ref[k]) for k in STATE_KEYS)
    for (_, o, r, *_), (_, o_ref, r_ref, *_) in zip(trajectory, trajectory_ref, strict=True):
        assert all(np.array_equal(o[k], o_ref[k]) for k in STATE_KEYS)
        assert r == r_ref


def test_pixel_env_pickles_after_rendering() -> None:
    env = gym.make("BananaGrasp/Lift-Both-v3", obs_mode="pixels", pixel_size=32).unwrapped
    obs_ref, _ = env.reset(seed=2)  # has made a renderer
    clone = pickle.loads(pickle.dumps(env))
    obs, _ = clone.reset(seed=2)
    assert np.array_equal(obs["pixels"], obs_ref["pixels"])
    clone.close()
    env.close()


# ============================================================ 2. seeding
@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_trajectory(env_id: str) -> None:
    (obs_a, info_a), traj_a = rollout(gym.make(env_id), seed=7)  # expert actions, recorded
    actions = [step[0] for step in traj_a]
    (obs_b, info_b), traj_b = rollout(gym.make(env_id), seed=7, actions=actions)  # replayed
    assert info_a["task"] == info_b["task"]
    assert all(np.allclose(obs_a[k], obs_b[k]) for k in STATE_KEYS)
    assert len(traj_a) == len(traj_b) == MAX_EPISODE_STEPS
    for (_, o_a, r_a, te_a, tr_a, i_a), (_, o_b, r_b, te_b, tr_b, i_b) in zip(traj_a, traj_b):
        for key in STATE_KEYS:
            assert np.allclose(o_a[key], o_b[key]), key
        assert r_a == pytest.approx(r_b)
        assert (te_a, tr_a, i_a["is_success"]) == (te_b, tr_b, i_b["is_success"])
        assert i_a["reward_terms"] == pytest.approx(i_b["reward_terms"])
    assert any(step[5]["is_success"] for step in traj_a)  # is_success was compared while it was True too

    # The same env, reseeded after an episode, starts over identically.
    env = gym.make(env_id)
    env.reset(seed=7)
    for action in actions[:30]:
        env.step(action)
    obs_again, info_again = env.reset(seed=7)
    assert info_again["task"] == info_a["task"]
    assert all(np.array_equal(obs_again[k], obs_a[k]) for k in STATE_KEYS)


@pytest.mark.parametrize("env_id", IDS)
def test_different_seed_different_task(env_id: str) -> None:
    env = gym.make(env_id)
    obs_a, info_a = env.reset(seed=7)
    if position_varies(env_id) and variation_of(env_id) != "color-or-position":
        obs_b, info_b = env.reset(seed=8)
        assert info_a["task"] != info_b["task"]
        assert not np.allclose(banana_pose(obs_a), banana_pose(obs_b), atol=1e-3)
    elif variation_of(env_id) == "color-or-position":
        # Each task varies one factor: across a few seeds some pose and some colour differ.
        others = [env.reset(seed=s)[0] for s in range(8, 16)]
        assert any(not np.allclose(banana_pose(obs_a), banana_pose(o), atol=1e-3) for o in others)
        assert any(not np.allclose(obs_a["banana_color"], o["banana_color"]) for o in others)
    if colour_varies(env_id) and variation_of(env_id) != "color-or-position":
        obs_b, _ = env.reset(seed=8)
        assert not np.allclose(obs_a["banana_color"], obs_b["banana_color"])
    # The gripper's start noise depends on the seed too, whatever the variation.
    obs_c, _ = env.reset(seed=9)
    assert not np.allclose(obs_a["gripper_pos"], obs_c["gripper_pos"])


# ================================================= 3. initial-state randomisation
@pytest.mark.parametrize("env_id", IDS)
def test_initial_states_randomised_as_the_variation_says(env_id: str) -> None:
    env = gym.make(env_id)
    variation, split = V3_IDS[env_id]
    starts = [env.reset(seed=0)] + [env.reset() for _ in range(19)]  # one seed, then its stream
    tasks = [info["task"] for _, info in starts]
    observations = [obs for obs, _ in starts]
    for (obs, info), task in zip(starts, tasks):
        check_task(task, variation, split)
        # The observation shows the task: colour exactly, pose after settling within a few mm.
        assert np.allclose(obs["banana_color"], task.color, atol=1e-6)
        assert np.allclose(obs["banana_pos"][:2], (task.x, task.y), atol=0.003), (obs["banana_pos"], task)
        assert abs(banana_yaw(obs["banana_quat"]) - task.yaw) < 0.02
        assert info["is_success"] is False

    colours = {task.color for task in tasks}
    poses = {pose_of(task) for task in tasks}
    if variation == "none":
        assert tasks == [Task()] * 20
    if variation in ("none", "position"):
        assert colours == {Task().color}
        assert all(np.array_equal(o["banana_color"], observations[0]["banana_color"]) for o in observations)
    if variation in ("none", "color"):
        assert poses == {CENTRE_POSE}
        first = observations[0]
        for obs in observations:  # the gripper start noise does not move the banana
            assert np.allclose(obs["banana_pos"], first["banana_pos"], atol=1e-7)
            assert np.allclose(obs["banana_quat"], first["banana_quat"], atol=1e-7)
    color_split, position_split = FACTOR_SPLITS[split]  # new-color: held-out colours at training positions
    if variation in ("color", "both"):
        assert len(colours) == 20
        assert all(
            COLOR_SPACES[color_split].contains(c) and not COLOR_SPACES[OTHER_SPLIT[color_split]].contains(c)
            for c in colours
        )
    if variation in ("position", "both"):
        assert len(poses) == 20
        assert len({tuple(np.round(o["banana_pos"], 4)) for o in observations}) == 20
        spaces = POSITION_SPACES["interleaved"]
        assert all(
            spaces[position_split].contains(p) and not spaces[OTHER_SPLIT[position_split]].contains(p) for p in poses
        )
    if variation == "color-or-position":
        kinds = set()
        for task in tasks:
            yellow, centred = task.color == Task().color, pose_of(task) == CENTRE_POSE
            assert yellow != centred, task  # exactly one factor varies
            kinds.add("position" if yellow else "color")
        assert kinds == {"color", "position"}
    # The gripper starts at home plus the documented noise, different each episode.
    grippers = np.array([o["gripper_pos"] for o in observations])
    assert len({tuple(g) for g in grippers}) == 20
    assert np.abs(grippers - (0.0, 0.0, 0.15)).max() < 0.02


# ============================================ 5. each factor changes only itself
def test_colour_and_pose_change_only_what_they_should() -> None:
    env = gym.make("BananaGrasp/Lift-Both-v3", render_mode="rgb_array", width=64, height=64)
    unwrapped = env.unwrapped
    geom = unwrapped.model.geom("banana_mesh").id
    rng = np.random.default_rng(0)
    first, second = unwrapped.tasks.sample(rng), unwrapped.tasks.sample(rng)
    base = first
    recoloured = Task(color=second.color, x=first.x, y=first.y, yaw=first.yaw)
    moved = Task(color=first.color, x=second.x, y=second.y, yaw=second.yaw)
    assert abs(base.hue - recoloured.hue) > 0.05 and math.dist(pose_of(base)[:2], pose_of(moved)[:2]) > 0.02

    def start(task: Task):
        obs, info = env.reset(seed=3, options={"task": task})  # same seed: same gripper start
        assert info["task"] == task
        return obs, unwrapped.model.geom_rgba[geom].copy(), unwrapped.data.qpos.copy(), env.render().copy()

    obs_a, rgba_a, qpos_a, frame_a = start(base)
    obs_c, rgba_c, qpos_c, frame_c = start(recoloured)
    obs_p, rgba_p, qpos_p, frame_p = start(moved)
    obs_a2, rgba_a2, qpos_a2, frame_a2 = start(base)
    assert all(np.array_equal(obs_a[k], obs_a2[k]) for k in STATE_KEYS)
    q = unwrapped.model.joint("banana").qposadr[0]

    # Reproducible: the same task and seed give the same state and frame.
    assert np.array_equal(qpos_a, qpos_a2) and np.array_equal(frame_a, frame_a2) and np.array_equal(rgba_a, rgba_a2)
    # Colour only: rgba and pixels change, the physical state does not.
    assert np.allclose(rgba_a[:3], base.color) and np.allclose(rgba_c[:3], recoloured.color)
    assert rgba_a[3] == rgba_c[3] == 1.0
    assert np.array_equal(qpos_a, qpos_c)
    assert all(np.array_equal(obs_a[k], obs_c[k]) for k in STATE_KEYS if k != "banana_color")
    assert not np.allclose(obs_a["banana_color"], obs_c["banana_color"])
    changed = np.any(frame_a != frame_c, axis=-1)
    assert changed.sum() > 20, changed.sum()  # the banana is visible from the front camera
    # Pose only: the banana moves, its rgba does not.
    assert np.array_equal(rgba_a, rgba_p)
    assert not np.allclose(qpos_a[q : q + 3], qpos_p[q : q + 3], atol=0.01)
    assert np.allclose(qpos_p[q : q + 2], (moved.x, moved.y), atol=0.003)
    assert np.array_equal(obs_a["banana_color"], obs_p["banana_color"])
    assert np.any(frame_a != frame_p)
    env.close()


def test_task_option_is_used_and_reported() -> None:
    env = gym.make("BananaGrasp/Lift-ColorOrPosition-v3")
    task = Task(x=0.03, y=0.03, yaw=0.2)  # a train cell, yellow: a position task
    obs, info = env.reset(seed=0, options={"task": task})
    assert info["task"] == task and env.unwrapped.task == task
    assert np.allclose(obs["banana_pos"][:2], (task.x, task.y), atol=0.003)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert info["task"] == task


# ========================================================== 6. rewards
@pytest.mark.parametrize("env_id", IDS)
def test_dense_reward_is_the_sum_of_its_terms(env_id: str) -> None:
    """The terms, recomputed from the observation with the documented formulas, sum to the reward.

    Observations are float32 (the env computes in float64), hence the tolerances. Whether the
    gripper touches the table is not observed: the grasp term is only checked to need contact.
    """
    env = gym.make(env_id)
    for seed, expert in ((11, True), (12, False)):
        (first, _), trajectory = rollout(env, seed=seed, expert=expert)
        rest_z = float(first["banana_pos"][2])  # the reset observation comes once the banana has settled
        seen = dict.fromkeys(REWARD_TERMS, 0.0)
        for _, obs, reward, _, _, info in trajectory:
            terms = info["reward_terms"]
            assert set(terms) == REWARD_TERMS
            distance = float(np.linalg.norm(obs["gripper_to_banana"].astype(np.float64)))
            reach = REACH_W * (1.0 - math.tanh(10.0 * distance))
            touching = bool(obs["finger_contact"].all())
            grasp = terms["grasp"]
            assert grasp in (0.0, GRASP_W) and (grasp == 0.0 or touching)
            height = float(obs["banana_pos"][2]) - rest_z
            lift = LIFT_W * (grasp > 0) * min(max(height, 0.0) / LIFT_HEIGHT, 1.0)
            success = SUCCESS_W * info["is_success"]
            assert terms["reach"] == pytest.approx(reach, abs=1e-5)
            assert terms["lift"] == pytest.approx(lift, abs=1e-4)
            assert terms["success"] == success
            assert reward == pytest.approx(reach + grasp + lift + success, abs=1e-4)
            if abs(height - LIFT_HEIGHT) > 1e-5:  # clear of float32 rounding at the threshold
                assert info["is_success"] == (touching and height >= LIFT_HEIGHT)
            assert info["physics_diverged"] is False
            for key in REWARD_TERMS:
                seen[key] = max(seen[key], terms[key])
                assert info[f"reward_{key}"] == terms[key]  # the flat keys Monitor(info_keywords) logs
        if expert:  # every term was exercised, not only the zero case
            assert all(value > 0 for value in seen.values()), seen
            assert trajectory[-1][5]["is_success"]


@pytest.mark.parametrize("env_id", IDS)
def test_sparse_reward_is_success(env_id: str) -> None:
    env = gym.make(env_id, reward_type="sparse")
    _, trajectory = rollout(env, seed=13)
    successes = [step[5]["is_success"] for step in trajectory]
    for _, _, reward, _, _, info in trajectory:
        assert reward == float(info["is_success"])
        assert isinstance(reward, float)
        assert info["reward_terms"] == {"reach": 0.0, "grasp": 0.0, "lift": 0.0, "success": reward}
    assert any(successes) and not all(successes)  # both values occurred


def test_reward_weights_scale_the_terms() -> None:
    kwargs = {"reach_weight": 0.5, "grasp_weight": 3.0, "lift_weight": 4.0, "success_weight": 10.0}
    (_, _), default = rollout(gym.make("BananaGrasp/Lift-v3"), seed=4)
    (_, _), weighted = rollout(gym.make("BananaGrasp/Lift-v3", **kwargs), seed=4)
    assert any(step[5]["reward_terms"]["grasp"] > 0 for step in default)
    for step, step_w in zip(default, weighted, strict=True):
        terms, terms_w = step[5]["reward_terms"], step_w[5]["reward_terms"]
        assert terms_w["reach"] == pytest.approx(0.5 * terms["reach"])
        assert terms_w["grasp"] == pytest.approx(3.0 * terms["grasp"])
        assert terms_w["lift"] == pytest.approx(2.0 * terms["lift"])
        assert terms_w["success"] == pytest.approx(5.0 * terms["success"])
        assert step_w[2] == pytest.approx(sum(terms_w.values()))


def test_max_grasp_gap_limits_the_grasp_terms() -> None:
    # The expert holds the banana with the pads about 3.3 cm apart (its width): a limit of
    # 4.2 cm counts that grasp, a limit of 3 cm does not; without a limit any touch counts.
    trajectories = {
        limit: rollout(gym.make("BananaGrasp/Lift-v3", max_grasp_gap=limit), seed=4)[1] for limit in (None, 0.042, 0.03)
    }
    assert trajectories[None][-1][5]["is_success"]
    for limit, trajectory in trajectories.items():
        for _, obs, _, _, _, info in trajectory:
            touching = bool(obs["finger_contact"].all())
            held = touching and (limit is None or float(obs["finger_opening"][0]) <= limit)
            assert info["reward_terms"]["grasp"] == float(held)
            if not held:
                assert info["reward_terms"]["lift"] == 0.0
    assert sum(step[5]["reward_terms"]["grasp"] > 0 for step in trajectories[0.042]) >= 80  # the whole hold ...
    # ... and at 3 cm only the few steps while the pads close (7 in v2, 2 in v1)
    assert sum(step[5]["reward_terms"]["grasp"] > 0 for step in trajectories[0.03]) <= 10
    for step, step_n in zip(trajectories[None], trajectories[0.03], strict=True):
        # Same dynamics and success: only the grasp and lift terms differ.
        assert all(np.array_equal(step[1][k], step_n[1][k]) for k in step[1])
        assert step_n[5]["is_success"] == step[5]["is_success"]
        for key in ("reach", "success"):
            assert step_n[5]["reward_terms"][key] == step[5]["reward_terms"][key]


def test_grasp_pressed_on_the_table_earns_no_grasp_terms() -> None:
    # The expert grasps with the gripper clear of the table; then the policy presses down.
    def press(env: gym.Env) -> list:
        expert, steps = ScriptedExpert(), []
        obs, _ = env.reset(seed=4)
        for t in range(60):
            action = expert.act(obs) if t < 25 else np.float32([0.0, 0.0, -1.0, 0.0, 1.0])
            obs, _, _, _, info = env.step(action)
            steps.append((obs, info, env.unwrapped.data.sensordata[env.unwrapped._on_table] > 0))
        return steps

    default, lenient = (
        press(gym.make("BananaGrasp/Lift-v3")),
        press(gym.make("BananaGrasp/Lift-v3", grasp_on_table=True)),
    )
    touching = [bool(obs["finger_contact"].all()) for obs, _, _ in default]
    on_table = [flag for _, _, flag in default]
    assert not any(on_table[:25]) and any(on_table[25:])  # the expert never touches the table
    assert any(t and o for t, o in zip(touching, on_table, strict=True))  # pads on the banana, gripper on the table
    for (_, info, table), (_, info_l, _), touch in zip(default, lenient, touching, strict=True):
        assert info["reward_terms"]["grasp"] == float(touch and not table)
        assert info_l["reward_terms"]["grasp"] == float(touch)


def test_v0_ids_keep_the_v0_reward() -> None:
    assert set(V0_ENV_IDS) == {env_id.replace("-v3", "-v0") for env_id in ENV_IDS}
    for env_id, pair in V0_ENV_IDS.items():
        assert pair == ENV_IDS[env_id.replace("-v0", "-v3")]
    with pytest.warns(DeprecationWarning, match="out of date"):
        (_, _), v0 = rollout(gym.make("BananaGrasp/Lift-v0"), seed=4)
    with pytest.warns(DeprecationWarning, match="out of date"):
        (_, _), v1 = rollout(gym.make("BananaGrasp/Lift-v1"), seed=4)
    assert any(step[5]["reward_terms"]["grasp"] > 0 for step in v0)
    # The expert keeps clear of the table, so both versions pay it the same reward.
    for step0, step1 in zip(v0, v1, strict=True):
        assert step0[5]["reward_terms"] == step1[5]["reward_terms"]
    with pytest.warns(DeprecationWarning, match="out of date"):
        env = gym.make("BananaGrasp/Lift-v0", grasp_weight=0.5)  # a caller's kwarg overrides the id's
    assert env.unwrapped._weights[1] == 0.5
    assert env.unwrapped._grasp_on_table  # v0 pays the grasp terms with the gripper on the table
    assert not gym.make("BananaGrasp/Lift-v3").unwrapped._grasp_on_table


def test_v1_ids_keep_the_v1_physics() -> None:
    """v1 steps the physics at 2 ms x 20 (and v0 with it), v2 at 4 ms x 10: the same 0.04 s per
    env step, so both run the same 100-step episodes and the scripted expert lifts in both."""
    assert set(V1_ENV_IDS) == {env_id.replace("-v3", "-v1") for env_id in ENV_IDS}
    for env_id, pair in V1_ENV_IDS.items():
        assert pair == ENV_IDS[env_id.replace("-v1", "-v3")]
    physics = {}
    for version in ("v0", "v1", "v2", "v3"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # gymnasium: "out of date"
            env = gym.make(f"BananaGrasp/Lift-Both-{version}").unwrapped
        physics[version] = (env.model.opt.timestep, env._frame_skip, env.dt, env.metadata["render_fps"])
    assert physics["v0"] == physics["v1"] == (0.002, 20, pytest.approx(0.04), 25)
    assert physics["v2"] == physics["v3"] == (0.004, 10, pytest.approx(0.04), 25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _, v1 = rollout(gym.make("BananaGrasp/Lift-v1"), seed=4)
        _, v2 = rollout(gym.make("BananaGrasp/Lift-v2"), seed=4)
    assert len(v1) == len(v2) == MAX_EPISODE_STEPS
    assert v1[-1][5]["is_success"] and v2[-1][5]["is_success"]


def test_v2_ids_declare_the_gripper_unbounded_and_step_as_v3() -> None:
    """v3 only bounds the gripper's keys in the observation space: rollouts are v2's, float for float."""
    assert V2_ENV_IDS == {env_id.replace("-v3", "-v2"): pair for env_id, pair in ENV_IDS.items()}
    with pytest.warns(DeprecationWarning, match="out of date"):
        v2 = gym.make("BananaGrasp/Lift-Both-v2")
    v3 = gym.make("BananaGrasp/Lift-Both-v3")
    for key in ("gripper_pos", "gripper_yaw"):
        old, new = v2.observation_space[key], v3.observation_space[key]
        assert np.all(np.isinf(old.low)) and np.all(np.isinf(old.high))
        assert np.all(np.isfinite(new.low)) and np.all(np.isfinite(new.high))
    for key in ("finger_opening", "finger_contact", "banana_pos", "banana_quat", "gripper_to_banana", "banana_color"):
        assert v2.observation_space[key] == v3.observation_space[key]
    for expert in (True, False):
        (first2, _), steps2 = rollout(v2, seed=7, expert=expert)
        (first3, _), steps3 = rollout(v3, seed=7, expert=expert)
        assert all(np.array_equal(first2[k], first3[k]) for k in first2)
        assert len(steps2) == len(steps3)
        for (_, obs2, reward2, *_), (_, obs3, reward3, *_) in zip(steps2, steps3, strict=True):
            assert reward2 == reward3 and all(np.array_equal(obs2[k], obs3[k]) for k in obs2)


def test_the_gripper_stays_inside_its_declared_bounds() -> None:
    """Pushed into every joint limit (actions held at +-1 per axis), the gripper's keys stay in
    the declared space, and its bounds are the joints' ranges widened by JOINT_LIMIT_SLACK."""
    env = gym.make(
        "BananaGrasp/Lift-Both-v3", obs_mode="pixels", pixels_with_proprio=True, pixel_size=16, max_episode_steps=400
    )
    space = env.observation_space
    assert space["gripper_pos"].low.tolist() == pytest.approx([-0.23, -0.23, -0.01])
    assert space["gripper_pos"].high.tolist() == pytest.approx([0.23, 0.23, 0.31])
    assert space["gripper_yaw"].low.tolist() == pytest.approx([-1.66]) == (-space["gripper_yaw"].high).tolist()
    reached = {"low": np.full(4, np.inf), "high": np.full(4, -np.inf)}
    pushes = ((-1.0, -1.0, 1.0, -1.0), (1.0, 1.0, 1.0, 1.0), (0.0, 0.0, -1.0, 0.0))  # up (yaw is free), then down
    for seed, push in enumerate(pushes):
        env.reset(seed=seed)
        action = np.array([*push, 0.0], np.float32)
        for _ in range(400):  # the yaw servo is slow: it takes about 300 steps to its limit
            obs = env.step(action)[0]
            assert space.contains(obs), {k: obs[k] for k in ("gripper_pos", "gripper_yaw")}
            pose = np.r_[obs["gripper_pos"], obs["gripper_yaw"]]
            reached["low"], reached["high"] = np.minimum(reached["low"], pose), np.maximum(reached["high"], pose)
    # The gripper did reach its limits (the table stops z above 0), so the bounds were tested.
    assert reached["low"][[0, 1, 3]] == pytest.approx([-0.22, -0.22, -1.65], abs=3e-3)
    assert reached["high"] == pytest.approx([0.22, 0.22, 0.3, 1.65], abs=3e-3)
    assert 0.0 < reached["low"][2] < 0.02


# ======================================================= 7. scripted expert
# The full sweep: every id gets 100 tasks in the interleaved layout (the layout only matters
# where the position varies); the extrapolate layout gets 100 tasks on the two position-only
# ids (its train centre and held-out ring) and 20 on the other position-varying ids.
EXPERT_SWEEP = [(env_id, "interleaved", 100) for env_id in IDS] + [
    (env_id, "extrapolate", 100 if variation_of(env_id) == "position" else 20) for env_id in POSITION_IDS
]
QUICK_EXPERT_TASKS = 10  # per id, in every selection (the sweep is slow)


def check_expert(env_id: str, layout: str, n_tasks: int) -> None:
    """The scripted expert lifts the banana in >= 95% of the tasks of reset(seed=0 ... n_tasks - 1)."""
    variation, split = V3_IDS[env_id]
    env, expert = gym.make(env_id, position_layout=layout), ScriptedExpert()
    tasks, failures = [], []
    for seed in range(n_tasks):
        obs, info = env.reset(seed=seed)
        tasks.append(info["task"])
        check_task(info["task"], variation, split, layout)
        expert.reset()
        steps, terminated, truncated = 0, False, False
        while not (terminated or truncated):
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            steps += 1
        assert not info["physics_diverged"], (seed, tasks[-1])
        if not info["is_success"]:
            failures.append((seed, tasks[-1], steps))
        else:
            assert steps == MAX_EPISODE_STEPS  # success is judged at the end of a full episode
    env.close()
    if variation != "none":
        assert len(set(tasks)) == n_tasks
    assert len(failures) <= n_tasks * 0.05, f"{len(failures)}/{n_tasks} failed: {failures}"


@pytest.mark.slow
@pytest.mark.parametrize(("env_id", "layout", "n_tasks"), EXPERT_SWEEP)
def test_scripted_expert_sweep(env_id: str, layout: str, n_tasks: int) -> None:
    check_expert(env_id, layout, n_tasks)


@pytest.mark.parametrize("env_id", IDS)
def test_scripted_expert_succeeds_on_a_few_tasks(env_id: str) -> None:
    check_expert(env_id, "interleaved", QUICK_EXPERT_TASKS)


# ============================================================ 8. Greyscale
def test_greyscale_state_observation() -> None:
    env = Greyscale(gym.make("BananaGrasp/Lift-Both-v3"))
    assert "banana_color" not in env.observation_space.spaces
    assert env.observation_space["banana_luminance"].shape == (1,)
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        assert "banana_color" not in obs
        assert obs["banana_luminance"].shape == (1,) and obs["banana_luminance"].dtype == np.float32
        assert obs["banana_luminance"][0] == pytest.approx(luma(info["task"].color), abs=1e-6)
        state = env.unwrapped.state_observation()
        assert all(np.array_equal(obs[k], state[k]) for k in STATE_KEYS if k != "banana_color")
        assert_obs_finite_and_in_space(obs, env.observation_space)
        obs, *_ = env.step(env.action_space.sample())
        assert "banana_color" not in obs and env.observation_space.contains(obs)


@pytest.mark.parametrize("with_proprio", [False, True])
def test_greyscale_pixel_observation(with_proprio: bool) -> None:
    kwargs = {"obs_mode": "pixels", "pixel_size": 32, "pixels_with_proprio": with_proprio}
    grey_env = Greyscale(gym.make("BananaGrasp/Lift-Both-v3", **kwargs))
    rgb_env = gym.make("BananaGrasp/Lift-Both-v3", **kwargs)
    assert grey_env.observation_space["pixels"].shape == (32, 32, 1)
    grey, _ = grey_env.reset(seed=4)
    rgb, _ = rgb_env.reset(seed=4)
    assert grey["pixels"].shape == (32, 32, 1) and grey["pixels"].dtype == np.uint8
    assert set(grey) == set(rgb)
    expected = rgb["pixels"].astype(np.float64) @ LUMA.astype(np.float64)
    assert np.abs(grey["pixels"][..., 0] - expected).max() <= 0.51
    assert grey_env.observation_space.contains(grey)
    grey_env.close()
    rgb_env.close()


def test_greyscale_hides_hue_at_equal_luminance() -> None:
    # Two train-band colours with equal luma and different hue: yellow-orange and green.
    yellowish = colorsys.hsv_to_rgb(0.15, 0.8, 0.7)
    green_full = colorsys.hsv_to_rgb(0.40, 0.8, 1.0)
    greenish = colorsys.hsv_to_rgb(0.40, 0.8, luma(yellowish) / luma(green_full))
    assert all(COLOR_SPACES["train"].contains(c) for c in (yellowish, greenish))
    assert luma(yellowish) == pytest.approx(luma(greenish), abs=1e-12)
    assert abs(colorsys.rgb_to_hsv(*yellowish)[0] - colorsys.rgb_to_hsv(*greenish)[0]) > 0.2

    def episode(color, wrap: bool):
        env = gym.make("BananaGrasp/Lift-Color-v3")
        env = Greyscale(env) if wrap else env
        obs, _ = env.reset(seed=0, options={"task": Task(color=color)})
        observations = [obs]
        for action in np.random.default_rng(0).uniform(-1, 1, (10, 5)).astype(np.float32):
            observations.append(env.step(action)[0])
        return observations

    for obs_y, obs_g in zip(episode(yellowish, True), episode(greenish, True), strict=True):
        assert set(obs_y) == set(obs_g)
        for key in obs_y:
            assert np.array_equal(obs_y[key], obs_g[key]), key
    # Without the wrapper they differ (the test above can fail).
    assert not np.array_equal(episode(yellowish, False)[0]["banana_color"], episode(greenish, False)[0]["banana_color"])


def test_greyscale_rejects_other_envs() -> None:
    with pytest.raises(ValueError, match="needs banana_color or pixels"):
        Greyscale(gym.make("CartPole-v1"))


# ========================================================== 9. bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"variation": "colour"},
            r"unknown variation 'colour'; allowed: none, color, position, both, color-or-position",
        ),
        ({"split": "test"}, r"unknown split 'test'; allowed: train, heldout, new-color, new-position$"),
        ({"position_layout": "ring"}, r"unknown position layout 'ring'; allowed: interleaved, extrapolate"),
        ({"obs_mode": "rgb"}, r"unknown obs_mode 'rgb'; allowed: 'state', 'pixels'"),
        ({"reward_type": "shaped"}, r"unknown reward_type 'shaped'; allowed: 'dense', 'sparse'"),
        ({"camera": "top"}, r"unknown camera 'top'; allowed: 'front', 'wrist'"),
        ({"camera": "top", "obs_mode": "pixels"}, r"unknown camera 'top'; allowed: 'front', 'wrist'"),
        ({"pixel_size": 0}, r"pixel_size must be a positive integer; got 0"),
        ({"pixel_size": 700}, r"pixel_size must be at most 640 \(scene\.xml's offscreen framebuffer\); got 700"),
        ({"width": 2.5}, r"width must be a positive integer; got 2\.5"),
        ({"height": 0}, r"height must be a positive integer; got 0"),
        ({"width": 641}, r"width must be at most 640 \(scene\.xml's offscreen framebuffer\); got 641"),
        ({"camera_name": "top"}, r"unknown camera_name 'top'; allowed: 'front', 'wrist'"),
        ({"frame_skip": -1}, r"frame_skip must be a positive integer; got -1"),
        ({"timestep": 0.0}, r"timestep must be a number in \(0, 0\.008\] seconds; got 0\.0"),
        ({"timestep": 0.01}, r"timestep must be a number in \(0, 0\.008\] seconds; got 0\.01"),
        ({"timestep": "4ms"}, r"timestep must be a number in \(0, 0\.008\] seconds; got '4ms'"),
        ({"max_grasp_gap": 0.0}, r"max_grasp_gap must be None \(any gap\) or lie in \(0, 0\.088\] metres; got 0\.0"),
        ({"max_grasp_gap": 0.2}, r"max_grasp_gap must be None \(any gap\) or lie in \(0, 0\.088\] metres; got 0\.2"),
    ],
    ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None,
)
def test_make_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gym.make("BananaGrasp/Lift-v3", **kwargs)


def test_make_rejects_unknown_render_mode() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gym.make warns first, then the env raises
        with pytest.raises(ValueError, match=r"unknown render_mode 'ansi'; allowed: None, 'rgb_array'"):
            gym.make("BananaGrasp/Lift-v3", render_mode="ansi")


HELDOUT_POSE = {"x": -0.09, "y": -0.03, "yaw": 0.0}  # cell (0, 1): held out in the interleaved layout
TRAIN_POSE = {"x": -0.09, "y": -0.09, "yaw": 0.0}  # cell (0, 0): train
HELDOUT_COLOUR = colorsys.hsv_to_rgb(0.29, 0.8, 0.8)  # band 1: held out
RED = (1.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("env_id", "task"),
    [
        ("BananaGrasp/Lift-Position-v3", Task(color=RED, **TRAIN_POSE)),
        ("BananaGrasp/Lift-Position-v3", Task(**HELDOUT_POSE)),
        ("BananaGrasp/Lift-Position-HeldOut-v3", Task(**TRAIN_POSE)),
        ("BananaGrasp/Lift-Color-v3", Task(color=HELDOUT_COLOUR)),
        ("BananaGrasp/Lift-Color-v3", Task(x=0.03, y=0.03)),
        ("BananaGrasp/Lift-v3", Task(color=colorsys.hsv_to_rgb(0.15, 0.8, 0.8))),
        ("BananaGrasp/Lift-v3", Task(x=0.03, y=0.03)),
        ("BananaGrasp/Lift-Both-v3", Task(color=HELDOUT_COLOUR, **TRAIN_POSE)),
        ("BananaGrasp/Lift-HeldOut-v3", Task(color=HELDOUT_COLOUR, **TRAIN_POSE)),
        ("BananaGrasp/Lift-ColorOrPosition-v3", Task(color=colorsys.hsv_to_rgb(0.15, 0.8, 0.8), **TRAIN_POSE)),
    ],
    ids=[
        "position-red", "position-heldout-pose", "position-heldout-train-pose", "color-heldout-colour",
        "color-moved", "none-recoloured", "none-moved", "both-heldout-colour", "heldout-train-pose",
        "color-or-position-both-factors",
    ],
)  # fmt: skip
def test_reset_rejects_a_task_the_variation_cannot_produce(env_id: str, task: Task) -> None:
    env = gym.make(env_id)
    variation, split = V3_IDS[env_id]
    bad = re.escape(f"{task} cannot be produced by variation {variation!r}, split {split!r}")
    allowed = re.escape("variations: none, color, position, both, color-or-position")
    with pytest.raises(ValueError, match=f"{bad}.*{allowed}"):
        env.reset(seed=0, options={"task": task})
    # The env is still usable afterwards.
    obs, info = env.reset(seed=0)
    check_task(info["task"], variation, split)
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize("bad", [{"color": YELLOW, "x": 0.0, "y": 0.0, "yaw": 0.0}, (YELLOW, 0.0, 0.0, 0.0), "yellow"])
def test_reset_rejects_a_task_of_the_wrong_type(bad) -> None:
    env = gym.make("BananaGrasp/Lift-v3")
    match = rf"options\['task'\] must be a banana_grasp.envs.Task; got {type(bad).__name__}"
    with pytest.raises(ValueError, match=match):
        env.reset(options={"task": bad})


# =================================================== 10. physics divergence
@pytest.mark.parametrize(
    "inject",
    ["qvel-nan", "qvel-inf", "qvel-huge", "qpos-nan", "qacc-warmstart-nan"],
)
@pytest.mark.parametrize("obs_mode", ["state", "pixels"])
def test_physics_divergence_ends_the_episode_cleanly(inject: str, obs_mode: str) -> None:
    env = gym.make("BananaGrasp/Lift-Both-v3", obs_mode=obs_mode, pixel_size=32)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert info["physics_diverged"] is False and not terminated
    previous_obs = obs  # as a caller keeps it, e.g. in a replay buffer
    last_obs = {k: v.copy() for k, v in obs.items()}
    data = env.unwrapped.data
    field, value = inject.split("-", 1)[0], inject.rsplit("-", 1)[1]
    bad = {"nan": np.nan, "inf": np.inf, "huge": 1e12}[value]
    if inject == "qacc-warmstart-nan":
        data.qacc_warmstart[:] = np.nan
    else:
        getattr(data, field)[:] = bad
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may escape, not even a numpy RuntimeWarning
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert terminated is True and truncated is False
    assert info["physics_diverged"] is True and info["is_success"] is False
    assert reward == 0.0
    assert_obs_finite_and_in_space(obs, env.observation_space)
    assert all(np.array_equal(obs[k], last_obs[k]) for k in obs)  # the last finite observation
    assert not any(np.shares_memory(obs[k], previous_obs[k]) for k in obs)  # ... in new arrays
    # A reset starts a normal episode again.
    obs, _ = env.reset(seed=1)
    obs, _, terminated, _, info = env.step(env.action_space.sample())
    assert info["physics_diverged"] is False and not terminated
    assert_obs_finite_and_in_space(obs, env.observation_space)


# ========================================================= 11. observations
@pytest.mark.parametrize("env_id", IDS)
def test_state_observations_are_finite_and_in_their_space(env_id: str) -> None:
    env = gym.make(env_id)
    assert set(env.observation_space.spaces) == set(STATE_KEYS)
    for seed, expert in ((21, True), (22, False)):
        (obs, _), trajectory = rollout(env, seed=seed, expert=expert)
        assert_obs_finite_and_in_space(obs, env.observation_space)
        for _, obs, *_ in trajectory:
            assert_obs_finite_and_in_space(obs, env.observation_space)
            assert np.allclose(obs["gripper_to_banana"], obs["banana_pos"] - obs["gripper_pos"], atol=1e-6)
            assert np.linalg.norm(obs["banana_quat"]) == pytest.approx(1.0, abs=1e-5)


def test_finger_opening_stays_in_its_space_when_closing_on_nothing() -> None:
    # Closing the empty gripper presses the pads together; their small overlap must not
    # push the observation out of its declared [0, 0.1] range.
    env = gym.make("BananaGrasp/Lift-v3")
    env.reset(seed=0)
    openings = []
    for _ in range(10):
        obs, *_ = env.step(np.array([0, 0, 0, 0, 1.0], np.float32))
        openings.append(float(obs["finger_opening"][0]))
        assert env.observation_space["finger_opening"].contains(obs["finger_opening"]), obs["finger_opening"]
    assert min(openings) < 0.002  # it did close
    for _ in range(10):
        obs, *_ = env.step(np.array([0, 0, 0, 0, -1.0], np.float32))
    assert obs["finger_opening"][0] == pytest.approx(0.088, abs=0.002)  # and reopen


@pytest.mark.parametrize("env_id", ["BananaGrasp/Lift-Both-v3", "BananaGrasp/Lift-HeldOut-v3"])
def test_no_observation_element_is_constant(env_id: str) -> None:
    """Across episodes of a variation that varies everything, every element changes.

    Expert and random episodes alternate so that contacts and lifts occur. No element is
    legitimately constant: the banana's quaternion x / y components are small (it lies
    nearly flat) but not constant, as it tilts on its curved side and when lifted.
    """
    env = gym.make(env_id)
    rows = []
    for episode in range(4):
        (obs, _), trajectory = rollout(env, seed=30 + episode, expert=episode % 2 == 0)
        for o in [obs] + [step[1] for step in trajectory]:
            rows.append(np.concatenate([o[k] for k in STATE_KEYS]))
    rows = np.array(rows)
    names = [f"{k}[{i}]" for k in STATE_KEYS for i in range(env.observation_space[k].shape[0])]
    constant = [name for name, column in zip(names, rows.T) if np.ptp(column) == 0]
    assert not constant, constant
    quat = rows[:, names.index("banana_quat[1]") : names.index("banana_quat[2]") + 1]
    assert np.abs(quat).max() > 1e-3  # x / y quaternion components: small, not zero


# ============================================================= 12. bench
def test_bench_env_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_env.py"), "--steps", "200", "--pixel-steps", "50"],
        capture_output=True,
        text=True,
        timeout=scaled(180),
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert "| measurement (BananaGrasp/Lift-Both-v3, 200 steps) | steps/s | note |" in lines, result.stdout
    overhead = [line for line in lines if line.startswith("| overhead: env time / raw physics time |")]
    assert len(overhead) == 1, result.stdout
    assert re.search(r"\| [0-9.]+x \(target <= 1\.15x\) \|$", overhead[0]), overhead[0]
    for row in ("state env (env.step)", "pixel env 64x64", "pixel env 84x84"):
        assert any(line.startswith(f"| {row}") for line in lines), row


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_is_rejected(bad: float) -> None:
    env = gym.make("BananaGrasp/Lift-Both-v3").unwrapped
    env.reset(seed=0)
    action = np.zeros(5, np.float32)
    action[2] = bad
    with pytest.raises(ValueError, match="action must be finite"):
        env.step(action)


@pytest.mark.parametrize("shape", [(4,), (6,), (1, 5), ()])
def test_action_of_the_wrong_shape_is_rejected(shape: tuple) -> None:
    env = gym.make("BananaGrasp/Lift-Both-v3").unwrapped
    env.reset(seed=0)
    before = env.data.qpos.copy()
    with pytest.raises(ValueError, match=r"action must have shape \(5,\).*got shape " + re.escape(str(shape))):
        env.step(np.zeros(shape, np.float32))
    assert np.array_equal(env.data.qpos, before), "a rejected action must not step the physics"


def test_step_before_reset_raises_a_clear_error() -> None:
    env = BananaGraspEnv(variation="both")  # the raw class: no OrderEnforcing wrapper
    with pytest.raises(ResetNeeded, match=r"call reset\(\) before step\(\)"):
        env.step(np.zeros(5, np.float32))
    with pytest.raises(ResetNeeded, match=r"call reset\(\) before state_observation\(\)"):
        env.state_observation()
    env.reset(seed=0)
    obs, *_ = env.step(np.zeros(5, np.float32))
    assert env.observation_space.contains(obs)


# ============================================================ 13. env ids
def test_env_id_names_each_registered_id() -> None:
    for id_, (variation, split) in ENV_IDS.items():
        assert envs.env_id(variation, split) == id_
    for id_, (variation, split) in V0_ENV_IDS.items():
        assert envs.env_id(variation, split, version="v0") == id_
    assert envs.env_id("both", "heldout") == "BananaGrasp/Lift-HeldOut-v3"  # the documented example
    assert envs.env_id("both", "new-color") == "BananaGrasp/Lift-NewColor-v3"
    assert envs.env_id("both", "new-position") == "BananaGrasp/Lift-NewPosition-v3"
    with pytest.raises(ValueError, match="no registered id for variation 'color', split 'new-color'"):
        envs.env_id("color", "new-color")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("colour", "train"), r"unknown variation 'colour'; allowed: none, color, position, both, color-or-position$"),
        (("both", "test"), r"unknown split 'test'; allowed: train, heldout, new-color, new-position$"),
        (("both", "train", "v4"), r"unknown version 'v4'; allowed: v3, v2, v1, v0$"),
        (
            ("none", "heldout"),
            (
                r"no registered id for variation 'none', split 'heldout'; registered \(variation/split\): "
                r"none/train, color/train, position/train, both/train, color-or-position/train, "
                r"color/heldout, position/heldout, both/heldout, both/new-color, both/new-position$"
            ),
        ),
    ],
    ids=["variation", "split", "version", "unregistered-pair"],
)
def test_env_id_rejects_what_has_no_id(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        envs.env_id(*args)


# ====================================================== 14. FixedTask and Trial
PINNED = Task(color=colorsys.hsv_to_rgb(0.15, 0.8, 0.8), x=-0.09, y=-0.09, yaw=0.3)  # train colour, train cell


def test_fixed_task_pins_every_reset() -> None:
    env = FixedTask(gym.make("BananaGrasp/Lift-Both-v3"), PINNED)
    grippers = []
    for seed in (0, 1, None, None):
        obs, info = env.reset(seed=seed)
        assert info["task"] == PINNED and env.unwrapped.task == PINNED
        assert np.allclose(obs["banana_color"], PINNED.color, atol=1e-6)
        assert np.allclose(obs["banana_pos"][:2], (PINNED.x, PINNED.y), atol=0.003)
        grippers.append(tuple(obs["gripper_pos"]))
        for _ in range(3):
            env.step(env.action_space.sample())
    assert len(set(grippers)) == 4  # the seed still draws the gripper's start noise
    other = Task(color=PINNED.color, x=0.09, y=0.09)
    _, info = env.reset(options={"task": other})  # the pinned task wins over a caller's option
    assert info["task"] == PINNED
    assert env.spec.additional_wrappers[-1].kwargs == {"task": PINNED}  # RecordConstructorArgs


def test_fixed_task_rejects_a_task_the_variation_cannot_produce() -> None:
    env = FixedTask(gym.make("BananaGrasp/Lift-Position-v3"), Task(color=RED))
    with pytest.raises(ValueError, match="cannot be produced by variation 'position'"):
        env.reset(seed=0)


def test_check_env_fixed_task() -> None:
    run_check_env(
        FixedTask(gym.make("BananaGrasp/Lift-Both-v3", width=32, height=32).unwrapped, PINNED), (WRAPPED_WARNING,)
    )


def test_trial_joins_episodes_of_one_task() -> None:
    episodes, steps = 3, 5
    env = Trial(gym.make("BananaGrasp/Lift-Both-v3", max_episode_steps=steps), episodes)
    assert set(env.observation_space.spaces) == {*STATE_KEYS, "prev_action", "prev_reward", "prev_done"}
    obs, info = env.reset(seed=0)
    task = info["task"]
    assert np.array_equal(obs["prev_action"], np.zeros(5, np.float32))
    assert obs["prev_reward"][0] == 0.0 and obs["prev_done"][0] == 0.0
    rng = np.random.default_rng(0)
    for t in range(1, episodes * steps + 1):
        action = rng.uniform(-1.5, 1.5, 5).astype(np.float32)  # outside the box too: prev_action is clipped
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs)
        assert np.array_equal(obs["prev_action"], np.clip(action, -1.0, 1.0))
        assert obs["prev_reward"][0] == np.float32(reward)
        boundary = t % steps == 0
        assert obs["prev_done"][0] == float(boundary), t
        assert info["task"] == task and env.unwrapped.task == task  # one task for the whole trial
        assert not terminated and truncated == (t == episodes * steps), t  # no terminal signal inside a trial
        assert ("trial_successes" in info) == (t == episodes * steps)
        if boundary and t < episodes * steps:  # the next episode has started: the gripper is home again
            assert np.abs(obs["gripper_pos"] - HOME).max() < 0.02, obs["gripper_pos"]
    assert info["trial_successes"] == [False] * episodes  # random actions lift nothing


def test_trial_reports_each_episodes_success() -> None:
    env = Trial(gym.make("BananaGrasp/Lift-Both-v3"), episodes=2)
    expert = ScriptedExpert()
    obs, _ = env.reset(seed=4)
    done, steps = False, 0
    while not done:
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        if obs["prev_done"][0]:
            expert.reset()
        done, steps = terminated or truncated, steps + 1
    assert steps == 2 * MAX_EPISODE_STEPS
    assert info["trial_successes"] == [True, True] and info["is_success"]
    assert "trial_lifted" not in info  # one banana: success says what was held


def test_trial_needs_an_episode() -> None:
    with pytest.raises(ValueError, match="a trial needs >= 1 episode; got 0"):
        Trial(gym.make("BananaGrasp/Lift-v3"), 0)


def test_check_env_trial() -> None:
    run_check_env(Trial(gym.make("BananaGrasp/Lift-Both-v3", width=32, height=32).unwrapped, 2), (WRAPPED_WARNING,))


# ============================================================= 15. rendering
def test_render_fps_follows_frame_skip() -> None:
    default = gym.make("BananaGrasp/Lift-v3").unwrapped
    fast = gym.make("BananaGrasp/Lift-v3", frame_skip=5).unwrapped
    odd = gym.make("BananaGrasp/Lift-v3", frame_skip=3).unwrapped
    assert default.metadata["render_fps"] == 25  # 10 x 4 ms = 0.04 s a step
    assert fast.metadata["render_fps"] == 50
    assert odd.metadata["render_fps"] == 83  # round(1 / 0.012)
    assert all(env.metadata["render_fps"] == round(1 / env.dt) for env in (default, fast, odd))
    assert "render_fps" not in BananaGraspEnv.metadata  # per instance, not shared by the class


def test_render_width_height_and_camera_name() -> None:
    def frame(**kwargs) -> np.ndarray:
        env = gym.make("BananaGrasp/Lift-Both-v3", render_mode="rgb_array", **kwargs)
        env.reset(seed=0)
        image = env.render()
        env.close()
        return image

    assert frame().shape == (256, 256, 3)  # the defaults
    front, wrist = frame(width=48, height=32), frame(width=48, height=32, camera_name="wrist")
    assert front.shape == wrist.shape == (32, 48, 3)
    assert np.abs(front.astype(int) - wrist.astype(int)).mean() > 10  # another camera, another picture
    assert np.array_equal(front, frame(width=48, height=32, camera_name="front"))


def test_render_size_is_a_deprecated_alias() -> None:
    with pytest.warns(DeprecationWarning, match="render_size is deprecated: use width and height"):
        env = gym.make("BananaGrasp/Lift-v3", render_mode="rgb_array", render_size=40)
    env.reset(seed=0)
    assert env.render().shape == (40, 40, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the pickle holds width and height: no warning again
        clone = pickle.loads(pickle.dumps(env.unwrapped))
    assert clone._render_args == (40, 40, "front")
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="give width and height, not render_size"):
        gym.make("BananaGrasp/Lift-v3", render_size=40, width=32)


def test_render_without_an_opengl_context_names_mujoco_gl(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_context(*args, **kwargs):
        raise mujoco.FatalError("an OpenGL platform library has not been loaded into this process")

    monkeypatch.setattr(mujoco, "Renderer", no_context)
    env = gym.make("BananaGrasp/Lift-v3", render_mode="rgb_array", width=32, height=32)
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match=r"OpenGL context.*MUJOCO_GL=egl.*MUJOCO_GL=osmesa"):
        env.render()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="EGL is the Linux default only")
@pytest.mark.parametrize(
    ("environ", "first", "expected"),
    [
        ({}, "", "egl"),  # headless: the default
        ({}, "import mujoco", "None"),  # mujoco already chose its backend: leave the variable alone
        ({"MUJOCO_GL": "glfw"}, "", "glfw"),  # the user's choice
        ({"DISPLAY": ":0"}, "", "None"),  # a display: MuJoCo's own default (GLFW) works
    ],
    ids=["headless", "mujoco-imported-first", "user-choice", "display"],
)
def test_mujoco_gl_default(environ: dict, first: str, expected: str) -> None:
    unset = ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY")
    env = {k: v for k, v in os.environ.items() if k not in unset} | environ
    code = f"{first}\nimport os, banana_grasp.envs\nprint(os.environ.get('MUJOCO_GL'))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=scaled(120), check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [expected]


# ============================================================= 16. pickling
def test_pickle_holds_keywords_and_loads_legacy_positional_pickles() -> None:
    env = gym.make("BananaGrasp/Lift-Position-v3", width=48).unwrapped
    # Keywords only: a pickle survives a reordering of the signature.
    assert env._ezpickle_args == ()
    params = set(inspect.signature(BananaGraspEnv).parameters) - {"render_size"}
    assert set(env._ezpickle_kwargs) == params
    assert pickle.loads(pickle.dumps(env))._render_args == (48, 256, "front")
    # A pickle of banana-grasp 0.2.0 held the 21 arguments by position, render_size 10th.
    legacy = (
        "position", "train", "interleaved", "state", 64, "front", False, "dense", None, 32, 20, 0.02, 0.1,
        0.05, 1.0, 1.0, 2.0, 2.0, 0.01, None, False,
    )  # fmt: skip
    clone = BananaGraspEnv.__new__(BananaGraspEnv)
    with pytest.warns(DeprecationWarning, match="render_size"):
        clone.__setstate__({"_ezpickle_args": legacy, "_ezpickle_kwargs": {}})
    assert (clone.variation, clone.split, clone._render_args) == ("position", "train", (32, 32, "front"))
    assert clone._weights == (1.0, 1.0, 2.0, 2.0) and not clone._grasp_on_table
