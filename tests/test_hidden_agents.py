"""The hidden-target family in the comparison: its variations, learners, protocol and a run.

The `hidden-tiny` preset trains every kind of learner on the family for a few hundred steps
(nothing learns): the run must write every file, score own tasks after ``own_k`` episodes,
and the expert (shown the target) must lift it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from banana_grasp.agents.families import FAMILIES, family_of, task_sampler, variation_env_id
from banana_grasp.agents.families.hidden_target import HIDDEN_TARGET_RULES
from banana_grasp.agents.learners import registry
from banana_grasp.agents.learners.envs import EnvSpec, env_factory
from banana_grasp.agents.protocol.evaluation import Outcome
from banana_grasp.agents.protocol.presets import EvalProtocol, preset
from banana_grasp.agents.run.compare import compare
from banana_grasp.envs import ENV_IDS, HIDDEN_TARGET_IDS, HiddenTargetTask, Task, hidden_target_space

from timeouts import scaled

pytestmark = pytest.mark.xdist_group("hidden-tiny-run")
HIDDEN_IDS_TRAIN = "BananaGrasp/Lift-HiddenTarget-v4"
HIDDEN_TARGET = FAMILIES["hidden-target"]


def test_every_variation_names_its_family_and_env_id() -> None:
    for variation in FAMILIES["lift"].variations + HIDDEN_TARGET.variations:
        if family_of(variation).name == "lift":
            assert variation_env_id(variation, "train") in ENV_IDS
        else:
            assert variation_env_id(variation, "train") == "BananaGrasp/Lift-HiddenTarget-v4"
    assert variation_env_id("hidden-target", "heldout") == "BananaGrasp/Lift-HiddenTarget-HeldOut-v4"
    assert set(HIDDEN_TARGET_IDS) == {variation_env_id("hidden-target", s) for s in ("train", "heldout")}


@pytest.mark.parametrize(
    ("variation", "split", "message"),
    [
        ("hidden-target-green", "train", "unknown variation 'hidden-target-green'; allowed: none, color"),
        ("hidden-target-yellow", "heldout", "is one training rule: it has no 'heldout' split"),
        ("hidden-target", "test", "unknown hidden-target split 'test'; allowed: train, heldout$"),
    ],
)
def test_bad_variations_are_named(variation: str, split: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        variation_env_id(variation, split)


def test_fixed_rules_are_train_rules_and_samplers_draw_their_split() -> None:
    train, heldout = hidden_target_space("train"), hidden_target_space("heldout")
    rng = np.random.default_rng(0)
    for name, rule in HIDDEN_TARGET_RULES.items():
        assert train.contains(rule) and not heldout.contains(rule), name
        assert {task_sampler(name, "train", "interleaved").sample(rng) for _ in range(5)} == {rule}
    rules = [task_sampler("hidden-target", "heldout", "interleaved").sample(rng) for _ in range(50)]
    assert all(isinstance(r, HiddenTargetTask) and heldout.contains(r) for r in rules)
    assert len({round(r.target_hue, 6) for r in rules}) == 50
    assert isinstance(task_sampler("both", "heldout", "interleaved").sample(rng), Task)


def test_a_single_task_learner_sees_only_its_rule() -> None:
    spec = registry.learner("hidden-yellow-specialist")
    env = env_factory(spec, EnvSpec(spec.variation, "train", "interleaved"))()
    seen = set()
    for seed in range(6):
        _, info = env.reset(seed=seed)
        seen.add(info["task"])
        scene = info["scene"]
        target = [slot for slot in ("a", "b") if info["task"].is_target(scene.banana(slot).color)]
        assert len(target) == 1  # one target, one decoy of another colour
    env.close()
    assert seen == {HIDDEN_TARGET_RULES["hidden-target-yellow"]}


def test_protocol_checks_own_k_and_names_the_hidden_tasks() -> None:
    protocol = EvalProtocol(variation="hidden-target", split="heldout", own_k=1)
    assert protocol.family.name == "hidden-target" and protocol.tasks_label == "held-out rules"
    assert all(hidden_target_space("heldout").contains(t) for t in protocol.evaluation_tasks())
    with pytest.raises(ValueError, match="own_k must be at most the largest k \\(1\\); got 2"):
        EvalProtocol(variation="hidden-target", split="heldout", own_k=2)
    with pytest.raises(ValueError, match="own_k must be an integer >= 0; got -1"):
        EvalProtocol(own_k=-1)
    with pytest.raises(ValueError, match="protocol: variation 'hidden-target-blue' is one training rule"):
        EvalProtocol(variation="hidden-target-blue", split="heldout")


@pytest.fixture(scope="module")
def hidden_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("hidden") / "run"
    compare("hidden-tiny", run, workers=2, progress=False)
    return run


def test_hidden_tiny_run_writes_its_report(hidden_run: Path) -> None:
    chosen = preset("hidden-tiny")
    report = (hidden_run / "report.md").read_text()
    assert "| learner | role | trained on | own-variation success after k=1 | held-out rules, zero-shot |" in report
    assert "held-out rules: 2 tasks of `BananaGrasp/Lift-HiddenTarget-HeldOut-v4`" in report
    for name in chosen.learners:
        assert f"| {name} |" in report
    results = json.loads((hidden_run / "results.json").read_text())
    assert results["env_id"] == "BananaGrasp/Lift-HiddenTarget-HeldOut-v4"
    assert results["own_k"] == 1
    assert results["heldout_tasks"] == [t.as_dict() for t in chosen.protocol.evaluation_tasks()]
    assert set(results["meta_gain"]) == {"hidden-rl2", "hidden-fomaml"}


def test_hidden_tiny_run_scores_own_tasks_after_own_k(hidden_run: Path) -> None:
    chosen = preset("hidden-tiny")
    with open(hidden_run / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    own = [r for r in rows if r["phase"] == "train"]
    trained = [s.name for s in chosen.specs() if s.trained]
    assert {r["learner"] for r in own} == set(trained)
    assert {r["k"] for r in own} == {"1"}
    assert len(own) == len(trained) * len(chosen.seeds) * chosen.protocol.train_tasks
    expert = [r["success"] == "1" for r in rows if r["learner"] == "expert"]
    assert len(expert) == 2 * len(chosen.seeds) * chosen.protocol.heldout_tasks and all(expert)


def test_hidden_tiny_run_says_which_banana_each_episode_ended_holding(hidden_run: Path) -> None:
    with open(hidden_run / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["lifted"] for r in rows} <= {"target", "decoy", "none"}
    # The expert lifts the target in every episode; success and the role agree for everyone.
    assert {r["lifted"] for r in rows if r["learner"] == "expert"} == {"target"}
    assert all((r["success"] == "1") == (r["lifted"] == "target") for r in rows)
    results = json.loads((hidden_run / "results.json").read_text())
    expert = results["banana_choice"]["expert"]["evaluation"]
    assert expert["held"] == expert["target"] == expert["episodes"] and expert["target_share"] == 1.0
    assert "own" not in results["banana_choice"]["expert"]  # untrained: no own rules
    report = (hidden_run / "report.md").read_text()
    assert "Which banana the episodes ended holding" in report


def test_hidden_tiny_run_says_what_rl2_held_in_each_trials_first_episode(hidden_run: Path) -> None:
    """Only RL^2 adapts in context: its rows after k=1 name the first episode's banana, and the
    report groups its scored episodes by it."""
    with open(hidden_run / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    firsts = {(r["learner"], r["k"]) for r in rows if r["first_lifted"]}
    assert firsts == {("hidden-rl2", "1")}
    assert {r["first_lifted"] for r in rows if r["learner"] == "hidden-rl2" and r["k"] == "1"} <= {
        "target",
        "decoy",
        "none",
    }
    results = json.loads((hidden_run / "results.json").read_text())
    memory = results["in_context_choice"]
    assert set(memory) == {"hidden-rl2"} and set(memory["hidden-rl2"]) == {"own", "evaluation"}
    chosen = preset("hidden-tiny")
    trials = sum(group["episodes"] for group in memory["hidden-rl2"]["evaluation"].values())
    assert trials == len(chosen.seeds) * chosen.protocol.heldout_tasks * chosen.protocol.eval_episodes
    report = (hidden_run / "report.md").read_text()
    assert "What the memory of the first episode changed" in report
    assert "| hidden-rl2 | held-out rules after k=1 |" in report


@pytest.mark.parametrize("name", ["hidden-yellow-specialist", "hidden-rl2"])
def test_measure_hidden_choice_script_reads_a_trained_learner(hidden_run: Path, name: str) -> None:
    """scripts/measure_hidden_choice.py on the tiny run's learners: shares of the episodes, and for
    RL^2 the second episode's choice by what the first held (nan where no episode held one)."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "measure_hidden_choice.py"
    command = [sys.executable, str(script), "--run", str(hidden_run), "--learner", name, "--episodes", "3"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=scaled(120)).stdout
    values = dict(line.rsplit(": ", 1) for line in out.strip().splitlines())
    keys = (["first episode: target held", "second, of holds, after the decoy in the first: target"]
            if name == "hidden-rl2" else ["lifted target", "lifted none", "of lifts: target"])  # fmt: skip
    assert set(keys) <= set(values)
    shares = [float(value) for value in values.values()]
    assert all(np.isnan(v) or 0.0 <= v <= 1.0 for v in shares)
    if name != "hidden-rl2":  # target, decoy and none share the episodes
        assert abs(sum(float(values[f"lifted {role}"]) for role in ("target", "decoy", "none")) - 1.0) < 1e-9


