"""Tests of the hidden-side environments: API conformance, seeding, the splits' scenes (restated
here from the documentation), slot a on the robot's left, an observation that never shows the
rule, the signed touch and the other reward terms, input validation and the scripted expert.

The full scripted-expert sweep is marked ``slow``; a quick sample per id runs in every selection.
"""

from __future__ import annotations

import colorsys
import math
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

from banana_grasp.envs import (
    HIDDEN_SIDE_EPISODE_STEPS,
    HIDDEN_SIDE_IDS,
    HIDDEN_TARGET_IDS,
    HiddenSideEnv,
    HiddenSideTask,
    HiddenTargetScene,
    HiddenTargetTask,
    Measured,
    ScriptedExpert,
    Task,
    Trial,
    hidden_side_space,
)

IDS = list(HIDDEN_SIDE_IDS)
SPLITS = ("train", "heldout")
OTHER_SPLIT = {"train": "heldout", "heldout": "train"}
SLOTS = ("a", "b")
OTHER_SLOT = {"a": "b", "b": "a"}
SLOT_OF_SIDE = {"left": "a", "right": "b"}
EPISODE_STEPS = 50  # the registered ids' episode length, as documented
PROPRIO_KEYS = ("gripper_pos", "gripper_yaw", "finger_opening", "finger_contact")
BANANA_KEYS = {
    slot: (f"banana_{slot}_pos", f"banana_{slot}_quat", f"gripper_to_banana_{slot}", f"banana_{slot}_color")
    for slot in SLOTS
}
STATE_KEYS = (*PROPRIO_KEYS, *BANANA_KEYS["a"], *BANANA_KEYS["b"])
REWARD_TERMS = ("reach", "touch", "grasp", "lift", "success")
TOUCH_W = 5.0  # the documented default touch_weight
LIFT_HEIGHT = 0.01  # metres: a grasp that holds the target clear of the table

# The documented layout, restated independently of the code under test.
HUE_BANDS = {  # 8 bands of 1/8 of the hue circle from 0.1, a 0.01 margin, alternately train and held out
    split: [(0.1 + k / 8 + 0.01, 0.1 + (k + 1) / 8 - 0.01) for k in range(parity, 8, 2)]
    for parity, split in enumerate(SPLITS)
}
SATURATION = VALUE = (0.6, 1.0)
CENTRE_HALF_WIDTH, CELLS, CELL_MARGIN = 0.07, 4, 0.004  # the pair's middle: a 4 x 4 checkerboard over +-7 cm
PAIR_YAW = math.pi / 4 - 0.1
SEPARATION, OFFSET, SPREAD = (0.09, 0.10), 0.02, 0.1
LEFT_MARGIN = 0.057  # metres: the left banana's middle is at least this much further +y


def band_index(hue: float, split: str) -> int | None:
    for k, (low, high) in enumerate(HUE_BANDS[split]):
        if low <= hue < high or low <= hue + 1.0 < high:
            return k
    return None


def cell_of(x: float, y: float) -> tuple[int, int] | None:
    """The grid cell (i, j) holding (x, y), None if in no cell (outside, or in a margin)."""
    width = 2 * CENTRE_HALF_WIDTH / CELLS
    i, j = math.floor((x + CENTRE_HALF_WIDTH) / width), math.floor((y + CENTRE_HALF_WIDTH) / width)
    if not (0 <= i < CELLS and 0 <= j < CELLS):
        return None
    for value, k in ((x, i), (y, j)):
        low = -CENTRE_HALF_WIDTH + k * width
        if not low + CELL_MARGIN - 1e-9 <= value <= low + width - CELL_MARGIN + 1e-9:
            return None
    return i, j


def check_scene(scene: HiddenTargetScene, split: str) -> tuple[int, int]:
    """Direct check that ``scene`` is one the documented split draws; returns the pair's cell."""
    for banana in (scene.a, scene.b):
        hue, sat, val = colorsys.rgb_to_hsv(*banana.color)
        assert band_index(hue, split) is not None and band_index(hue, OTHER_SPLIT[split]) is None, banana
        assert SATURATION[0] - 1e-9 <= sat <= SATURATION[1] + 1e-9 and VALUE[0] - 1e-9 <= val <= VALUE[1] + 1e-9
    a, b = scene.a, scene.b
    yaw, spread = (a.yaw + b.yaw) / 2, (a.yaw - b.yaw) / 2
    dx, dy = a.x - b.x, a.y - b.y
    along, across = dx * math.cos(yaw) + dy * math.sin(yaw), -dx * math.sin(yaw) + dy * math.cos(yaw)
    assert abs(yaw) <= PAIR_YAW + 1e-9 and abs(spread) <= SPREAD + 1e-9
    assert SEPARATION[0] - 1e-9 <= abs(across) <= SEPARATION[1] + 1e-9 and abs(along) <= OFFSET + 1e-9
    assert a.y - b.y >= LEFT_MARGIN, scene  # slot a is the left banana (world +y), by a margin
    cell = cell_of((a.x + b.x) / 2, (a.y + b.y) / 2)
    assert cell is not None and sum(cell) % 2 == SPLITS.index(split), (cell, split)
    return cell


