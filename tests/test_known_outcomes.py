"""The pipeline on outcome tables with a known answer: summarize, the finding's words and the
report's tables.

Each table is written by hand as each learner's success rate per seed (and per adaptation
budget k): seed s of a learner succeeds on task t where ``(t + offset) % 20`` falls below
20 x its rate, so every seed succeeds on exactly its rate's share of every 20 tasks, and the
learners fail on different tasks. The means, the best baseline at each k and the gains are
then plain arithmetic on the rates below; only the interval endpoints come from the
bootstrap, and of those the tests check the sign.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.stats import norm

from banana_grasp.agents.learners.registry import LearnerSpec
from banana_grasp.agents.protocol.evaluation import Outcome
from banana_grasp.agents.protocol.presets import EvalProtocol
from banana_grasp.agents.protocol.summary import summarize
from banana_grasp.agents.report.tables import markdown_tables
from banana_grasp.agents.report.text import finding

SEEDS = [10, 20, 30, 40, 50]
N_TASKS = 40
TRAIN_TASKS = 10
PROTOCOL = EvalProtocol(k=(0, 1), eval_episodes=1, heldout_tasks=N_TASKS, train_tasks=TRAIN_TASKS)
REPS = 1000

pytestmark = pytest.mark.xdist_group("known-outcomes")  # one worker builds the summary, once

SPECS = [
    LearnerSpec("color-specialist", "ppo", "color", "single-task", hyperparameters="ppo"),
    LearnerSpec("position-specialist", "ppo", "position", "single-task", hyperparameters="ppo"),
    LearnerSpec("multi-task", "ppo", "color-or-position", "multi-task", hyperparameters="ppo"),
    LearnerSpec("meta-up", "rl2", "color-or-position", "meta", hyperparameters="rl2"),
    LearnerSpec("meta-down", "reptile", "color-or-position", "meta", hyperparameters="reptile"),
    LearnerSpec("meta-tie", "fomaml", "color-or-position", "meta", hyperparameters="fomaml"),
    LearnerSpec("meta-weak", "reptile", "color-or-position", "meta", hyperparameters="reptile"),
    LearnerSpec("expert", "expert", "both", "reference"),
]

# Success per seed on the evaluation tasks, by k. The best single-task learner is the position
# specialist zero-shot (0.4) and the colour specialist after k = 1 (0.5); the multi-task
# learner beats both at each k (0.6, 0.7), so counting it among the single-task baselines
# changes every gain. After k = 1: meta-up gains 0.4, meta-down loses 0.4, meta-tie ties
# (0.5 = 0.5), meta-weak scores 0.6 but fell below 0.9 on its own variation on a seed.
HELDOUT = {
    "color-specialist": {0: [0.10, 0.20, 0.30, 0.20, 0.20], 1: [0.40, 0.50, 0.60, 0.50, 0.50]},
    "position-specialist": {0: [0.35, 0.40, 0.45, 0.40, 0.40], 1: [0.25, 0.30, 0.35, 0.30, 0.30]},
    "multi-task": {0: [0.55, 0.60, 0.65, 0.60, 0.60], 1: [0.65, 0.70, 0.75, 0.70, 0.70]},
    "meta-up": {0: [0.45, 0.50, 0.55, 0.50, 0.50], 1: [0.85, 0.90, 0.95, 0.90, 0.90]},
    "meta-down": {0: [0.05, 0.10, 0.15, 0.10, 0.10], 1: [0.05, 0.10, 0.15, 0.10, 0.10]},
    "meta-tie": {0: [0.40, 0.40, 0.45, 0.35, 0.40], 1: [0.45, 0.55, 0.50, 0.50, 0.50]},
    "meta-weak": {0: [0.25, 0.30, 0.35, 0.30, 0.30], 1: [0.55, 0.60, 0.65, 0.60, 0.60]},
    "expert": {0: [1.0] * 5, 1: [1.0] * 5},
}
# Own-variation success per seed (TRAIN_TASKS tasks, own_k = 0): 0.9 on a seed is enough.
OWN = {
    "color-specialist": [1.0, 0.9, 1.0, 1.0, 1.0],
    "position-specialist": [1.0] * 5,
    "multi-task": [1.0] * 5,
    "meta-up": [1.0] * 5,
    "meta-down": [1.0] * 5,
    "meta-tie": [1.0] * 5,
    "meta-weak": [1.0, 1.0, 0.8, 1.0, 1.0],
}
# The means of HELDOUT's rows, and the gains they make.
MEANS = {
    "color-specialist": {0: 0.2, 1: 0.5},
    "position-specialist": {0: 0.4, 1: 0.3},
    "multi-task": {0: 0.6, 1: 0.7},
    "meta-up": {0: 0.5, 1: 0.9},
    "meta-down": {0: 0.1, 1: 0.1},
    "meta-tie": {0: 0.4, 1: 0.5},
    "meta-weak": {0: 0.3, 1: 0.6},
    "expert": {0: 1.0, 1: 1.0},
}
BEST_SINGLE = {0: "position-specialist", 1: "color-specialist"}
VS_BEST_SINGLE = {  # meta - best single-task learner at that k
    "meta-up": {0: 0.1, 1: 0.4},
    "meta-down": {0: -0.3, 1: -0.4},
    "meta-tie": {0: 0.0, 1: 0.0},
    "meta-weak": {0: -0.1, 1: 0.1},
}
VS_MULTITASK = {  # meta - multi-task
    "meta-up": {0: -0.1, 1: 0.2},
    "meta-down": {0: -0.5, 1: -0.6},
    "meta-tie": {0: -0.2, 1: -0.2},
    "meta-weak": {0: -0.3, 1: -0.1},
}


def _succeeds(rate: float, offset: int, n_tasks: int) -> list[bool]:
    """``rate`` of every 20 consecutive tasks, from ``offset`` on."""
    assert n_tasks % 20 == 0 and round(20 * rate) == pytest.approx(20 * rate)
    return [(t + offset) % 20 < round(20 * rate) for t in range(n_tasks)]


def _outcomes(heldout: dict, own: dict, seeds: list[int], n_tasks: int, train_tasks: int) -> list[Outcome]:
    """The rows of results.csv: ``heldout[name][k]`` success per seed on the evaluation tasks,
    ``own[name]`` on the learner's own variation (own_k = 0), one episode per task."""
    outcomes = []
    for index, (name, per_k) in enumerate(heldout.items()):
        for k, rates in per_k.items():
            for s, (seed, rate) in enumerate(zip(seeds, rates)):
                for task, success in enumerate(_succeeds(rate, 3 * s + 7 * index + 5 * k, n_tasks)):
                    outcomes.append(Outcome(name, seed, "heldout", k, task, 0, success))
        for seed, rate in zip(seeds, own.get(name, [])):
            hits = round(rate * train_tasks)
            for task in range(train_tasks):
                outcomes.append(Outcome(name, seed, "train", 0, task, 0, task < hits))
    return outcomes


