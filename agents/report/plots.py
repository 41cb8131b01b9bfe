"""The report's plots: held-out success with CIs, learning curves, success against k."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from banana_grasp.agents.common.curves import read_curve
from banana_grasp.agents.common.layout import RunLayout


def _save_figure(figure, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.png")
    figure.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(figure)
    tmp.replace(path)


def plot_success(path: Path, summary: dict, k: int) -> None:
    names = list(summary["learners"])
    x = np.arange(len(names))
    figure, axis = plt.subplots(figsize=(max(6, 1.1 * len(names)), 3.8))
    for offset, key, label in (
        (-0.2, "heldout_success", "zero-shot"),
        (0.2, "heldout_success_adapted", f"after k={k}"),
    ):
        means = np.array([summary["learners"][n][key]["mean"] for n in names])
        cis = np.array([summary["learners"][n][key]["ci"] for n in names])
        axis.bar(x + offset, means, 0.4, label=label, yerr=[means - cis[:, 0], cis[:, 1] - means], capsize=3)
    axis.set_xticks(x, names, rotation=30, ha="right")
    axis.set_ylim(0, 1.05)
    axis.set_ylabel("held-out success (95% CI)")
    axis.set_title("Held-out combined tasks (new colours x new positions)")
    axis.legend()
    _save_figure(figure, path)


def plot_curves(path: Path, run: RunLayout, names: list[str], seeds: list[int]) -> None:
    figure, axis = plt.subplots(figsize=(7, 4))
    for index, name in enumerate(names):
        color = f"C{index}"
        curves = [read_curve(run.learner(name, seed).curve) for seed in seeds]
        curves = [c for c in curves if c]
        if not curves:
            continue
        grid = np.linspace(0, min(c[-1]["steps"] for c in curves), 50)
        stacked = []
        for curve in curves:
            steps = np.array([r["steps"] for r in curve])
            rate = np.array([r["success_rate"] for r in curve])
            ok = ~np.isnan(rate)
            if not ok.any():  # no episode finished yet (tiny budgets)
                continue
            # Smooth over 5 rollouts (a rollout holds only ~20 episodes); at the ends the
            # window shrinks instead of padding with zeros.
            window = np.ones(min(5, ok.sum()))  # "same" mode needs a window no longer than the data
            counts = np.convolve(np.ones(ok.sum()), window, mode="same")
            smooth = np.convolve(rate[ok], window, mode="same") / np.maximum(counts, 1)
            axis.plot(steps[ok], smooth, color=color, alpha=0.2, lw=0.8)
            stacked.append(np.interp(grid, steps[ok], smooth))
        if not stacked:
            continue
        axis.plot(grid, np.mean(stacked, 0), color=color, lw=2, label=name)
    axis.set_xlabel("env steps")
    axis.set_ylabel("training success (own variation)")
    axis.set_ylim(0, 1.05)
    if axis.get_legend_handles_labels()[0]:  # no curve yet when no episode has finished
        axis.legend(fontsize=8)
    axis.set_title("Learning curves (mean over seeds; faint: each seed)")
    _save_figure(figure, path)


def plot_adaptation(path: Path, summary: dict, k: int) -> None:
    figure, axis = plt.subplots(figsize=(5.5, 4))
    for index, (name, row) in enumerate(summary["learners"].items()):
        means = [row["heldout_success"]["mean"], row["heldout_success_adapted"]["mean"]]
        lows = [row["heldout_success"]["ci"][0], row["heldout_success_adapted"]["ci"][0]]
        highs = [row["heldout_success"]["ci"][1], row["heldout_success_adapted"]["ci"][1]]
        ks = np.array([0, k]) + (index - len(summary["learners"]) / 2) * 0.015 * max(k, 1)
        axis.errorbar(ks, means, yerr=[np.subtract(means, lows), np.subtract(highs, means)], marker="o",
                      capsize=3, label=name)  # fmt: skip
    axis.set_xticks([0, k])
    axis.set_xlabel("adaptation episodes k")
    axis.set_ylabel("held-out success (95% CI)")
    axis.set_ylim(0, 1.05)
    axis.legend(fontsize=7)
    axis.set_title("Success vs adaptation budget")
    _save_figure(figure, path)
