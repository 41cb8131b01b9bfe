"""Bootstrap statistics for what meta-learning gains over the best single-task learner.

Scores are ``{learner: array (n_seeds, n_tasks)}`` of success rates in [0, 1]; entry
``[s, t]`` is training seed ``s``'s mean success over its evaluation episodes of task ``t``.

**What is resampled.** One policy per training seed plays every task, so a seed's scores
are correlated across tasks, and the tasks are a sample of the held-out space. Both vary
in a rerun, so each bootstrap replicate draws the tasks with replacement once, *shared by
every learner* (they play the same tasks, so a gain keeps its pairing), and each learner's
seeds with replacement, independently per learner (their training runs are independent):
a two-way bootstrap over seeds and tasks. rliable's stratified bootstrap is not used here:
it resamples runs inside each task, which assumes one independent run per task, and so
averages the seed effect away (measured: intervals about half as wide as the seed-level
ones, covering the truth about half the time).

**Few seeds.** A bootstrap over n seeds estimates their variance with divisor n and reads
it on a normal scale, where the mean of a few seeds follows Student's t. So each percentile
interval is widened around its estimate by ``sqrt(n / (n - 1)) * t_{n-1} / z`` applied to the
seeds' share of the replicate variance (measured by replicates that resample the seeds
only): with 5 seeds and seed effects as large as a full run's, the plain percentile
interval covered the truth 88-90% of the time, the widened one 94-98% (docs/notes/007-intervals-resample-seeds-and-tasks.md, 042-coverage-test-that-can-fail.md).

**At the bounds.** A learner that succeeds on every (seed, task) cell has zero spread to
resample, yet 60 successes out of 60 are consistent with a true rate of 0.95. So where the
cells are outcomes (0 or 1) or all equal, each success interval is widened to contain the
exact (Clopper-Pearson) interval of its mean over ``n_seeds x n_tasks`` cells, counted as
that many independent outcomes, and the gain and P(improvement) intervals to contain
Newcombe's interval built from those exact intervals. Away from the bounds the bootstrap
interval is the wider one and is used as it is.

**The meta-gain** is ``mean(meta) - max_b mean(b)`` over several baselines, with the max
re-taken inside every replicate: picking the winner once on the full sample would ignore
that a rerun could crown another baseline, which shifts the interval in the meta-learner's
favour. **P(improvement)** against baseline ``b`` is rliable's probability of improvement,
``P(X > Y) + P(X = Y) / 2`` for a run X of the meta-learner and a run Y of ``b`` on the same
task; the headline is the minimum over the baselines (the essay's "minimum improvement"),
re-taken in each replicate.

Coverage of these intervals is checked by simulation with a known truth in the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from rliable import metrics
from scipy import stats as scipy_stats

POWER = 0.8  # for the smallest detectable gain


@dataclass(frozen=True)
class Estimate:
    mean: float
    ci: tuple[float, float]

    def as_dict(self) -> dict[str, float | list[float]]:
        return {"mean": float(self.mean), "ci": [float(c) for c in self.ci]}


@dataclass(frozen=True)
class GainEstimate:
    mean: float
    ci: tuple[float, float]
    p_improvement: float  # the minimum over the baselines
    p_improvement_ci: tuple[float, float]
    baselines: tuple[str, ...]
    # Smallest true gain this run would detect (interval above 0) with 80% power, from the
    # bootstrap spread of the gain.
    detectable_gain: float = float("nan")
    p_improvement_each: dict[str, Estimate] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "mean": float(self.mean),
            "ci": [float(c) for c in self.ci],
            "p_improvement": float(self.p_improvement),
            "p_improvement_ci": [float(c) for c in self.p_improvement_ci],
            "baselines": list(self.baselines),
            "detectable_gain": float(self.detectable_gain),
            "p_improvement_each": {name: e.as_dict() for name, e in self.p_improvement_each.items()},
        }


def _validate(labelled: Mapping[str, ArrayLike]) -> list[np.ndarray]:
    """Checks every array (labels are for messages) and that all share n_tasks."""
    arrays = []
    for label, raw in labelled.items():
        a = np.asarray(raw, dtype=float)
        if a.ndim != 2:
            raise ValueError(f"{label} must be 2-D (n_seeds, n_tasks), got shape {a.shape}")
        if a.size == 0:
            raise ValueError(f"{label} has no seeds or no tasks: shape {a.shape}")
        if np.isnan(a).any():
            raise ValueError(f"{label} contains NaN")
        if a.min() < 0.0 or a.max() > 1.0:
            raise ValueError(f"{label} has success rates outside [0, 1] (min {a.min()}, max {a.max()})")
        arrays.append(a)
    if len({a.shape[1] for a in arrays}) > 1:
        shapes = ", ".join(f"{label}: {a.shape}" for label, a in zip(labelled, arrays))
        raise ValueError(f"learners disagree on the number of tasks (axis 1): {shapes}")
    return arrays


def _check_bootstrap_args(reps: int, confidence: float) -> None:
    if not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"reps must be an integer >= 1, got {reps!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _percentile_ci(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [50.0 * (1 - confidence), 50.0 * (1 + confidence)])
    return float(lo), float(hi)


def small_sample_factor(n_seeds: int, confidence: float) -> float:
    """How much wider a seed-level interval must be than the bootstrap's with ``n_seeds`` seeds:
    ``sqrt(n / (n - 1))`` (the bootstrap's variance is that of a sample of n, divided by n, not
    n - 1) times ``t_{n-1} / z`` (the mean of a few seeds follows Student's t, not a normal)."""
    if n_seeds < 2:
        return 1.0
    q = 0.5 + confidence / 2
    return float(np.sqrt(n_seeds / (n_seeds - 1)) * scipy_stats.t.ppf(q, n_seeds - 1) / scipy_stats.norm.ppf(q))


def _widening(both: np.ndarray, seeds_only: np.ndarray, n_seeds: int, confidence: float) -> float:
    total, from_seeds = both.var(), seeds_only.var()
    share = min(1.0, from_seeds / total) if total > 0 else 0.0
    return float(np.sqrt(1.0 + (small_sample_factor(n_seeds, confidence) ** 2 - 1.0) * share))


def _interval(
    both: np.ndarray, seeds_only: np.ndarray, point: float, confidence: float, n_seeds: int, bounds: tuple[float, float]
) -> tuple[float, float]:
    """Percentile interval of the two-way replicates ``both``, widened around ``point`` by the
    small-sample factor applied to the seeds' share of the variance (estimated by the
    replicates ``seeds_only`` that resample seeds and keep the tasks): the few seeds need
    the correction, the many tasks do not."""
    lo, hi = _percentile_ci(both, confidence)
    f = _widening(both, seeds_only, n_seeds, confidence)
    return max(bounds[0], point - f * (point - lo)), min(bounds[1], point + f * (hi - point))


def resample_counts(rng: np.random.Generator, n: int, reps: int) -> np.ndarray:
    """How often each of ``n`` units is drawn in each replicate, shape (reps, n): ``n`` draws
    with replacement per replicate (``rng.integers``), counted."""
    draws = rng.integers(0, n, size=(reps, n))
    counts = np.zeros((reps, n))
    np.add.at(counts, (np.arange(reps)[:, None], draws), 1.0)
    return counts


class TwoWayBootstrap:
    """The replicates of one comparison: task counts shared by all learners, seed counts per
    learner, drawn in a fixed order from ``np.random.default_rng(seed)`` (tasks first, then
    each learner's seeds in the order given)."""

    def __init__(self, arrays: list[np.ndarray], reps: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.arrays = arrays
        self.tasks = resample_counts(rng, arrays[0].shape[1], reps)
        self.seeds = [resample_counts(rng, a.shape[0], reps) for a in arrays]

    def _tasks(self, resample_tasks: bool) -> np.ndarray:
        return self.tasks if resample_tasks else np.ones_like(self.tasks)

    def means(self, i: int, resample_tasks: bool = True) -> np.ndarray:
        """Replicate means of learner ``i``, shape (reps,); with ``resample_tasks`` False, only
        its seeds are resampled (every task once)."""
        a = self.arrays[i]
        return np.einsum("rs,st,rt->r", self.seeds[i], a, self._tasks(resample_tasks)) / a.size

    def improvement(self, i: int, j: int, resample_tasks: bool = True) -> np.ndarray:
        """Replicate P(run of ``i`` beats run of ``j`` on a task), ties counting half, shape (reps,)."""
        x, y = self.arrays[i], self.arrays[j]
        wins = (x[:, None, :] > y[None, :, :]) + 0.5 * (x[:, None, :] == y[None, :, :])
        tasks = self._tasks(resample_tasks)
        total = np.einsum("ri,ijt,rj,rt->r", self.seeds[i], wins, self.seeds[j], tasks, optimize=True)
        return total / (x.shape[0] * y.shape[0] * x.shape[1])


def exact_interval(a: np.ndarray, confidence: float) -> tuple[float, float]:
    """Clopper-Pearson interval of the mean of ``a``, its cells counted as independent outcomes
    (a fractional count of successes where cells average several episodes)."""
    n = a.size
    x = float(a.sum())
    alpha = 1.0 - confidence
    lo = 0.0 if x <= 0 else float(scipy_stats.beta.ppf(alpha / 2, x, n - x + 1))
    hi = 1.0 if x >= n else float(scipy_stats.beta.ppf(1 - alpha / 2, x + 1, n - x))
    return lo, hi


def _union(a: tuple[float, float], b: tuple[float, float] | None) -> tuple[float, float]:
    return a if b is None else (min(a[0], b[0]), max(a[1], b[1]))


def _exact_applies(a: np.ndarray) -> bool:
    """Cells are outcomes (0 or 1), or all equal (then the bootstrap has nothing to resample)."""
    return bool(np.isin(a, (0.0, 1.0)).all() or a.min() == a.max())


def _exact_or_none(a: np.ndarray, confidence: float) -> tuple[float, float] | None:
    return exact_interval(a, confidence) if _exact_applies(a) else None


def _success_interval(boot: TwoWayBootstrap, i: int, confidence: float) -> tuple[float, float]:
    """Learner ``i``'s success interval: the widened bootstrap interval, and the exact one
    where it applies."""
    a = boot.arrays[i]
    interval = _interval(boot.means(i), boot.means(i, False), a.mean(), confidence, a.shape[0], (0, 1))
    return _union(interval, _exact_or_none(a, confidence))


def _difference_bound(
    boot: TwoWayBootstrap, i: int, j: int, confidence: float, scale: float = 1.0, centre: float | None = None
) -> tuple[float, float] | None:
    """Where learner ``i`` or ``j`` has the same score in every cell (nothing for the bootstrap
    to resample), Newcombe's interval for ``mean(i) - mean(j)`` from their two success
    intervals (square root of the summed squared half-widths on each side), times ``scale``,
    around ``centre`` (default the scaled difference); else None."""
    x, y = boot.arrays[i], boot.arrays[j]
    if x.min() != x.max() and y.min() != y.max():
        return None
    (x_lo, x_hi), (y_lo, y_hi) = _success_interval(boot, i, confidence), _success_interval(boot, j, confidence)
    mx, my = x.mean(), y.mean()
    centre = scale * (mx - my) if centre is None else centre
    below = scale * np.hypot(mx - x_lo, y_hi - my)
    above = scale * np.hypot(x_hi - mx, my - y_lo)
    low, high = (-scale, scale) if scale == 1.0 else (0.5 - scale, 0.5 + scale)  # a gain, or a probability
    return max(low, float(centre - below)), min(high, float(centre + above))


def interval_estimates(
    scores: Mapping[str, ArrayLike], reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> dict[str, Estimate]:
    """Mean success per learner over seeds and tasks, with a two-way bootstrap CI widened to
    contain the exact interval at the bounds (see the module's docstring)."""
    if not scores:
        raise ValueError("scores is empty: need at least one learner")
    _check_bootstrap_args(reps, confidence)
    arrays = _validate({f"scores[{name!r}]": s for name, s in scores.items()})
    boot = TwoWayBootstrap(arrays, reps, seed)
    return {
        name: Estimate(float(a.mean()), _success_interval(boot, i, confidence))
        for i, (name, a) in enumerate(zip(scores, arrays))
    }


def meta_gain(
    meta_scores: ArrayLike,
    baseline_scores: Mapping[str, ArrayLike],
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> GainEstimate:
    """Gain of the meta-learner over the best baseline, the best re-picked in each replicate,
    and P(improvement) against every baseline, the minimum as the headline.

    ``mean``: meta's mean success minus the max of the baselines' means; ``ci``: percentile
    interval of the replicate gains ``meta* - max_b b*`` (the same task draw for all),
    widened for few seeds and at the bounds (see the module's docstring); ``detectable_gain``:
    the smallest true gain whose interval would exclude 0 with 80% power, ``(z_conf + z_power)``
    standard errors, the standard error read off the interval's half-width. One baseline
    (e.g. the multi-task learner) is fine.
    """
    if not baseline_scores:
        raise ValueError("baseline_scores is empty: need at least one baseline")
    _check_bootstrap_args(reps, confidence)
    labelled = {"meta_scores": meta_scores}
    labelled.update({f"baseline_scores[{name!r}]": s for name, s in baseline_scores.items()})
    arrays = _validate(labelled)
    meta, baselines, names = arrays[0], arrays[1:], tuple(baseline_scores)
    boot = TwoWayBootstrap(arrays, reps, seed)

    n_seeds = min(a.shape[0] for a in arrays)

    def gain_replicates(resample_tasks: bool) -> np.ndarray:
        best = np.max([boot.means(b, resample_tasks) for b in range(1, len(arrays))], axis=0)
        return boot.means(0, resample_tasks) - best

    gains, gains_seeds_only = gain_replicates(True), gain_replicates(False)
    best = int(np.argmax([b.mean() for b in baselines]))
    point = float(meta.mean() - baselines[best].mean())

    # P(improvement): per baseline, and the minimum over them re-taken per replicate. For
    # binary cells P(X > Y) + P(X = Y)/2 = 1/2 + (p_x - p_y)/2, so the exact bounds of the two
    # success rates bound it as they bound the gain, at half the scale.
    improvements = np.stack([boot.improvement(0, b) for b in range(1, len(arrays))])
    improvements_seeds_only = np.stack([boot.improvement(0, b, False) for b in range(1, len(arrays))])
    each: dict[str, Estimate] = {}
    for b, name in enumerate(names):
        poi = float(metrics.probability_of_improvement(meta, baselines[b]))
        bound = _difference_bound(boot, 0, b + 1, confidence, scale=0.5, centre=poi)
        n = min(meta.shape[0], baselines[b].shape[0])
        interval = _interval(improvements[b], improvements_seeds_only[b], poi, confidence, n, (0, 1))
        each[name] = Estimate(poi, _union(interval, bound))
    minimum = min(e.mean for e in each.values())
    minimum_ci = _interval(improvements.min(axis=0), improvements_seeds_only.min(axis=0), minimum, confidence,
                           n_seeds, (0, 1))  # fmt: skip
    # Every baseline's interval bounds the minimum: it lies below the smallest upper bound.
    minimum_ci = (
        min(minimum_ci[0], *(e.ci[0] for e in each.values())),
        max(minimum_ci[1], min(e.ci[1] for e in each.values())),
    )

    ci = _union(
        _interval(gains, gains_seeds_only, point, confidence, n_seeds, (-1, 1)),
        _difference_bound(boot, 0, best + 1, confidence),
    )
    z = scipy_stats.norm.ppf(0.5 + confidence / 2)
    return GainEstimate(
        mean=point,
        ci=ci,
        p_improvement=minimum,
        p_improvement_ci=minimum_ci,
        baselines=names,
        detectable_gain=float((z + scipy_stats.norm.ppf(POWER)) / z * (ci[1] - ci[0]) / 2),
        p_improvement_each=each,
    )


def probability_of_improvement(
    meta_scores: ArrayLike,
    baseline_scores: Mapping[str, ArrayLike],
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """P(meta > baseline), the minimum over the baselines, as defined in :func:`meta_gain`, with its CI."""
    gain = meta_gain(meta_scores, baseline_scores, reps, confidence, seed)
    return Estimate(gain.p_improvement, gain.p_improvement_ci)