def _speed(names: list[str], seeds: list[int]) -> dict:
    """training_speed where every seed of every trained learner reached 90%."""
    reached = {str(s): {"steps": 40000, "wall_seconds": 80.0} for s in seeds}
    return {
        name: {"steps_per_second": 500.0, "to_90_percent": reached, "seeds_reaching_90_percent": len(seeds)}
        for name in names
    }


@pytest.fixture(scope="module")
def summary() -> dict:
    outcomes = _outcomes(HELDOUT, OWN, SEEDS, N_TASKS, TRAIN_TASKS)
    return summarize(outcomes, SPECS, SEEDS, PROTOCOL, reps=REPS)


def test_the_table_is_what_its_rates_say() -> None:
    # The construction itself: each seed succeeds on its rate's share of the tasks.
    outcomes = _outcomes(HELDOUT, OWN, SEEDS, N_TASKS, TRAIN_TASKS)
    row = [o.success for o in outcomes if (o.learner, o.seed, o.phase, o.k) == ("meta-up", 30, "heldout", 1)]
    assert len(row) == N_TASKS and sum(row) == 38  # 0.95 of 40
    own = [o.success for o in outcomes if (o.learner, o.seed, o.phase) == ("meta-weak", 30, "train")]
    assert own == [True] * 8 + [False] * 2
    for name, per_k in HELDOUT.items():
        for k, rates in per_k.items():
            assert np.mean(rates) == pytest.approx(MEANS[name][k], abs=1e-12)


