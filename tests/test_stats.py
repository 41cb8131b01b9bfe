"""Tests for the bootstrap statistics in banana_grasp.agents.protocol.stats."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rliable import metrics
from scipy.stats import binomtest, norm
from scipy.stats import t as t_dist

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

# With the small-sample widening the intervals covered 0.94-0.97 (success), 0.98-1.00 (gain)
# and 0.99-1.00 (P(improvement)) in these 1000 simulations; with it dropped (the plain
# percentile intervals of the two-way bootstrap) 0.87-0.92 (success), 0.90-0.98 (gain) and
# 0.92-0.98 (P(improvement)), the success of the large-seed-effects setting 0.87. With 1000
# runs a coverage of 0.95 is measured within sd sqrt(0.95 * 0.05 / 1000) = 0.007, so the floor
# of 0.92 lies 3 sd below the lowest widened rate (0.943) and 5 sd above the plain one of the
# large seed effects (0.866, sd 0.011): it passes the widened intervals and fails the plain.
COVERAGE_SIMULATIONS = 1000
COVERAGE_FLOOR = 0.92
NOMINAL = 0.95


def _population_rate(mu: float, sd_seed: float, sd_task: float) -> float:
    return float(norm.cdf(mu / np.sqrt(1 + sd_seed**2 + sd_task**2)))


def _probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """rliable's P(X > Y) + P(X = Y) / 2 averaged over tasks, without its per-task Mann-Whitney
    calls (90% of the simulation's time)."""
    difference = x[:, None, :] - y[None, :, :]
    return float(np.mean((difference > 0) + 0.5 * (difference == 0)))


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
def test_intervals_cover_the_truth(monkeypatch: pytest.MonkeyPatch, mus: dict, sd_seed: float, sd_task: float) -> None:
    n_seeds, n_tasks = 5, 48
    truth = {name: _population_rate(mu, sd_seed, sd_task) for name, mu in mus.items()}
    baselines = [name for name in mus if name != "meta"]
    true_gain = truth["meta"] - max(truth[name] for name in baselines)
    rng = np.random.default_rng(12)
    covered = {"success": 0, "gain": 0, "p_improvement": 0}
    rliable_value = metrics.probability_of_improvement
    monkeypatch.setattr(metrics, "probability_of_improvement", _probability_of_improvement)
    for sim in range(COVERAGE_SIMULATIONS):
        task_effects = rng.normal(0, sd_task, n_tasks)
        scores = {}
        for name, mu in mus.items():
            seed_effects = rng.normal(0, sd_seed, n_seeds)
            p = norm.cdf(mu + seed_effects[:, None] + task_effects[None, :])
            scores[name] = (rng.uniform(size=p.shape) < p).astype(float)
        if sim == 0:  # the shortcut is rliable's value
            for name in baselines:
                expected = rliable_value(scores["meta"], scores[name])
                assert _probability_of_improvement(scores["meta"], scores[name]) == pytest.approx(expected)
        estimates = stats.interval_estimates(scores, reps=500, seed=sim)
        covered["success"] += np.mean([estimates[n].ci[0] <= truth[n] <= estimates[n].ci[1] for n in mus])
        gain = stats.meta_gain(scores["meta"], {n: scores[n] for n in baselines}, reps=500, seed=sim)
        covered["gain"] += gain.ci[0] <= true_gain <= gain.ci[1]
        covered["p_improvement"] += gain.p_improvement_ci[0] <= 0.5 + true_gain / 2 <= gain.p_improvement_ci[1]
    rates = {key: float(value / COVERAGE_SIMULATIONS) for key, value in covered.items()}
    assert all(rate >= COVERAGE_FLOOR for rate in rates.values()), f"nominal {NOMINAL:.0%} intervals covered: {rates}"


# --- The exact bounds, against an independent computation ------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 20, 60])
def test_exact_interval_is_clopper_pearson(n: int) -> None:
    for successes in sorted({0, 1, n // 2, n - 1, n}):
        cells = np.array([[1.0] * successes + [0.0] * (n - successes)])
        expected = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="exact")
        assert stats.exact_interval(cells, 0.95) == pytest.approx((expected.low, expected.high), rel=1e-9, abs=1e-12)


def test_outcomes_get_at_least_the_exact_interval() -> None:
    # Binary cells, every seed failing once (11 of 12), on tasks of its own: the bootstrap
    # interval's lower end lies above the exact lower bound of 55 of 60, which it must reach.
    cells = np.ones((5, 12))
    cells[np.arange(5), [0, 7, 2, 9, 4]] = 0.0
    expected = binomtest(55, 60).proportion_ci(confidence_level=0.95, method="exact")
    plain = _plain_percentile(_loop_bootstrap([cells], reps=2000, seed=0)[0])
    assert plain[0] > expected.low + 0.01  # the bootstrap alone would not reach it
    assert stats.interval_estimates({"a": cells})["a"].ci == pytest.approx((expected.low, 1.0), rel=1e-9)


def test_equal_cells_get_the_exact_interval() -> None:
    # Every cell 0.5 (one success in two episodes): nothing for the bootstrap to resample; the
    # exact interval of 30 successes in 60 cells.
    expected = binomtest(30, 60).proportion_ci(confidence_level=0.95, method="exact")
    estimate = stats.interval_estimates({"a": np.full((5, 12), 0.5)})["a"]
    assert estimate.mean == 0.5
    assert estimate.ci == pytest.approx((expected.low, expected.high), rel=1e-9)


def test_the_exact_and_newcombe_bounds_at_the_ceiling() -> None:
    # 60 of 60: the Clopper-Pearson lower bound solves p^60 = 0.025. A gain of two perfect
    # learners has Newcombe's interval +-(1 - that bound) (one learner's half-width on each
    # side, the other's is 0); P(improvement) = 1/2 + gain/2, so half of it around 0.5.
    lower = 0.025 ** (1 / 60)
    ones = np.ones((5, 12))
    assert stats.interval_estimates({"a": ones})["a"].ci == pytest.approx((lower, 1.0), rel=1e-9)
    gain = stats.meta_gain(ones, {"a": ones, "b": ones})
    assert gain.ci == pytest.approx((lower - 1, 1 - lower), rel=1e-9)
    half = (1 - lower) / 2
    assert gain.p_improvement_ci == pytest.approx((0.5 - half, 0.5 + half), rel=1e-9)
    assert gain.p_improvement_each["a"].ci == pytest.approx((0.5 - half, 0.5 + half), rel=1e-9)


# --- The small-sample widening ------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_seeds", "confidence", "t_quantile", "expected"),
    [
        # t quantiles of the printed tables: t_{0.975} with 1, 2, 4 degrees of freedom, t_{0.95} with 4.
        (2, 0.95, 12.7062, 9.1682),
        (3, 0.95, 4.3027, 2.6886),
        (5, 0.95, 2.7764, 1.5838),
        (5, 0.90, 2.1318, 1.4492),
    ],
)
def test_small_sample_factor_is_its_formula(
    n_seeds: int, confidence: float, t_quantile: float, expected: float
) -> None:
    q = 0.5 + confidence / 2
    assert np.sqrt(n_seeds / (n_seeds - 1)) * t_quantile / norm.ppf(q) == pytest.approx(expected, abs=2e-4)
    exact = np.sqrt(n_seeds / (n_seeds - 1)) * t_dist.ppf(q, n_seeds - 1) / norm.ppf(q)
    assert stats.small_sample_factor(n_seeds, confidence) == pytest.approx(exact, rel=1e-12)
    assert stats.small_sample_factor(n_seeds, confidence) == pytest.approx(expected, abs=2e-4)


def test_small_sample_factor_vanishes_with_many_seeds() -> None:
    assert 1.0 < stats.small_sample_factor(1000, 0.95) < 1.002


def _plain_percentile(replicates: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(replicates, [2.5, 97.5])
    return float(lo), float(hi)


def _widened(point: float, plain: tuple[float, float], factor: float) -> tuple[float, float]:
    return point - factor * (point - plain[0]), point + factor * (plain[1] - point)


def _t_factor(n: int) -> float:
    return float(np.sqrt(n / (n - 1)) * t_dist.ppf(0.975, n - 1) / norm.ppf(0.975))


# Every task alike within a seed: all the spread is between seeds.
PER_SEED = np.array([0.30, 0.42, 0.50, 0.61, 0.45])
SEEDS_ONLY = np.repeat(PER_SEED[:, None], 8, axis=1)


def test_a_spread_between_seeds_widens_the_success_interval_by_the_small_sample_factor() -> None:
    plain = _plain_percentile(_loop_bootstrap([SEEDS_ONLY], reps=2000, seed=4)[0])
    ci = stats.interval_estimates({"a": SEEDS_ONLY}, reps=2000, seed=4)["a"].ci
    assert ci == pytest.approx(_widened(PER_SEED.mean(), plain, _t_factor(5)), abs=1e-12)
    assert (ci[1] - ci[0]) / (plain[1] - plain[0]) == pytest.approx(1.5838, abs=2e-4)


def test_a_spread_between_tasks_only_is_not_widened() -> None:
    # Every seed alike: resampling seeds changes nothing, the many tasks need no correction.
    per_task = np.linspace(0.1, 0.9, 12)
    tasks_only = np.repeat(per_task[None, :], 5, axis=0)
    plain = _plain_percentile(_loop_bootstrap([tasks_only], reps=2000, seed=5)[0])
    ci = stats.interval_estimates({"a": tasks_only}, reps=2000, seed=5)["a"].ci
    assert plain[1] - plain[0] > 0.2
    assert ci == pytest.approx(plain, abs=1e-12)


def test_a_gain_spread_between_seeds_is_widened_and_detectable_gain_is_its_formula() -> None:
    meta = np.repeat(np.array([0.55, 0.70, 0.62, 0.80, 0.58])[:, None], 8, axis=1)
    baselines = {"a": SEEDS_ONLY, "b": np.repeat(np.array([0.20, 0.55, 0.35, 0.40, 0.30])[:, None], 8, axis=1)}
    means = _loop_bootstrap([meta, *baselines.values()], reps=2000, seed=6)
    replicates = means[0] - np.maximum(means[1], means[2])  # the best baseline re-taken in each replicate
    point = 0.65 - 0.456  # meta's mean minus a's, the better baseline (b: 0.36)
    expected = _widened(point, _plain_percentile(replicates), _t_factor(5))
    gain = stats.meta_gain(meta, baselines, reps=2000, seed=6)
    assert gain.mean == pytest.approx(point, abs=1e-12)
    assert gain.ci == pytest.approx(expected, abs=1e-12)
    z, z_power = norm.ppf(0.975), norm.ppf(0.8)
    assert gain.detectable_gain == pytest.approx((z + z_power) / z * (expected[1] - expected[0]) / 2, rel=1e-12)


def test_detectable_gain_is_detected_about_80_percent_of_the_time() -> None:
    # Seed and task effects of known size, and a true gain set to the detectable gain measured
    # on runs without one: about 80% of the runs should find the gain (interval above 0).
    # Measured with 400 runs: 0.81; with the gain set to one half-width (z_power left out)
    # 0.43, to (z + z_power) half-widths 1.00. 100 runs here: sd 0.04 at 0.8.
    rng = np.random.default_rng(13)
    n_seeds, n_tasks = 8, 12

    def run(gain: float) -> stats.GainEstimate:
        tasks = rng.normal(0, 0.05, n_tasks)

        def learner(mu: float) -> np.ndarray:
            seeds = rng.normal(0, 0.06, (n_seeds, 1))
            return np.clip(mu + seeds + tasks + rng.normal(0, 0.05, (n_seeds, n_tasks)), 0, 1)

        return stats.meta_gain(learner(0.4 + gain), {"b": learner(0.4)}, reps=300, seed=int(rng.integers(1 << 30)))

    detectable = float(np.mean([run(0.0).detectable_gain for _ in range(20)]))
    found = sum(run(detectable).ci[0] > 0 for _ in range(100))
    assert 0.65 <= found / 100 <= 0.93, (detectable, found)


# --- P(improvement), independently of meta_gain --------------------------------------------


def _p_improvement_loop(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + P(X = Y) / 2 for a run X of ``x`` and a run Y of ``y`` on the same task,
    averaged over the tasks, by counting every pair of seeds."""
    per_task = []
    for t in range(x.shape[1]):
        wins = 0.0
        for xi in x[:, t]:
            for yj in y[:, t]:
                wins += 1.0 if xi > yj else 0.5 if xi == yj else 0.0
        per_task.append(wins / (x.shape[0] * y.shape[0]))
    return sum(per_task) / len(per_task)


def test_p_improvement_of_a_hand_table() -> None:
    meta = np.array([[1.0, 0.5], [0.0, 1.0]])
    # Task 0: 1 beats 0.5 and ties 1, 0 loses both: 1.5 of 4; task 1: 0.5 ties 0.5 and beats 0,
    # 1 beats both: 3.5 of 4. Mean 5/8.
    first = np.array([[0.5, 0.5], [1.0, 0.0]])
    # Task 0: 1 beats all three, 0 ties 0: 3.5 of 6; task 1: 0.5 beats 0, 1 ties two and
    # beats 0: 3 of 6. Mean 13/24, the smaller: the headline.
    second = np.array([[0.25, 1.0], [0.75, 1.0], [0.0, 0.0]])
    gain = stats.meta_gain(meta, {"first": first, "second": second}, reps=200)
    assert gain.p_improvement_each["first"].mean == pytest.approx(5 / 8)
    assert gain.p_improvement_each["second"].mean == pytest.approx(13 / 24)
    assert gain.p_improvement == pytest.approx(13 / 24)


def test_p_improvement_agrees_with_a_plain_loop() -> None:
    rng = np.random.default_rng(14)
    meta = rng.choice([0.0, 0.5, 1.0], size=(4, 6), p=[0.3, 0.3, 0.4])
    baselines = {
        "a": rng.choice([0.0, 0.5, 1.0], size=(3, 6), p=[0.2, 0.4, 0.4]),
        "b": rng.choice([0.0, 0.5, 1.0], size=(5, 6), p=[0.5, 0.3, 0.2]),
        "c": rng.uniform(size=(4, 6)),
    }
    gain = stats.meta_gain(meta, baselines, reps=200)
    expected = {name: _p_improvement_loop(meta, base) for name, base in baselines.items()}
    for name, value in expected.items():
        assert gain.p_improvement_each[name].mean == pytest.approx(value, rel=1e-12)
    assert gain.p_improvement == pytest.approx(min(expected.values()), rel=1e-12)
    assert len(set(np.round(list(expected.values()), 6))) == len(expected)  # the minimum is one of them
