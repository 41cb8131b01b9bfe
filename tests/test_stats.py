"""Tests for the bootstrap statistics in banana_grasp.agents.protocol.stats."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rliable import metrics
from scipy.stats import norm

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


def test_p_improvement_is_rliables_and_its_headline_the_minimum_over_baselines() -> None:
    rng = np.random.default_rng(4)
    meta = _bernoulli_rates(rng, 0.5)
    baselines = {"low": _bernoulli_rates(rng, 0.2), "high": _bernoulli_rates(rng, 0.7)}
    gain = stats.meta_gain(meta, baselines, reps=500)
    for name, base in baselines.items():
        assert gain.p_improvement_each[name].mean == pytest.approx(metrics.probability_of_improvement(meta, base))
    assert gain.p_improvement == gain.p_improvement_each["high"].mean < 0.5 < gain.p_improvement_each["low"].mean
    low, high = gain.p_improvement_ci
    assert low <= gain.p_improvement <= high
    assert high <= gain.p_improvement_each["low"].ci[1]  # the minimum's interval sits below the easier one


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
    assert np.array_equal(np.random.get_state()[1], global_state)  # the global RNG is not used


def test_as_dict_is_json_ready() -> None:
    rng = np.random.default_rng(8)
    meta, base = rng.uniform(size=(3, 4)), rng.uniform(size=(3, 4))
    gain = stats.meta_gain(meta, {"b": base}, reps=100).as_dict()
    assert set(gain) == {
        "mean",
        "ci",
        "p_improvement",
        "p_improvement_ci",
        "baselines",
        "detectable_gain",
        "p_improvement_each",
    }
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


# --- The resampling unit: whole seeds and tasks (a two-way bootstrap) --------------------


def _loop_bootstrap(arrays: list[np.ndarray], reps: int, seed: int) -> np.ndarray:
    """Replicate means, the plain way: draw task indices once per replicate (shared), then
    each learner's seed indices, and average the selected rows and columns."""
    rng = np.random.default_rng(seed)
    n_tasks = arrays[0].shape[1]
    task_draws = rng.integers(0, n_tasks, size=(reps, n_tasks))
    seed_draws = [rng.integers(0, a.shape[0], size=(reps, a.shape[0])) for a in arrays]
    means = np.empty((len(arrays), reps))
    for r in range(reps):
        for i, a in enumerate(arrays):
            means[i, r] = np.mean([[a[s, t] for t in task_draws[r]] for s in seed_draws[i][r]])
    return means


def test_two_way_bootstrap_agrees_with_a_plain_loop() -> None:
    rng = np.random.default_rng(9)
    arrays = [rng.uniform(size=(3, 4)), rng.uniform(size=(5, 4))]
    boot = stats.TwoWayBootstrap(arrays, reps=40, seed=3)
    expected = _loop_bootstrap(arrays, reps=40, seed=3)
    for i in range(len(arrays)):
        np.testing.assert_allclose(boot.means(i), expected[i], rtol=1e-12)


def test_seed_effects_widen_the_interval() -> None:
    # The colour specialist of a full run: per-seed held-out means 0.13, 0.25, 0.46, 1.00, 0.58
    # over 12 tasks. Seeds are the unit that varies: the interval must span most of that spread.
    rng = np.random.default_rng(10)
    per_seed = np.array([0.13, 0.25, 0.46, 1.00, 0.58])
    scores = (rng.uniform(size=(5, 12)) < per_seed[:, None]).astype(float)
    low, high = stats.interval_estimates({"colour": scores})["colour"].ci
    assert low < 0.3 and high > 0.7


@pytest.mark.parametrize("shape", [(2, 6), (5, 12), (5, 48)])
def test_all_success_has_an_interval_below_one(shape: tuple[int, int]) -> None:
    est = stats.interval_estimates({"ceiling": np.ones(shape)})["ceiling"]
    assert est.mean == 1.0 and est.ci[0] < 1.0 and est.ci[1] == 1.0
    floor = stats.interval_estimates({"floor": np.zeros(shape)})["floor"]
    assert floor.ci[0] == 0.0 and floor.ci[1] > 0.0


def test_the_bound_at_the_ceiling_tightens_with_more_seeds_or_tasks() -> None:
    def lower(n_seeds: int, n_tasks: int) -> float:
        return stats.interval_estimates({"a": np.ones((n_seeds, n_tasks))})["a"].ci[0]

    assert lower(2, 12) < lower(5, 12) < lower(10, 12)
    assert lower(5, 6) < lower(5, 12) < lower(5, 48)


