"""The hidden-side family in the comparison: its entry in FAMILIES, its learners (the oracle
shown the rule), its 50-step episodes through every learner kind, and a tiny comparison run
from a preset file of the tests (nothing learns at this size; the expert must succeed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from banana_grasp.agents.families import FAMILIES, variation_env_id
from banana_grasp.agents.learners import registry
from banana_grasp.agents.learners.envs import EnvSpec, env_factory
from banana_grasp.agents.run.compare import compare
from banana_grasp.envs import HIDDEN_SIDE_IDS, HiddenSideTask, ScriptedExpert

pytestmark = pytest.mark.xdist_group("hidden-side-tiny-run")
SIDE = FAMILIES["hidden-side"]
TRAIN = EnvSpec("hidden-side", "train", "interleaved")
TINY = """\
seeds: [0, 1]
learners: [side-left-specialist, side-right-specialist, side-multi-task, side-oracle, side-rl2, random, expert]
train_steps: {ppo: 512, rl2: 3200}  # rl2: two rollouts of 16 trials x 100 steps
protocol: {variation: hidden-side, split: heldout, k: [0, 1], own_k: 1, eval_episodes: 1, heldout_tasks: 2,
           train_tasks: 2}
video_tasks: 1
algo_overrides:
  ppo: {n_steps: 32, batch_size: 128, n_epochs: 2}
  rl2: {minibatch_trials: 8, n_epochs: 2}
"""


def test_the_family_names_its_ids_rules_and_episode_length() -> None:
    assert SIDE.variations == ("hidden-side", "hidden-side-left", "hidden-side-right")
    assert {variation_env_id("hidden-side", s) for s in ("train", "heldout")} == set(HIDDEN_SIDE_IDS)
    assert variation_env_id("hidden-side-left", "train") == "BananaGrasp/Lift-HiddenSide-v1"
    assert SIDE.pinned_task("hidden-side-left") == HiddenSideTask("left") and SIDE.pinned_task("hidden-side") is None
    assert TRAIN.episode_steps == 50 and EnvSpec("both", "heldout", "interleaved").episode_steps == 100
    with pytest.raises(ValueError, match="'hidden-side-right' is one training rule: it has no 'heldout' split"):
        SIDE.check("hidden-side-right", "heldout")
    rng = np.random.default_rng(0)
    assert {SIDE.task_sampler("hidden-side", "heldout", "interleaved").sample(rng).side for _ in range(20)} == {
        "left",
        "right",
    }


def test_only_the_oracle_sees_the_rule_and_the_specialists_keep_theirs() -> None:
    oracle, multi = registry.learner("side-oracle"), registry.learner("side-multi-task")
    assert oracle.shows_task and oracle.kind == multi.kind and oracle.hyperparameters == multi.hyperparameters
    env = env_factory(oracle, TRAIN)()
    for seed, side in ((0, "left"), (1, "right")):
        obs, _ = env.reset(seed=seed, options={"task": HiddenSideTask(side)})
        assert obs["rule"][0] == (-1.0 if side == "left" else 1.0)
    assert "rule" not in env_factory(multi, TRAIN)().reset(seed=0)[0]
    left = env_factory(registry.learner("side-left-specialist"), EnvSpec("hidden-side-left", "train", "interleaved"))()
    assert {left.reset(seed=s)[1]["task"] for s in range(5)} == {HiddenSideTask("left")}


def test_rl2_plays_trials_of_two_50_step_episodes_and_the_family_reads_them() -> None:
    env = env_factory(registry.learner("side-rl2"), TRAIN, HiddenSideTask("right"), trial_episodes=2)()
    expert, (obs, _) = ScriptedExpert(), env.reset(seed=3)
    steps, done = 0, False
    while not done:  # the expert, shown the target by the env, in both episodes (a fresh one in each)
        expert = ScriptedExpert() if obs["prev_done"][0] > 0 else expert
        obs, _, terminated, truncated, info = env.step(expert.act(env.unwrapped.target_observation()))
        steps, done = steps + 1, terminated or truncated
    assert steps == 100 and info["trial_successes"] == [True, True]
    fields = SIDE.outcome_fields(info["trial_infos"])
    assert fields == {"lifted": "target", "first_lifted": "target", "touched": "target", "first_touched": "target"}
    assert SIDE.outcome_fields(info["trial_infos"][-1:])["first_touched"] is None  # one episode: no first


@pytest.fixture(scope="module")
def side_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hidden-side")
    (folder / "side-tiny.yaml").write_text(TINY)
    compare(str(folder / "side-tiny.yaml"), folder / "run", workers=2, progress=False)
    return folder / "run"


def test_a_tiny_hidden_side_run_records_choices_and_the_references(side_run: Path) -> None:
    with open(side_run / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[-4:] == ["lifted", "first_lifted", "touched", "first_touched"]
    assert {r["touched"] for r in rows} <= {"target", "decoy", "none"}
    assert {(r["learner"], r["k"]) for r in rows if r["first_touched"]} == {("side-rl2", "1")}
    expert = [r for r in rows if r["learner"] == "expert"]
    assert all(r["success"] == "1" and r["lifted"] == r["touched"] == "target" for r in expert)
    results = json.loads((side_run / "results.json").read_text())
    assert results["env_id"] == "BananaGrasp/Lift-HiddenSide-HeldOut-v1"
    assert results["learners"]["side-oracle"]["shows_task"] is True
    assert "shows_task" not in results["learners"]["side-multi-task"]
    assert set(results["in_context_choice"]) == {"side-rl2"}
    report = (side_run / "report.md").read_text()
    assert "| side-rl2 | held-out scenes after k=1 |" in report
    assert "first touched the decoy" in report
    assert "side-oracle is shown the rule (an oracle)" in report
    assert "side-multi-task has no memory and is not shown the rule" in report
