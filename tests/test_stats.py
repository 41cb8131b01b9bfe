"""Tests for the bootstrap statistics in banana_grasp.agents.protocol.stats."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rliable import metrics

from banana_grasp.agents.protocol import stats

N_SEEDS, N_TASKS = 10, 20


def _bernoulli_rates(rng: np.random.Generator, p: float, shape: tuple[int, int] = (N_SEEDS, N_TASKS)) -> np.ndarray:
    """Success rates as the mean of 20 evaluation episodes."""
    return rng.binomial(20, p, size=shape) / 20.0


def test_identical_learner_gain_ci_contains_zero() -> None:
    scores = _bernoulli_rates(np.random.default_rng(0), 0.6)
    gain = stats.meta_gain(scores, {"single": scores})
    assert gain.mean == 0.0
    assert gain.ci[0] < 0.0 < gain.ci[1]
    assert gain.p_improvement == pytest.approx(0.5, abs=0.05)


def test_same_rate_independent_draws_gain_ci_contains_zero() -> None:
    rng = np.random.default_rng(1)
    meta, base = _bernoulli_rates(rng, 0.6), _bernoulli_rates(rng, 0.6)
    gain = stats.meta_gain(meta, {"single": base})
    assert gain.ci[0] < 0.0 < gain.ci[1]
    assert gain.p_improvement_ci[0] < 0.5 < gain.p_improvement_ci[1]


def test_better_by_a_constant_is_recovered() -> None:
    rng = np.random.default_rng(2)
    base = rng.uniform(0.2, 0.5, size=(N_SEEDS, N_TASKS))
    others = {f"other{k}": rng.uniform(0.0, 0.3, size=(N_SEEDS, N_TASKS)) for k in range(3)}
    gain = stats.meta_gain(base + 0.3, {"best": base, **others})
    assert gain.mean == pytest.approx(0.3, abs=1e-12)
    assert 0.25 < gain.ci[0] <= gain.mean <= gain.ci[1] < 0.35
    assert gain.p_improvement > 0.9
    assert gain.baselines == ("best", "other0", "other1", "other2")


def test_max_is_retaken_inside_each_replicate() -> None:
    # A wins on seeds 0-1, B on seeds 2-3; both average 0.5, so which one is "best"
    # is pure seed luck. Re-taking the max per replicate must push the whole gain
    # distribution below that of meta minus either fixed learner, including the full
    # sample's winner (which a pick-the-winner-once bootstrap would report).
    rng = np.random.default_rng(3)
    a = np.clip([[0.9], [0.9], [0.1], [0.1]] + rng.uniform(-0.02, 0.02, (4, N_TASKS)), 0, 1)
    b = np.clip([[0.1], [0.1], [0.9], [0.9]] + rng.uniform(-0.02, 0.02, (4, N_TASKS)), 0, 1)
    meta = np.full((4, N_TASKS), 0.55)
    both = stats.meta_gain(meta, {"A": a, "B": b})
    for fixed in (stats.meta_gain(meta, {"A": a}), stats.meta_gain(meta, {"B": b})):
        assert both.mean <= fixed.mean  # equal for the full-sample winner
        assert both.ci[1] < fixed.ci[1] - 0.01  # a fixed winner gives equality here
        assert both.ci[0] < fixed.ci[0]


def test_p_improvement_matches_rliable_without_resampling_noise() -> None:
    # With one seed per learner every replicate equals the full sample, so the
    # bootstrap mean must be exactly rliable's probability of improvement.
    rng = np.random.default_rng(4)
    meta = _bernoulli_rates(rng, 0.5, shape=(1, N_TASKS))
    base = _bernoulli_rates(rng, 0.5, shape=(1, N_TASKS))
    gain = stats.meta_gain(meta, {"single": base}, reps=50)
    assert gain.p_improvement == pytest.approx(metrics.probability_of_improvement(meta, base))
    assert gain.p_improvement_ci == pytest.approx((gain.p_improvement, gain.p_improvement))


def test_different_seed_counts_are_allowed() -> None:
    rng = np.random.default_rng(5)
    gain = stats.meta_gain(rng.uniform(size=(7, 5)), {"a": rng.uniform(size=(3, 5))})
    assert gain.ci[0] <= gain.mean <= gain.ci[1]
    est = stats.interval_estimates({"a": rng.uniform(size=(7, 5)), "b": rng.uniform(size=(2, 5))})
    assert set(est) == {"a", "b"}


def test_interval_estimates() -> None:
    rng = np.random.default_rng(6)
    scores = {"meta": _bernoulli_rates(rng, 0.7), "single": _bernoulli_rates(rng, 0.3)}
    est = stats.interval_estimates(scores)
    for name, s in scores.items():
        assert est[name].mean == pytest.approx(s.mean())
        assert est[name].ci[0] < est[name].mean < est[name].ci[1]
    assert est["meta"].ci[0] > est["single"].ci[1]


def test_deterministic_given_seed() -> None:
    rng = np.random.default_rng(7)
    meta, base = rng.uniform(size=(N_SEEDS, N_TASKS)), rng.uniform(size=(N_SEEDS, N_TASKS))
    assert stats.meta_gain(meta, {"b": base}, seed=1) == stats.meta_gain(meta, {"b": base}, seed=1)
    assert stats.meta_gain(meta, {"b": base}, seed=1).ci != stats.meta_gain(meta, {"b": base}, seed=2).ci
    global_state = np.random.get_state()[1].copy()
    first = stats.interval_estimates({"m": meta}, seed=1)
    assert first == stats.interval_estimates({"m": meta}, seed=1)
    assert first["m"].ci != stats.interval_estimates({"m": meta}, seed=2)["m"].ci
    assert np.array_equal(np.random.get_state()[1], global_state)  # global RNG restored


def test_as_dict_is_json_ready() -> None:
    rng = np.random.default_rng(8)
    meta, base = rng.uniform(size=(3, 4)), rng.uniform(size=(3, 4))
    gain = stats.meta_gain(meta, {"b": base}, reps=100).as_dict()
    assert set(gain) == {"mean", "ci", "p_improvement", "p_improvement_ci", "baselines"}
    est = stats.interval_estimates({"b": base}, reps=100)["b"].as_dict()
    assert json.loads(json.dumps([gain, est])) == [gain, est]
    poi = stats.probability_of_improvement(meta, {"b": base}, reps=100)
    assert (poi.mean, list(poi.ci)) == (gain["p_improvement"], gain["p_improvement_ci"])


GOOD = np.full((3, 4), 0.5)


@pytest.mark.parametrize(
    ("meta", "baselines", "match"),
    [
        (GOOD, {}, "baseline_scores is empty"),
        (np.full(4, 0.5), {"b": GOOD}, r"meta_scores must be 2-D .* \(4,\)"),
        (GOOD, {"b": np.full((3, 4, 1), 0.5)}, r"baseline_scores\['b'\] must be 2-D"),
        (GOOD, {"b": np.full((3, 5), 0.5)}, r"number of tasks.*meta_scores: \(3, 4\).*'b'\]: \(3, 5\)"),
        (GOOD, {"b": np.full((3, 4), 1.5)}, r"baseline_scores\['b'\] has success rates outside \[0, 1\]"),
        (GOOD - 0.6, {"b": GOOD}, r"meta_scores has success rates outside \[0, 1\]"),
        (GOOD, {"b": np.full((3, 4), np.nan)}, r"baseline_scores\['b'\] contains NaN"),
        (GOOD, {"b": np.zeros((0, 4))}, r"baseline_scores\['b'\] has no seeds"),
    ],
)
def test_meta_gain_rejects_bad_input(meta: np.ndarray, baselines: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        stats.meta_gain(meta, baselines)


@pytest.mark.parametrize(
    ("scores", "match"),
    [
        ({}, "scores is empty"),
        ({"a": np.full(4, 0.5)}, r"scores\['a'\] must be 2-D"),
        ({"a": GOOD, "b": np.full((3, 2), 0.5)}, r"number of tasks.*'a'\]: \(3, 4\).*'b'\]: \(3, 2\)"),
        ({"a": np.full((3, 4), -0.1)}, r"outside \[0, 1\]"),
        ({"a": np.full((3, 4), np.nan)}, "contains NaN"),
    ],
)
def test_interval_estimates_rejects_bad_input(scores: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        stats.interval_estimates(scores)


@pytest.mark.parametrize(("reps", "confidence", "match"), [(0, 0.95, "reps"), (10, 1.0, "confidence")])
def test_rejects_bad_bootstrap_arguments(reps: int, confidence: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        stats.meta_gain(GOOD, {"b": GOOD}, reps=reps, confidence=confidence)
    with pytest.raises(ValueError, match=match):
        stats.interval_estimates({"b": GOOD}, reps=reps, confidence=confidence)