def test_gains_and_p_improvement_at_the_ceiling_are_not_zero_width() -> None:
    gain = stats.meta_gain(np.ones((5, 12)), {"a": np.ones((5, 12)), "b": np.ones((5, 12))})
    assert gain.mean == 0.0 and gain.ci[0] < 0.0 < gain.ci[1]
    assert gain.p_improvement == 0.5 and gain.p_improvement_ci[0] < 0.5 < gain.p_improvement_ci[1]


def test_detectable_gain_shrinks_with_more_tasks() -> None:
    rng = np.random.default_rng(11)
    sizes = [12, 48, 192]
    found = []
    for n_tasks in sizes:
        meta, base = _bernoulli_rates(rng, 0.5, (5, n_tasks)), _bernoulli_rates(rng, 0.5, (5, n_tasks))
        found.append(stats.meta_gain(meta, {"b": base}, reps=500).detectable_gain)
    assert found[0] > found[1] > found[2] > 0


# --- Coverage, by simulation with a known truth ---------------------------------------------
# Success of learner L on seed s and task t: Bernoulli(Phi(mu_L + a_s + b_t)), seed effects
# a ~ N(0, sd_seed) drawn per learner and seed, task effects b ~ N(0, sd_task) shared by the
# learners (they play the same tasks), one episode per task. The population success rate is
# then Phi(mu / sqrt(1 + sd_seed^2 + sd_task^2)); P(improvement) against a baseline is
# 1/2 + (p_meta - p_baseline) / 2 for binary outcomes, its minimum over baselines taken at
# the best baseline.

COVERAGE_SIMULATIONS = 500
NOMINAL = 0.95


def _population_rate(mu: float, sd_seed: float, sd_task: float) -> float:
    return float(norm.cdf(mu / np.sqrt(1 + sd_seed**2 + sd_task**2)))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mus", "sd_seed", "sd_task"),
    [
        # Seed effects as large as a full run's colour specialist, the meta-learner tied with the best.
        ({"meta": 0.5, "a": 0.5, "b": 0.0, "c": -1.0}, 1.0, 0.7),
        # A real gain of about 0.1, moderate seed effects.
        ({"meta": 0.8, "a": 0.5, "b": 0.5, "c": -1.0}, 0.5, 0.7),
        # Near the ceiling.
        ({"meta": 2.0, "a": 2.0, "b": 1.5, "c": -1.0}, 0.5, 0.5),
    ],
    ids=["tie-large-seed-effects", "gain", "near-ceiling"],
)
def test_intervals_cover_the_truth(mus: dict, sd_seed: float, sd_task: float) -> None:
    n_seeds, n_tasks = 5, 48
    truth = {name: _population_rate(mu, sd_seed, sd_task) for name, mu in mus.items()}
    baselines = [name for name in mus if name != "meta"]
    true_gain = truth["meta"] - max(truth[name] for name in baselines)
    rng = np.random.default_rng(12)
    covered = {"success": 0, "gain": 0, "p_improvement": 0}
    for sim in range(COVERAGE_SIMULATIONS):
        task_effects = rng.normal(0, sd_task, n_tasks)
        scores = {}
        for name, mu in mus.items():
            seed_effects = rng.normal(0, sd_seed, n_seeds)
            p = norm.cdf(mu + seed_effects[:, None] + task_effects[None, :])
            scores[name] = (rng.uniform(size=p.shape) < p).astype(float)
        estimates = stats.interval_estimates(scores, reps=500, seed=sim)
        covered["success"] += np.mean([estimates[n].ci[0] <= truth[n] <= estimates[n].ci[1] for n in mus])
        gain = stats.meta_gain(scores["meta"], {n: scores[n] for n in baselines}, reps=500, seed=sim)
        covered["gain"] += gain.ci[0] <= true_gain <= gain.ci[1]
        covered["p_improvement"] += gain.p_improvement_ci[0] <= 0.5 + true_gain / 2 <= gain.p_improvement_ci[1]
    rates = {key: value / COVERAGE_SIMULATIONS for key, value in covered.items()}
    assert all(rate >= 0.90 for rate in rates.values()), f"nominal {NOMINAL:.0%} intervals covered: {rates}"