# check_env warnings that are expected here: the bananas' positions are unbounded (documented).
BENIGN_WARNINGS = ("observation space minimum value is -infinity", "observation space maximum value is infinity")


def run_check_env(env: gym.Env) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    unexpected = [str(w.message) for w in caught if "WARN:" in str(w.message)]
    assert not [m for m in unexpected if not any(b in m for b in BENIGN_WARNINGS)], unexpected
    env.close()


def rollout(env: gym.Env, seed: int, options: dict | None = None, aim: str = "target", actions=None):
    """Reset and run an episode: replay ``actions`` if given, else the scripted expert aimed at
    the target or the decoy. Returns the reset (obs, info) and per step (action, obs, reward,
    terminated, truncated, info)."""
    obs, info = env.reset(seed=seed, options=options)
    unwrapped, expert, trajectory = env.unwrapped, ScriptedExpert(), []
    slot = unwrapped.target_slot if aim == "target" else OTHER_SLOT[unwrapped.target_slot]
    steps = len(actions) if actions is not None else EPISODE_STEPS
    for t in range(steps):
        action = actions[t] if actions is not None else expert.act(unwrapped.banana_observation(slot))
        step = env.step(action)
        trajectory.append((action, *step))
        if step[2] or step[3]:
            break
    return (obs, info), trajectory


def terms_of(trajectory: list, term: str) -> list[float]:
    return [step[5]["reward_terms"][term] for step in trajectory]


# ==================================================================== API
@pytest.mark.parametrize("env_id", IDS)
def test_check_env(env_id: str) -> None:
    run_check_env(gym.make(env_id, width=32, height=32).unwrapped)


def test_check_env_with_the_rule_shown() -> None:
    run_check_env(gym.make(IDS[0], show_rule=True, width=32, height=32).unwrapped)


def test_ids_are_registered_with_their_split_and_episode_length() -> None:
    assert HIDDEN_SIDE_IDS == {
        "BananaGrasp/Lift-HiddenSide-v1": "train",
        "BananaGrasp/Lift-HiddenSide-HeldOut-v1": "heldout",
    }
    assert HIDDEN_SIDE_EPISODE_STEPS == EPISODE_STEPS
    assert not set(HIDDEN_SIDE_IDS) & set(HIDDEN_TARGET_IDS)
    for env_id, split in HIDDEN_SIDE_IDS.items():
        env = gym.make(env_id)
        assert env.spec.max_episode_steps == EPISODE_STEPS
        unwrapped = env.unwrapped
        assert isinstance(unwrapped, HiddenSideEnv) and unwrapped.split == split
        assert set(env.observation_space.spaces) == set(STATE_KEYS)  # the registered ids never show the rule
        # The lift env's v2 physics (4 ms x 10 substeps) and bounded gripper keys.
        assert (unwrapped.model.opt.timestep, unwrapped._frame_skip) == (0.004, 10)
        assert np.all(np.isfinite(env.observation_space["gripper_pos"].high))
        _, info = env.reset(seed=0)
        assert isinstance(info["task"], HiddenSideTask) and info["touched"] is None and info["lifted"] is None


