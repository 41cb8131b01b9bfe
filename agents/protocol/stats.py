"""Bootstrap statistics for what meta-learning gains over the best single-task learner.

Scores are ``{learner: array (n_seeds, n_tasks)}`` of success rates in [0, 1]; entry
``[s, t]`` is seed ``s``'s mean success over the evaluation episodes of held-out task
``t``. As in rliable, uncertainty comes from a *stratified* bootstrap: within each task
a learner's runs (seeds) are resampled with replacement, tasks stay fixed, and
different learners' runs are independent, so each is resampled on its own.

The headline number is the gain ``mean(meta) - max_b mean(b)`` over several baselines,
with the max re-taken inside every bootstrap replicate. Picking the winner once on the
full sample and bootstrapping ``meta - winner`` would ignore that a rerun could crown
another baseline: every replicate's max is >= the fixed winner's replicate mean, so the
fixed-winner distribution is shifted in the meta-learner's favour.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from rliable import library as rly
from rliable import metrics


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
    p_improvement: float
    p_improvement_ci: tuple[float, float]
    baselines: tuple[str, ...]

    def as_dict(self) -> dict[str, float | list[float] | list[str]]:
        return {
            "mean": float(self.mean),
            "ci": [float(c) for c in self.ci],
            "p_improvement": float(self.p_improvement),
            "p_improvement_ci": [float(c) for c in self.p_improvement_ci],
            "baselines": list(self.baselines),
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
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _percentile_ci(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [50.0 * (1 - confidence), 50.0 * (1 + confidence)])
    return float(lo), float(hi)


@contextmanager
def _seeded_global_numpy(seed: int) -> Iterator[None]:
    # rliable 1.2.0 draws bootstrap indices from the global np.random (its random_state
    # is only forwarded to arch, which deprecates it), so seed that and restore it after.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def interval_estimates(
    scores: Mapping[str, ArrayLike], reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> dict[str, Estimate]:
    """Mean success over seeds and tasks per learner, with a stratified-bootstrap CI."""
    if not scores:
        raise ValueError("scores is empty: need at least one learner")
    _check_bootstrap_args(reps, confidence)
    arrays = _validate({f"scores[{name!r}]": s for name, s in scores.items()})
    with _seeded_global_numpy(seed):
        points, cis = rly.get_interval_estimates(
            dict(zip(scores, arrays)),
            lambda x: np.array([metrics.aggregate_mean(x)]),
            reps=reps,
            confidence_interval_size=confidence,
        )
    return {name: Estimate(float(points[name][0]), (float(cis[name][0, 0]), float(cis[name][1, 0]))) for name in scores}


def _resample_counts(rng: np.random.Generator, n_runs: int, n_tasks: int, reps: int) -> np.ndarray:
    """How often each run is drawn, per replicate and task: shape (reps, n_tasks, n_runs).

    Drawing n_runs indices with replacement per task is a uniform multinomial; counts
    let means and pairwise comparisons be weighted sums instead of gathered copies.
    """
    return rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=(reps, n_tasks)).astype(float)


def meta_gain(
    meta_scores: ArrayLike,
    baseline_scores: Mapping[str, ArrayLike],
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> GainEstimate:
    """Gain of the meta-learner over the best baseline, re-picking the best per replicate.

    ``mean``: meta's mean success minus the max of the baselines' full-sample means;
    ``ci``: percentile interval of the replicate gains ``meta* - max_b b*``. One baseline
    (e.g. the multi-task learner) is fine.

    ``p_improvement``: probability of improvement as in rliable's
    ``metrics.probability_of_improvement``, P(X > Y) = mean over tasks t of
    ``(#{i,j: x_it > y_jt} + #{i,j: x_it = y_jt} / 2) / (n_x n_y)`` (Mann-Whitney U
    normalised, ties count 1/2), with X the meta-learner's resampled runs and Y those
    of the replicate's best baseline (highest replicate mean). Reported as the mean
    over replicates, ``p_improvement_ci`` as their percentile interval.
    """
    if not baseline_scores:
        raise ValueError("baseline_scores is empty: need at least one baseline")
    _check_bootstrap_args(reps, confidence)
    labelled = {"meta_scores": meta_scores}
    labelled.update({f"baseline_scores[{name!r}]": s for name, s in baseline_scores.items()})
    meta, *baselines = _validate(labelled)
    n_tasks = meta.shape[1]

    rng = np.random.default_rng(seed)
    meta_w = _resample_counts(rng, meta.shape[0], n_tasks, reps)
    meta_means = np.einsum("rti,it->r", meta_w, meta) / meta.size
    base_means = np.empty((len(baselines), reps))
    base_poi = np.empty((len(baselines), reps))
    for k, base in enumerate(baselines):
        w = _resample_counts(rng, base.shape[0], n_tasks, reps)
        base_means[k] = np.einsum("rtj,jt->r", w, base) / base.size
        # wins[i, j, t]: how much meta run i beats baseline run j on task t (tie = 1/2).
        wins = (meta[:, None, :] > base[None, :, :]) + 0.5 * (meta[:, None, :] == base[None, :, :])
        per_task = np.einsum("rti,ijt,rtj->rt", meta_w, wins, w, optimize=True)
        base_poi[k] = per_task.mean(axis=1) / (meta.shape[0] * base.shape[0])

    best = base_means.argmax(axis=0)
    gains = meta_means - base_means[best, np.arange(reps)]
    poi = base_poi[best, np.arange(reps)]
    point = float(meta.mean() - max(b.mean() for b in baselines))
    return GainEstimate(
        mean=point,
        ci=_percentile_ci(gains, confidence),
        p_improvement=float(poi.mean()),
        p_improvement_ci=_percentile_ci(poi, confidence),
        baselines=tuple(baseline_scores),
    )


def probability_of_improvement(
    meta_scores: ArrayLike,
    baseline_scores: Mapping[str, ArrayLike],
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """P(meta > best baseline) as defined in :func:`meta_gain`, with its CI."""
    gain = meta_gain(meta_scores, baseline_scores, reps, confidence, seed)
    return Estimate(gain.p_improvement, gain.p_improvement_ci)
