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


def plot_success(path: Path, summary: dict, tasks: str = "held-out") -> None:
    """Success on the evaluation tasks per learner, one bar per adaptation budget k."""
    names, ks = list(summary["learners"]), [str(k) for k in summary["k"]]
    x = np.arange(len(names))
    width = 0.8 / len(ks)
    figure, axis = plt.subplots(figsize=(max(6, 1.1 * len(names)), 3.8))
    for index, k in enumerate(ks):
        estimates = [summary["learners"][n]["heldout_success"][k] for n in names]
        means = np.array([e["mean"] for e in estimates])
        cis = np.array([e["ci"] for e in estimates])
        label = "zero-shot" if k == "0" else f"after k={k}"
        axis.bar(x + (index - (len(ks) - 1) / 2) * width, means, width, label=label,
                 yerr=[means - cis[:, 0], cis[:, 1] - means], capsize=3)  # fmt: skip
    axis.set_xticks(x, names, rotation=30, ha="right")
    axis.set_ylim(0, 1.05)
    axis.set_ylabel(f"{tasks} success (95% CI)")
    axis.set_title(f"Success on the {tasks} tasks")
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


def plot_adaptation(path: Path, summary: dict, tasks: str = "held-out") -> None:
    """Success against the adaptation budget k, one line per learner."""
    figure, axis = plt.subplots(figsize=(5.5, 4))
    ks = np.array(summary["k"], dtype=float)
    spread = 0.015 * max(ks.max(), 1)
    for index, (name, row) in enumerate(summary["learners"].items()):
        estimates = [row["heldout_success"][str(k)] for k in summary["k"]]
        means = np.array([e["mean"] for e in estimates])
        lows, highs = np.array([e["ci"][0] for e in estimates]), np.array([e["ci"][1] for e in estimates])
        offset = (index - len(summary["learners"]) / 2) * spread
        axis.errorbar(ks + offset, means, yerr=[means - lows, highs - means], marker="o", capsize=3, label=name)
    axis.set_xticks(ks)
    axis.set_xlabel("adaptation episodes k")
    axis.set_ylabel(f"{tasks} success (95% CI)")
    axis.set_ylim(0, 1.05)
    axis.legend(fontsize=7)
    axis.set_title("Success vs adaptation budget")
    _save_figure(figure, path)


def plot_generalisation(path: Path, summary: dict, cells: dict[str, tuple[str, str, str]]) -> None:
    """The generalisation matrix: a panel per trained learner (columns) and adaptation budget
    (rows), each a 2 x 2 heatmap of success on the family's cells (``Family.generalisation_cells``,
    row by row: the first factor seen then new, the second factor across)."""
    rows = {name: row["generalisation"] for name, row in summary["learners"].items() if row.get("generalisation")}
    names, order = list(rows), list(cells)
    ks = list(next(iter(rows.values()))[order[0]])
    first, second = cells[order[2]][2], cells[order[1]][2]  # what is new down the rows, across the columns
    figure, axes = plt.subplots(len(ks), len(names), figsize=(2.2 * len(names) + 0.8, 2.4 * len(ks)), squeeze=False,
                                layout="constrained")  # fmt: skip
    for column, name in enumerate(names):
        for line, k in enumerate(ks):
            grid = np.array([rows[name][cell][k]["mean"] for cell in order]).reshape(2, 2)
            axis = axes[line][column]
            axis.imshow(grid, vmin=0, vmax=1, cmap="viridis")
            for (i, j), value in np.ndenumerate(grid):
                axis.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.6 else "black")
            bottom, left = line == len(ks) - 1, column == 0
            axis.set_xticks([0, 1], [f"{second}\nseen", f"{second}\nnew"] if bottom else ["", ""], fontsize=7)
            axis.set_yticks([0, 1], [f"{first}\nseen", f"{first}\nnew"] if left else ["", ""], fontsize=7)
            axis.set_title(f"{name}, {'zero-shot' if k == '0' else f'k={k}'}", fontsize=8)
    figure.suptitle("Success per cell of the generalisation matrix", fontsize=9)
    _save_figure(figure, path)