@pytest.mark.parametrize("env_id", IDS)
def test_env_pickles(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    env.reset(seed=1)
    clone = pickle.loads(pickle.dumps(env))
    assert isinstance(clone, HiddenSideEnv) and clone.split == env.split
    (_, info), trajectory = rollout(clone, seed=5)
    (_, info_ref), trajectory_ref = rollout(env, seed=5)
    assert (info["task"], info["scene"]) == (info_ref["task"], info_ref["scene"])
    for step, step_ref in zip(trajectory, trajectory_ref, strict=True):
        assert all(np.array_equal(step[1][k], step_ref[1][k]) for k in STATE_KEYS) and step[2] == step_ref[2]


def test_trial_keeps_the_rule_and_draws_new_scenes() -> None:
    env = Trial(gym.make(IDS[0]), episodes=3)
    _, info = env.reset(seed=2, options={"task": HiddenSideTask("right")})
    scenes, rules, done = [info["scene"]], [info["task"]], False
    unwrapped = env.unwrapped
    while not done:
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        done = terminated or truncated
        if not done and unwrapped.scene != scenes[-1]:
            scenes.append(unwrapped.scene)
            rules.append(unwrapped.task)
    assert len(scenes) == 3 and set(rules) == {HiddenSideTask("right")}
    assert len(info["trial_successes"]) == len(info["trial_lifted"]) == 3


# ================================================================ seeding
@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_trajectory(env_id: str) -> None:
    (obs_a, info_a), traj_a = rollout(gym.make(env_id), seed=7)
    actions = [step[0] for step in traj_a]
    (obs_b, info_b), traj_b = rollout(gym.make(env_id), seed=7, actions=actions)
    assert (info_a["task"], info_a["scene"]) == (info_b["task"], info_b["scene"])
    assert all(np.array_equal(obs_a[k], obs_b[k]) for k in STATE_KEYS)
    assert len(traj_a) == len(traj_b) == EPISODE_STEPS and traj_a[-1][4]  # truncated at the registered length
    for (_, o_a, r_a, te_a, tr_a, i_a), (_, o_b, r_b, te_b, tr_b, i_b) in zip(traj_a, traj_b, strict=True):
        assert all(np.array_equal(o_a[k], o_b[k]) for k in STATE_KEYS)
        assert (r_a, te_a, tr_a, i_a["is_success"], i_a["lifted"], i_a["touched"]) == (
            r_b,
            te_b,
            tr_b,
            i_b["is_success"],
            i_b["lifted"],
            i_b["touched"],
        )
        assert i_a["reward_terms"] == i_b["reward_terms"]
    assert traj_a[-1][5]["is_success"]
    env = gym.make(env_id)  # the same env, reseeded after an episode, starts over identically
    env.reset(seed=7)
    for action in actions[:30]:
        env.step(action)
    obs_again, info_again = env.reset(seed=7)
    assert (info_again["task"], info_again["scene"]) == (info_a["task"], info_a["scene"])
    assert all(np.array_equal(obs_again[k], obs_a[k]) for k in STATE_KEYS)


def test_a_pinned_rule_gets_a_fresh_scene_each_episode() -> None:
    env = gym.make(IDS[0])
    infos = [env.reset(seed=s, options={"task": HiddenSideTask("left")})[1] for s in range(6)]
    assert {info["task"] for info in infos} == {HiddenSideTask("left")}
    assert len({info["scene"] for info in infos}) == 6


# ======================================================= rules and scenes
@pytest.mark.parametrize("split", SPLITS)
def test_sampled_rules_and_scenes_belong_to_their_split_only(split: str) -> None:
    space, other = hidden_side_space(split), hidden_side_space(OTHER_SPLIT[split])
    rng = np.random.default_rng(SPLITS.index(split))
    rules = [space.sample(rng) for _ in range(400)]
    assert all(space.contains(rule) and other.contains(rule) for rule in rules)  # both rules in both splits
    assert 0.4 < sum(rule.side == "left" for rule in rules) / 400 < 0.6
    cells, hues = set(), set()
    for _ in range(400):
        scene = space.sample_scene(rng)
        cells.add(check_scene(scene, split))  # the documented space, restated here ...
        assert space.contains_scene(scene) and not other.contains_scene(scene)  # ... and the code agrees
        hues |= {band_index(colorsys.rgb_to_hsv(*banana.color)[0], split) for banana in (scene.a, scene.b)}
    # Every band of the split colours bananas, and the pair's middle reaches every cell of the split.
    assert hues == {0, 1, 2, 3} and len(cells) == CELLS * CELLS // 2


def test_train_and_heldout_scenes_are_disjoint() -> None:
    rng = np.random.default_rng(0)
    drawn = {split: [hidden_side_space(split).sample_scene(rng) for _ in range(300)] for split in SPLITS}
    for split, scenes in drawn.items():
        parities = {sum(cell_of((s.a.x + s.b.x) / 2, (s.a.y + s.b.y) / 2)) % 2 for s in scenes}
        assert parities == {SPLITS.index(split)}
        hues = [colorsys.rgb_to_hsv(*banana.color)[0] for s in scenes for banana in (s.a, s.b)]
        assert all(band_index(hue, OTHER_SPLIT[split]) is None for hue in hues)


def test_slot_a_is_on_the_robots_left() -> None:
    """Left, seen from the robot: the side of the gripper's left finger at its home yaw (+y), and
    the left half of the robot's own (wrist) camera image; the front camera, facing the robot,
    sees it on its right."""
    env = gym.make(IDS[0]).unwrapped
    m, d = env.model, env.data
    wrist, front = m.camera("wrist").id, m.camera("front").id

    def image_x(camera: int, point: np.ndarray) -> float:  # camera frame: x to the image's right
        return float((d.cam_xmat[camera].reshape(3, 3).T @ (point - d.cam_xpos[camera]))[0])

    for seed in range(40):
        obs, info = env.reset(seed=seed)
        a, b = obs["banana_a_pos"].astype(float), obs["banana_b_pos"].astype(float)
        assert a[1] - b[1] >= LEFT_MARGIN and info["scene"].a.y > info["scene"].b.y
        left, right = d.xpos[m.body("left_finger").id], d.xpos[m.body("right_finger").id]
        hand_left = (left - right)[:2] / np.linalg.norm((left - right)[:2])  # the hand's left, in the table plane
        assert hand_left @ (a - b)[:2] > LEFT_MARGIN
        assert image_x(wrist, a) < image_x(wrist, b) and image_x(front, a) > image_x(front, b)


# ============================================== the observation hides the rule
def test_observation_is_the_same_under_either_rule() -> None:
    """One seed under the two rules: the same scene, and the same actions give bit-identical
    observations; only the rewards, touched and is_success differ."""
    env = gym.make(IDS[0])
    left, right = HiddenSideTask("left"), HiddenSideTask("right")
    (obs_l, info_l), traj_l = rollout(env, seed=3, options={"task": left})
    assert env.unwrapped.target_slot == "a"
    actions = [step[0] for step in traj_l]
    (obs_r, info_r), traj_r = rollout(env, seed=3, options={"task": right}, actions=actions)
    assert env.unwrapped.target_slot == "b"
    assert info_l["scene"] == info_r["scene"] and all(np.array_equal(obs_l[k], obs_r[k]) for k in obs_l)
    for (_, o_l, _, te_l, _, i_l), (_, o_r, _, te_r, _, i_r) in zip(traj_l, traj_r, strict=True):
        assert set(o_l) == set(STATE_KEYS) and all(np.array_equal(o_l[k], o_r[k]) for k in o_l)
        assert te_l == te_r and i_l["lifted"] == i_r["lifted"]
        assert not i_r["is_success"] and i_r["reward_terms"]["grasp"] == i_r["reward_terms"]["success"] == 0.0
    assert traj_l[-1][5]["is_success"] and traj_l[-1][5]["lifted"] == "a" and traj_l[-1][5]["touched"] == "target"
    assert traj_r[-1][5]["touched"] == "decoy"
    # reach_toward="both" pays the same reach under either rule.
    both = gym.make(IDS[0], reach_toward="both")
    _, traj_l = rollout(both, seed=3, options={"task": left}, actions=actions)
    _, traj_r = rollout(both, seed=3, options={"task": right}, actions=actions)
    assert terms_of(traj_l, "reach") == terms_of(traj_r, "reach")


def test_show_rule_adds_the_rule_key_and_only_then() -> None:
    shown = gym.make(IDS[1], show_rule=True)
    assert set(shown.observation_space.spaces) == {*STATE_KEYS, "rule"}
    hidden = gym.make(IDS[1])
    for side, value in (("left", -1.0), ("right", 1.0)):
        obs, _ = shown.reset(seed=0, options={"task": HiddenSideTask(side)})
        assert obs["rule"].dtype == np.float32 and obs["rule"].tolist() == [value]
        assert shown.observation_space.contains(obs)
        hidden_obs, _ = hidden.reset(seed=0, options={"task": HiddenSideTask(side)})
        assert set(hidden_obs) == set(STATE_KEYS) and all(np.array_equal(hidden_obs[k], obs[k]) for k in STATE_KEYS)
        obs, *_ = shown.step(np.zeros(5, np.float32))
        hidden_obs, *_ = hidden.step(np.zeros(5, np.float32))
        assert obs["rule"].tolist() == [value] and all(np.array_equal(hidden_obs[k], obs[k]) for k in STATE_KEYS)


# ================================================================ rewards
@pytest.mark.parametrize("reach_toward", ["target", "both"])
@pytest.mark.parametrize("aim", ["target", "decoy", "random"])
def test_reward_is_the_sum_of_its_terms(reach_toward: str, aim: str) -> None:
    env = gym.make(IDS[0], reach_toward=reach_toward)
    actions = np.random.default_rng(1).uniform(-1, 1, (EPISODE_STEPS, 5)) if aim == "random" else None
    _, trajectory = rollout(env, seed=4, aim="target" if aim == "random" else aim, actions=actions)
    for *_, reward, _, _, info in trajectory:
        terms = info["reward_terms"]
        assert tuple(terms) == REWARD_TERMS
        assert reward == pytest.approx(sum(terms.values()), abs=1e-12)
        assert all(info[f"reward_{term}"] == terms[term] for term in REWARD_TERMS)


@pytest.mark.parametrize("side", ["left", "right"])
def test_the_first_touch_of_the_target_pays_once(side: str) -> None:
    env = gym.make(IDS[0])
    (_, info), trajectory = rollout(env, seed=8, options={"task": HiddenSideTask(side)})
    assert env.unwrapped.target_slot == SLOT_OF_SIDE[side] and info["touched"] is None
    touch = terms_of(trajectory, "touch")
    first = next(t for t, step in enumerate(trajectory) if step[1]["finger_contact"].any())
    assert touch[first] == TOUCH_W and sum(touch) == TOUCH_W and touch.count(0.0) == len(touch) - 1
    assert [step[5]["touched"] for step in trajectory] == [None] * first + ["target"] * (len(trajectory) - first)
    last = trajectory[-1][5]
    assert last["is_success"] and last["lifted"] == SLOT_OF_SIDE[side] and sum(terms_of(trajectory, "success")) > 0


@pytest.mark.parametrize("terminate_on_decoy", [False, True])
def test_the_first_touch_of_the_decoy_costs_once(terminate_on_decoy: bool) -> None:
    env = gym.make(IDS[0], terminate_on_decoy=terminate_on_decoy)
    _, trajectory = rollout(env, seed=8, options={"task": HiddenSideTask("left")}, aim="decoy")
    touch = terms_of(trajectory, "touch")
    first = next(t for t, step in enumerate(trajectory) if step[1]["finger_contact"].any())
    assert touch[first] == -TOUCH_W and sum(touch) == -TOUCH_W
    assert trajectory[first][5]["touched"] == "decoy"
    for term in ("grasp", "lift", "success"):  # paid for the target only
        assert not any(terms_of(trajectory, term)), term
    if terminate_on_decoy:  # the wrong first choice ends the episode at once
        assert len(trajectory) == first + 1 and trajectory[-1][3] and not trajectory[-1][4]
    else:  # the episode goes on, and the expert lifts the decoy: no success, reported as the decoy's slot
        assert len(trajectory) == EPISODE_STEPS and not any(step[3] for step in trajectory)
        last = trajectory[-1][5]
        assert last["lifted"] == "b" and not last["is_success"] and last["touched"] == "decoy"


def test_a_first_touch_of_both_bananas_counts_as_the_decoy() -> None:
    env = HiddenSideEnv()
    env.reset(seed=0, options={"task": HiddenSideTask("right")})
    both = Measured([0.05, 0.05], [0.0, 0.0], [True, True], [False, False], 0.08, False)
    _, info = env._evaluate(both)
    assert info["touched"] == "decoy" and info["reward_terms"]["touch"] == -TOUCH_W
    _, info = env._evaluate(both)  # paid once
    assert info["touched"] == "decoy" and info["reward_terms"]["touch"] == 0.0


def test_success_is_a_grasp_of_the_target_clear_of_the_table() -> None:
    env = HiddenSideEnv()
    env.reset(seed=0, options={"task": HiddenSideTask("left")})
    cases = [  # (grasped, height) of a, then of b -> lifted
        (((True, LIFT_HEIGHT), (False, 0.0)), "a"),
        (((True, LIFT_HEIGHT - 1e-4), (False, 0.0)), None),  # still on the table
        (((False, 0.08), (False, 0.0)), None),  # tipped up, not held
        (((False, 0.0), (True, 0.05)), "b"),  # the decoy
    ]
    for ((grasp_a, height_a), (grasp_b, height_b)), lifted in cases:
        measured = Measured([0.0, 0.1], [height_a, height_b], [grasp_a, grasp_b], [grasp_a, grasp_b], 0.03, False)
        _, info = env._evaluate(measured)
        assert info["lifted"] == lifted and info["is_success"] == (lifted == "a")


def test_sparse_reward_pays_success_only() -> None:
    env = gym.make(IDS[0], reward_type="sparse")
    _, trajectory = rollout(env, seed=8)
    assert all(step[2] == float(step[5]["is_success"]) for step in trajectory)
    assert not any(terms_of(trajectory, "touch")) and trajectory[-1][5]["touched"] == "target"


# ================================================================ bad input
@pytest.mark.parametrize("side", ["up", "Left", "", None, 0])
def test_a_rule_needs_a_side(side) -> None:
    with pytest.raises(ValueError, match=r"HiddenSideTask side must be one of 'left', 'right'; got"):
        HiddenSideTask(side)


@pytest.mark.parametrize("bad", [Task(), HiddenTargetTask(0.16), "left", {"side": "left"}])
def test_a_task_of_another_family_is_rejected(bad) -> None:
    env = gym.make(IDS[0])
    match = rf"options\['task'\] must be a banana_grasp.envs.HiddenSideTask; got {type(bad).__name__}"
    with pytest.raises(ValueError, match=match):
        env.reset(options={"task": bad})
    env.reset(seed=0)  # still usable


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"split": "test"}, ValueError, r"unknown split 'test'; allowed: train, heldout"),
        ({"reach_toward": "nearer"}, ValueError, r"unknown reach_toward 'nearer'; allowed: target, both"),
        ({"touch_weight": -1.0}, ValueError, r"touch_weight must be a finite number >= 0"),
        ({"show_rule": True, "obs_mode": "pixels"}, ValueError, r"show_rule=True .* needs obs_mode='state'"),
        ({"side": "left"}, TypeError, r"unexpected keyword argument 'side'"),
    ],
)
def test_bad_keywords_are_rejected(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        gym.make(IDS[0], **kwargs)


def test_a_scene_must_belong_to_the_split() -> None:
    env = gym.make(IDS[0])
    rng = np.random.default_rng(0)
    scene = hidden_side_space("train").sample_scene(rng)
    _, info = env.reset(seed=0, options={"task": HiddenSideTask("left"), "scene": scene})
    assert info["scene"] == scene
    swapped = HiddenTargetScene(a=scene.b, b=scene.a)  # the right banana in slot a
    heldout = hidden_side_space("heldout").sample_scene(rng)
    for bad in (swapped, heldout):
        with pytest.raises(ValueError, match=r"is not a scene of split 'train': .* banana a on the left"):
            env.reset(seed=0, options={"scene": bad})
    with pytest.raises(ValueError, match=r"options\['scene'\] must be a banana_grasp.envs.HiddenTargetScene"):
        env.reset(seed=0, options={"scene": (scene.a, scene.b)})


def test_calls_before_reset_raise_clear_errors() -> None:
    env = HiddenSideEnv()
    with pytest.raises(ResetNeeded, match=r"call reset\(\) before step\(\)"):
        env.step(np.zeros(5, np.float32))
    with pytest.raises(ResetNeeded, match=r"call reset\(\) before target_slot"):
        env.target_observation()


# ======================================================= scripted expert
QUICK_EXPERT_TASKS = 20  # per id, in every selection (the sweep is slow)


def check_expert(env_id: str, n_episodes: int) -> None:
    """Aimed at the target, the scripted expert holds it clear of the table at the end of >= 95%
    of the episodes of reset(seed=0 ... n_episodes - 1), and its open gripper never touches the decoy."""
    split = HIDDEN_SIDE_IDS[env_id]
    env = gym.make(env_id)
    unwrapped, expert = env.unwrapped, ScriptedExpert()
    failures, sides = [], []
    for seed in range(n_episodes):
        _, info = env.reset(seed=seed)
        check_scene(info["scene"], split)
        sides.append(info["task"].side)
        expert.reset()
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(expert.act(unwrapped.target_observation()))
            done = terminated or truncated
        assert not info["physics_diverged"] and info["touched"] == "target", (seed, info["scene"])
        if not info["is_success"]:
            failures.append((seed, info["task"], info["lifted"]))
    assert set(sides) == {"left", "right"}
    assert len(failures) <= n_episodes * 0.05, f"{len(failures)}/{n_episodes} failed: {failures}"


@pytest.mark.parametrize("env_id", IDS)
def test_scripted_expert_succeeds_on_a_quick_sample(env_id: str) -> None:
    check_expert(env_id, QUICK_EXPERT_TASKS)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", IDS)
def test_scripted_expert_sweep(env_id: str) -> None:
    check_expert(env_id, 100)