def test_the_finding_says_whether_rl2_used_its_first_episode() -> None:
    """Scored episodes grouped by the first episode's banana; the words come from the intervals."""
    protocol = preset("hidden-tiny").protocol
    spec = registry.learner("hidden-rl2")
    # After a target first: the target kept 18 of 20 times; after a decoy first: 10 of 20, 2 held nothing.
    pairs = [("target", "target")] * 18 + [("target", "decoy")] * 2
    pairs += [("decoy", "target")] * 10 + [("decoy", "decoy")] * 8 + [("decoy", "none")] * 2
    outcomes = [Outcome(spec.name, i % 2, "heldout", 1, i, 0, last == "target", {"lifted": last, "first_lifted": first})
                for i, (first, last) in enumerate(pairs)]  # fmt: skip
    # k=0: no first episode
    outcomes.append(Outcome(spec.name, 0, "heldout", 0, 0, 0, True, {"lifted": "target", "first_lifted": None}))
    memory = HIDDEN_TARGET.in_context_choice(outcomes, [spec], protocol)["hidden-rl2"]
    assert set(memory) == {"evaluation"}
    after_target, after_decoy, after_none = (memory["evaluation"][first] for first in ("target", "decoy", "none"))
    assert (after_target["episodes"], after_target["held"], after_target["target"]) == (20, 20, 18)
    assert (after_decoy["episodes"], after_decoy["held"], after_decoy["target"]) == (20, 18, 10)
    assert after_none == {"episodes": 0, "held": 0, "target": 0, "target_share": None, "target_share_ci": None}
    words = " ".join(HIDDEN_TARGET.in_context_findings({"in_context_choice": {"hidden-rl2": memory}}))
    assert ("after a first episode that held the target its scored episode kept the target more often than a coin "
            "flip would (the target in 18 of 20 holds") in words  # fmt: skip
    assert ("after a first episode that held the decoy its scored episode chose as a coin flip would (the target in "
            "10 of 18 holds") in words  # fmt: skip
    # A learner whose first episodes never held a banana: nothing to group by.
    none = Outcome(spec.name, 0, "heldout", 1, 0, 0, False, {"lifted": "none", "first_lifted": "none"})
    nothing = HIDDEN_TARGET.in_context_choice([none], [spec], protocol)
    assert HIDDEN_TARGET.in_context_findings({"in_context_choice": nothing}) == [
        "On the held-out tasks, hidden-rl2: no first episode held the target; no first episode held the decoy."
    ]
    table = HIDDEN_TARGET.in_context_table({"in_context_choice": {"hidden-rl2": memory}, "own_k": 1, "headline_k": 1})
    assert "| hidden-rl2 | held-out after k=1 | 20 trials, 20 held, target 18: 0.90 [" in table
    assert "| 0 trials, none held a banana |" in table