def test_summary_means_and_own_success(summary: dict) -> None:
    rows = summary["learners"]
    assert list(rows) == [spec.name for spec in SPECS]
    assert (summary["k"], summary["headline_k"], summary["own_k"]) == ([0, 1], 1, 0)
    for name, per_k in MEANS.items():
        for k, mean in per_k.items():
            estimate = rows[name]["heldout_success"][str(k)]
            assert estimate["mean"] == pytest.approx(mean, abs=1e-12), (name, k)
            assert estimate["ci"][0] <= estimate["mean"] <= estimate["ci"][1], (name, k)
    assert rows["color-specialist"]["train_success"]["mean"] == pytest.approx(0.98, abs=1e-12)
    assert rows["color-specialist"]["train_success_per_seed"] == pytest.approx([1.0, 0.9, 1.0, 1.0, 1.0], abs=1e-12)
    assert rows["meta-weak"]["train_success_per_seed"] == pytest.approx([1.0, 1.0, 0.8, 1.0, 1.0], abs=1e-12)
    assert rows["expert"]["train_success"] is None and rows["expert"]["train_success_per_seed"] is None
    assert (rows["meta-up"]["role"], rows["meta-up"]["kind"]) == ("meta", "rl2")
    # The expert succeeds in all 200 cells: its interval is the exact one, [0.025^(1/200), 1].
    assert rows["expert"]["heldout_success"]["1"]["ci"] == pytest.approx([0.025 ** (1 / 200), 1.0], rel=1e-9)


def test_the_best_single_task_learner_changes_with_k(summary: dict) -> None:
    rows = summary["learners"]
    singles = [name for name, row in rows.items() if row["role"] == "single-task"]
    assert singles == ["color-specialist", "position-specialist"]
    for k, best in BEST_SINGLE.items():
        means = {name: rows[name]["heldout_success"][str(k)]["mean"] for name in singles}
        assert max(means, key=means.get) == best
        # The multi-task learner scores above every single-task learner.
        assert rows["multi-task"]["heldout_success"][str(k)]["mean"] > max(means.values())


@pytest.mark.parametrize("meta", list(VS_BEST_SINGLE))
def test_gains_per_k_against_the_single_task_learners_only_and_the_multi_task_learner(summary: dict, meta: str) -> None:
    gains = summary["meta_gain"][meta]
    assert set(gains) == {"0", "1"}
    for k in (0, 1):
        single, multi = gains[str(k)]["vs_best_single"], gains[str(k)]["vs_multitask"]
        assert single["baselines"] == ["color-specialist", "position-specialist"]
        assert multi["baselines"] == ["multi-task"]
        assert single["mean"] == pytest.approx(VS_BEST_SINGLE[meta][k], abs=1e-12), k
        assert multi["mean"] == pytest.approx(VS_MULTITASK[meta][k], abs=1e-12), k
        for gain in (single, multi):
            assert gain["ci"][0] <= gain["mean"] <= gain["ci"][1]
            assert gain["detectable_gain"] > 0
            # Binary cells: P(X > Y) + P(X = Y) / 2 = 1/2 + (p_meta - p_baseline) / 2.
            for name in gain["baselines"]:
                expected = 0.5 + (MEANS[meta][k] - MEANS[name][k]) / 2
                assert gain["p_improvement_each"][name]["mean"] == pytest.approx(expected, abs=1e-12)
            assert gain["p_improvement"] == pytest.approx(0.5 + gain["mean"] / 2, abs=1e-12)
    assert summary["meta_gain"].keys() == VS_BEST_SINGLE.keys()  # no gains for the other roles


def test_the_gain_intervals_say_gain_loss_and_tie(summary: dict) -> None:
    headline = {meta: per_k["1"] for meta, per_k in summary["meta_gain"].items()}
    assert headline["meta-up"]["vs_best_single"]["ci"][0] > 0
    assert headline["meta-up"]["vs_multitask"]["ci"][0] > 0
    assert headline["meta-down"]["vs_best_single"]["ci"][1] < 0
    assert headline["meta-down"]["vs_multitask"]["ci"][1] < 0
    low, high = headline["meta-tie"]["vs_best_single"]["ci"]
    assert low < 0 < high
    assert headline["meta-tie"]["vs_multitask"]["ci"][1] < 0
    # P(improvement): above one half for the gain, below for the losses, its interval holding
    # one half for the tie.
    assert headline["meta-up"]["vs_best_single"]["p_improvement_ci"][0] > 0.5
    assert headline["meta-down"]["vs_best_single"]["p_improvement_ci"][1] < 0.5
    low, high = headline["meta-tie"]["vs_best_single"]["p_improvement_ci"]
    assert low < 0.5 < high


CI = r"\[[+-]\d\.\d\d, [+-]\d\.\d\d\]"
POSITIVE_CI = r"\[\+\d\.\d\d, \+\d\.\d\d\]"
NEGATIVE_CI = r"\[-\d\.\d\d, -\d\.\d\d\]"
SPANS_ZERO_CI = r"\[-\d\.\d\d, \+\d\.\d\d\]"
P_CI = r"\[\d\.\d\d, \d\.\d\d\]"


