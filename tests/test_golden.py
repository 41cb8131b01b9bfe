"""Golden rollouts: every registered id replays the rollouts stored in tests/golden/ exactly.

The other env tests compare today's code with itself; these compare it with the trajectories
recorded when each id's version was released, float for float (frames by SHA-256), so a change
of the action scale, a servo gain, a mass or a friction fails here even when the scripted
expert still lifts. Regenerate a file only when its id's version is bumped
(tests/golden/README.md).
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from banana_grasp.envs import (
    ENV_IDS,
    HIDDEN_TARGET_IDS,
    V0_ENV_IDS,
    V1_ENV_IDS,
    V2_ENV_IDS,
    V2_HIDDEN_TARGET_IDS,
    V3_HIDDEN_TARGET_IDS,
    golden,
)

GOLDEN = Path(__file__).resolve().parent / "golden"
# Restated from the registry, not from golden.registered_ids(): a new id needs a golden file.
REGISTERED = sorted(env_id for env_id in gym.registry if env_id.startswith("BananaGrasp/"))


def test_every_registered_id_has_a_golden_file_and_no_other() -> None:
    stored = {path.name for path in GOLDEN.glob("*.npz")}
    assert stored == {golden.golden_path(GOLDEN, env_id).name for env_id in REGISTERED}
    # Not vacuous: the registry holds every id the package lists.
    assert set(ENV_IDS) | set(V0_ENV_IDS) | set(V1_ENV_IDS) | set(V2_ENV_IDS) <= set(REGISTERED)
    assert set(HIDDEN_TARGET_IDS) | set(V2_HIDDEN_TARGET_IDS) | set(V3_HIDDEN_TARGET_IDS) <= set(REGISTERED)


@pytest.mark.parametrize("env_id", REGISTERED)
def test_the_rollouts_replay_float_for_float(env_id: str) -> None:
    expected = golden.load(golden.golden_path(GOLDEN, env_id))
    actual = golden.record_golden(env_id)
    assert sorted(actual) == sorted(expected)
    for key in sorted(expected):  # strict: the shapes and dtypes too
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=f"{env_id}: {key}", strict=True)


def test_the_golden_files_hold_what_the_readme_says() -> None:
    """Each file's rollouts: every id a fixed action sequence, a few ids the expert's whole
    episode (which lifts), one id its frames by hash; the fixed part touches the banana in the
    ids whose banana lies in the middle (so contacts and the grip are pinned, not free motion)."""
    for env_id in REGISTERED:
        arrays = golden.load(golden.golden_path(GOLDEN, env_id))
        names = {key.split(".", 1)[0] for key in arrays}
        assert names == {spec.name for spec in golden.rollouts(env_id)}, env_id
        np.testing.assert_array_equal(arrays["fixed.actions"], golden.golden_actions(golden.FIXED_SEED))
        assert arrays["fixed.obs.gripper_pos"].shape == (golden.FIXED_STEPS + 1, 3)
    with_expert = {env_id for env_id in REGISTERED if any(spec.expert for spec in golden.rollouts(env_id))}
    assert with_expert == set(golden.EXPERT_IDS)
    for env_id in golden.EXPERT_IDS:
        arrays = golden.load(golden.golden_path(GOLDEN, env_id))
        assert arrays["expert.reward"].shape == (100,) and arrays["expert.truncated"][-1]
        assert arrays["expert.info.is_success"][-1]
    for env_id in ("BananaGrasp/Lift-v3", "BananaGrasp/Lift-Color-v0", "BananaGrasp/Lift-HiddenTarget-v2"):
        assert golden.load(golden.golden_path(GOLDEN, env_id))["fixed.info.reward_grasp"].any(), env_id
    pixels = golden.load(golden.golden_path(GOLDEN, golden.PIXEL_ID))
    digests = pixels["pixels.obs.pixels.sha256"]
    assert digests.shape == (golden.FIXED_STEPS + 1,) and len(set(digests.tolist())) > golden.FIXED_STEPS // 2
    assert (pixels["pixels.obs.pixels.shape"] == (64, 64, 3)).all()
    np.testing.assert_array_equal(pixels["pixels.state.gripper_pos"], pixels["fixed.obs.gripper_pos"])
    assert not any(array.dtype == object for array in pixels.values())


@pytest.mark.parametrize(
    ("env_id", "change"),
    [
        ("BananaGrasp/Lift-v3", {"max_translation": 0.021}),  # the action scale, by 5%
        ("BananaGrasp/Lift-HiddenTarget-v4", {"max_rotation": 0.1001}),
        ("BananaGrasp/Lift-v0", {"timestep": 0.0021}),
    ],
    ids=["action-scale", "rotation-scale", "timestep"],
)
def test_a_changed_constant_fails_the_comparison(env_id: str, change: dict) -> None:
    """Not vacuous: the comparison the replay test relies on sees a change of the dynamics."""
    expected = golden.load(golden.golden_path(GOLDEN, env_id))
    assert golden.first_mismatch(expected, golden.record_golden(env_id)) is None
    changed = golden.record_golden(env_id, **change)
    mismatch = golden.first_mismatch(expected, changed)
    assert mismatch is not None and mismatch.split(".", 1)[0] in {"expert", "fixed", "pixels"}
    with pytest.raises(AssertionError):
        for key in sorted(expected):
            np.testing.assert_array_equal(changed[key], expected[key], strict=True)


def test_first_mismatch_names_the_first_difference() -> None:
    expected = {"a": np.zeros(3, np.float32), "b": np.array(["", "a"])}
    assert golden.first_mismatch(expected, dict(expected)) is None
    assert golden.first_mismatch(expected, {"a": expected["a"]}) == "keys differ: missing ['b'], unexpected []"
    assert golden.first_mismatch(expected, {**expected, "a": np.zeros(3)}).startswith("a: expected float32(3,)")
    nudged = np.array([0.0, np.float32(1e-9), 0.0], np.float32)
    assert golden.first_mismatch(expected, {**expected, "a": nudged}).startswith("a[1]: expected")
    assert golden.first_mismatch(expected, {**expected, "b": np.array(["", "b"])}).startswith("b[1]")