def _choice_outcomes(name: str, roles: list[str]) -> list[Outcome]:
    return [Outcome(name, i % 2, "train", 1, i, 0, role == "target", {"lifted": role}) for i, role in enumerate(roles)]


def test_the_finding_says_whether_a_learner_picks_the_target_or_either_banana() -> None:
    protocol = preset("hidden-tiny").protocol
    specs = [registry.learner("hidden-yellow-specialist"), registry.learner("hidden-blue-specialist")]
    outcomes = _choice_outcomes(specs[0].name, ["target", "decoy"] * 19 + ["none"] * 2)
    outcomes += _choice_outcomes(specs[1].name, ["target"] * 40)
    choice = HIDDEN_TARGET.banana_choice(outcomes, specs, protocol)
    either, target = choice[specs[0].name]["own"], choice[specs[1].name]["own"]
    assert (either["episodes"], either["held"], either["target"], either["target_share"]) == (40, 38, 19, 0.5)
    assert (target["held"], target["target"], target["target_share"]) == (40, 40, 1.0)
    low, high = either["target_share_ci"]
    assert low < 0.5 < high and target["target_share_ci"][0] > 0.9
    summary = {"banana_choice": choice}
    words = " ".join(HIDDEN_TARGET.findings(summary))
    assert ("hidden-yellow-specialist: its choice cannot be told from a coin flip (the interval holds 0.5): it ended "
            "38 of 40 episodes of its own rules holding a banana, the target in 19 of them (0.50") in words  # fmt: skip
    assert ("hidden-blue-specialist: it picks the target more often than a coin flip would: it ended 40 of 40 "
            "episodes") in words  # fmt: skip
    # The lift family has no roles: no choice at all.
    lift = [Outcome("position-specialist", 0, "train", 0, 0, 0, True)]
    assert FAMILIES["lift"].summarize(lift, [registry.learner("position-specialist")], preset("tiny").protocol) == {}