def _sentences(text: str) -> list[str]:
    """The finding's claims: one a bullet of its Markdown list."""
    lines = text.splitlines()
    assert all(line.startswith("- ") for line in lines), text
    return [line[2:] for line in lines]


def _gain_sentence(meta: str, against: str, mean: str, ci: str, p: str, verdict: str) -> str:
    """The verdict first, then its numbers."""
    return (
        rf"{re.escape(meta)} vs {re.escape(against)}: {verdict}; gain {re.escape(mean)} \(95% CI {ci}\), "
        rf"P\(improvement\) {re.escape(p)} {P_CI}\."
    )


def test_the_finding_says_what_the_table_holds(summary: dict) -> None:
    trained = [spec.name for spec in SPECS if spec.trained]
    text = finding(summary, _speed(trained, SEEDS))
    tie_detectable = summary["meta_gain"]["meta-tie"]["1"]["vs_best_single"]["detectable_gain"]
    best = "the best single-task learner"
    expected = [
        re.escape("On the held-out tasks the best learner after k=1 was meta-up (0.90)."),
        re.escape(
            "Scored below 0.9 on their own variation on some seed (per seed: meta-weak 1.00, 1.00, 0.80, 1.00, 1.00)."
        ),
        _gain_sentence("meta-up", best, "+0.40", POSITIVE_CI, "0.70", "a gain"),
        _gain_sentence("meta-up", "multi-task", "+0.20", POSITIVE_CI, "0.60", "a gain"),
        re.escape(
            "meta-up with the task in memory: higher after the earlier episode(s): 0.50 in the first episode of a "
            "trial, 0.90 after 1 episode(s) of the task."
        ),
        _gain_sentence("meta-down", best, "-0.40", NEGATIVE_CI, "0.30", "a loss"),
        _gain_sentence("meta-down", "multi-task", "-0.60", NEGATIVE_CI, "0.20", "a loss"),
        _gain_sentence(
            "meta-tie",
            best,
            "+0.00",
            SPANS_ZERO_CI,
            "0.50",
            re.escape(
                f"a tie: the interval includes zero (the smallest gain this run could detect: {tie_detectable:.2f})"
            ),
        ),
        _gain_sentence("meta-tie", "multi-task", "-0.20", NEGATIVE_CI, "0.40", "a loss"),
        re.escape("meta-weak did not learn within the budget: no verdict."),
        re.escape(
            "Zero-shot on the held-out tasks, the single-task learners scored: color-specialist (trained on color) "
            "0.20, position-specialist (trained on position) 0.40."
        ),
    ]
    sentences = _sentences(text)
    assert len(sentences) == len(expected), sentences
    for sentence, pattern in zip(sentences, expected):
        assert re.fullmatch(pattern, sentence), (sentence, pattern)
    assert 0 < tie_detectable < 1.0 - 0.5  # room above the best single-task learner: no ceiling


def test_the_finding_gives_no_verdict_where_training_fell_short(summary: dict) -> None:
    # meta-up did not reach 90% training success on one seed of five: no verdict for it either.
    trained = [spec.name for spec in SPECS if spec.trained]
    speed = _speed(trained, SEEDS)
    speed["meta-up"] = {**speed["meta-up"], "seeds_reaching_90_percent": 4}
    text = finding(summary, speed)
    assert "(seeds that did: meta-up 4 of 5)." in text
    assert "meta-up did not learn within the budget: no verdict." in text
    assert "meta-up vs" not in text and "meta-up with the task in memory" not in text
    assert "- meta-down vs the best single-task learner: a loss; gain -0.40" in text