def _swap_slots(obs: dict) -> dict:
    swap = {"banana_a": "banana_b", "banana_b": "banana_a"}
    return {next((key.replace(a, b) for a, b in swap.items() if a in key), key): value for key, value in obs.items()}


def test_banana_attention_sees_two_bananas_not_two_slots() -> None:
    """Swapping the bananas' slots leaves the PPO features and RL^2's actions and values unchanged."""
    import torch

    from banana_grasp.agents.learners.algorithms.trial_ppo import LSTMPolicy
    from banana_grasp.agents.learners.policies.objects import BananaAttentionExtractor
    from banana_grasp.envs import Trial

    torch.manual_seed(0)
    env = gym.make(HIDDEN_IDS_TRAIN)
    obs, _ = env.reset(seed=0)
    extractor = BananaAttentionExtractor(env.observation_space)
    as_batch = lambda o: {key: torch.as_tensor(value)[None] for key, value in o.items()}
    features, swapped = extractor(as_batch(obs)), extractor(as_batch(_swap_slots(obs)))
    assert torch.allclose(features, swapped, atol=1e-6) and features.shape == (1, extractor.features_dim)

    trial = Trial(gym.make(HIDDEN_IDS_TRAIN), 2)
    obs, _ = trial.reset(seed=1)
    policy = LSTMPolicy(trial.observation_space, trial.action_space, lambda _: 3e-4, banana_attention=True)
    x, x_swapped = (policy.flatten(as_batch(o))[None] for o in (obs, _swap_slots(obs)))
    (mean, value, _), (mean_s, value_s, _) = policy.forward_trials(x), policy.forward_trials(x_swapped)
    assert torch.allclose(mean, mean_s, atol=1e-6) and torch.allclose(value, value_s, atol=1e-6)
    # Without the attention the plain LSTM policy does tell the slots apart.
    plain = LSTMPolicy(trial.observation_space, trial.action_space, lambda _: 3e-4)
    assert not torch.allclose(plain.forward_trials(x)[0], plain.forward_trials(x_swapped)[0])


def test_banana_attention_settings_and_errors() -> None:
    from banana_grasp.agents.learners.policies.objects import BananaAttention, BananaAttentionExtractor, algo_settings

    algo = registry.hyperparameters("ppo-bananas")["algo"]
    assert algo["policy_kwargs"]["features_extractor_class"] == "banana-attention"  # a name in the YAML and records
    resolved = algo_settings(algo)
    assert resolved["policy_kwargs"]["features_extractor_class"] is BananaAttentionExtractor
    assert algo_settings(registry.hyperparameters("ppo")["algo"]) == registry.hyperparameters("ppo")["algo"]
    with pytest.raises(ValueError, match=r"unknown features_extractor_class 'cnn'; allowed: banana-attention"):
        algo_settings({"policy_kwargs": {"features_extractor_class": "cnn"}})
    with pytest.raises(ValueError, match=r"needs both bananas' keys; missing: banana_a_pos"):
        BananaAttention(gym.make("BananaGrasp/Lift-v3").observation_space)
    for name in ("hidden-yellow-specialist", "hidden-blue-specialist", "hidden-multi-task", "hidden-rl2",
                 "hidden-reptile", "hidden-fomaml"):  # fmt: skip
        assert registry.learner(name).hyperparameters.endswith("-bananas")