def test_the_markdown_tables_hold_the_numbers(summary: dict) -> None:
    tables = markdown_tables(summary, "held-out")
    lines = tables.splitlines()

    def row(pattern: str) -> None:
        assert sum(bool(re.fullmatch(pattern, line)) for line in lines) == 1, pattern

    row(rf"\| color-specialist \| single-task \| color \| 0\.98 {P_CI} \| 0\.20 {P_CI} \| 0\.50 {P_CI} \|")
    row(rf"\| multi-task \| multi-task \| color-or-position \| 1\.00 {P_CI} \| 0\.60 {P_CI} \| 0\.70 {P_CI} \|")
    row(r"\| expert \| reference \| both \| n/a \| 1\.00 \[0\.98, 1\.00\] \| 1\.00 \[0\.98, 1\.00\] \|")
    for meta in VS_BEST_SINGLE:
        for k in (0, 1):
            single, multi = VS_BEST_SINGLE[meta][k], VS_MULTITASK[meta][k]
            p_single, p_multi = 0.5 + single / 2, 0.5 + multi / 2
            prefix, gain = rf"\| {meta} \| {k} \| ", rf"{CI} \| \d\.\d\d \| "
            row(prefix + rf"best single-task \| {re.escape(f'{single:+.2f}')} {gain}min {p_single:.2f} {P_CI} \|")
            row(prefix + rf"multi-task \| {re.escape(f'{multi:+.2f}')} {gain}{p_multi:.2f} {P_CI} \|")
    # P(improvement) after the headline k against each single-task learner: 1/2 + the difference / 2.
    row(r"\| meta-learner \| vs color-specialist \| vs position-specialist \|")
    row(rf"\| meta-up \| 0\.70 {P_CI} \| 0\.80 {P_CI} \|")
    row(rf"\| meta-down \| 0\.30 {P_CI} \| 0\.40 {P_CI} \|")


# --- A tie at the ceiling ----------------------------------------------------------------
# After k = 1 the colour specialist and the meta-learner succeed in every one of 5 x 20 cells;
# the position specialist and the multi-task learner score 0.6. Against the single-task
# learners the gain is 0 with Newcombe's interval +-(1 - 0.025^(1/100)) (the exact lower bound
# of 100 of 100), which no perfect meta-learner could leave: a tie at the ceiling. Against the
# multi-task learner, which leaves room, the gain of 0.4 is a gain.

CEILING_SPECS = [
    LearnerSpec("color-specialist", "ppo", "color", "single-task", hyperparameters="ppo"),
    LearnerSpec("position-specialist", "ppo", "position", "single-task", hyperparameters="ppo"),
    LearnerSpec("multi-task", "ppo", "color-or-position", "multi-task", hyperparameters="ppo"),
    LearnerSpec("meta", "reptile", "color-or-position", "meta", hyperparameters="reptile"),
]
CEILING = {
    "color-specialist": {0: [0.5] * 5, 1: [1.0] * 5},
    "position-specialist": {0: [0.5] * 5, 1: [0.6] * 5},
    "multi-task": {0: [0.5] * 5, 1: [0.55, 0.6, 0.65, 0.6, 0.6]},
    "meta": {0: [0.5] * 5, 1: [1.0] * 5},
}


def test_a_tie_at_the_ceiling() -> None:
    seeds = [0, 1, 2, 3, 4]
    protocol = EvalProtocol(k=(0, 1), eval_episodes=1, heldout_tasks=20, train_tasks=5)
    own = {name: [1.0] * 5 for name in CEILING}
    summary = summarize(_outcomes(CEILING, own, seeds, 20, 5), CEILING_SPECS, seeds, protocol, reps=REPS)
    gain = summary["meta_gain"]["meta"]["1"]["vs_best_single"]
    room = 1 - 0.025 ** (1 / 100)
    assert gain["mean"] == 0.0
    assert gain["ci"] == pytest.approx([-room, room], rel=1e-9)
    z, z_power = norm.ppf(0.975), norm.ppf(0.8)
    assert gain["detectable_gain"] == pytest.approx((z + z_power) / z * room, rel=1e-9)
    assert summary["meta_gain"]["meta"]["1"]["vs_multitask"]["mean"] == pytest.approx(0.4, abs=1e-12)

    text = finding(summary, _speed(list(CEILING), seeds))
    sentences = _sentences(text)
    assert sentences[0] == "On the held-out tasks color-specialist and meta tied for the best success after k=1 (1.00)."
    ceiling = re.escape(
        f"a tie at the ceiling: the best baseline scored 1.00, leaving less room than the smallest gain this run "
        f"could detect ({(z + z_power) / z * room:.2f}), so this setting cannot show a gain"
    )
    assert re.fullmatch(_gain_sentence("meta", "the best single-task learner", "+0.00", SPANS_ZERO_CI, "0.50", ceiling),
                        sentences[1]), sentences[1]  # fmt: skip
    assert re.fullmatch(_gain_sentence("meta", "multi-task", "+0.40", POSITIVE_CI, "0.70", "a gain"), sentences[2]), (
        sentences[2]
    )
    assert len(sentences) == 4 and sentences[3].startswith("Zero-shot on the held-out tasks")
