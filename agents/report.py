"""The run folder's files: results.csv/json, plots, videos and report.md (written atomically)."""

from __future__ import annotations

import csv
import io
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from banana_grasp.agents import storage
from banana_grasp.agents.evaluation import Outcome, sample_tasks
from banana_grasp.agents.protocol import learner_folder
from banana_grasp.agents.results import markdown_tables, summarize
from banana_grasp.agents.specs import Preset, learner
from banana_grasp.agents.training import read_curve
from banana_grasp.agents.vec import env_id

EVAL_VARIATION, EVAL_SPLIT = "both", "heldout"


def write_csv(path: Path, outcomes: list[Outcome]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(Outcome.__dataclass_fields__))
    writer.writeheader()
    for outcome in outcomes:
        writer.writerow({**outcome.as_row(), "success": int(outcome.success)})
    storage.write_text_atomic(path, buffer.getvalue())


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


def plot_curves(path: Path, run: Path, names: list[str], seeds: tuple[int, ...]) -> None:
    figure, axis = plt.subplots(figsize=(7, 4))
    for index, name in enumerate(names):
        color = f"C{index}"
        curves = [read_curve(learner_folder(run, name, seed)) for seed in seeds]
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


def time_to_success(curve: list[dict[str, float]], threshold: float = 0.9, window: int = 3) -> dict | None:
    """First point where the mean training success of ``window`` consecutive rollouts reaches
    ``threshold``: its env steps and wall seconds (None if never)."""
    rates = [row["success_rate"] for row in curve]
    for end in range(window, len(curve) + 1):
        recent = rates[end - window : end]
        if not any(math.isnan(r) for r in recent) and sum(recent) / window >= threshold:
            return {"steps": int(curve[end - 1]["steps"]), "wall_seconds": curve[end - 1]["wall_seconds"]}
    return None


def training_speed(run: Path, names: list[str], seeds: list[int]) -> dict:
    """Per learner: env steps per second, and steps and wall time to 90% training success per seed."""
    speed = {}
    for name in names:
        curves = {seed: read_curve(learner_folder(run, name, seed)) for seed in seeds}
        rates = [c[-1]["steps"] / c[-1]["wall_seconds"] for c in curves.values() if c and c[-1]["wall_seconds"] > 0]
        reached = {seed: time_to_success(c) for seed, c in curves.items()}
        speed[name] = {
            "steps_per_second": round(float(np.mean(rates)), 1) if rates else None,
            "to_90_percent": {str(seed): value for seed, value in reached.items()},
            "seeds_reaching_90_percent": sum(value is not None for value in reached.values()),
        }
    return speed


def speed_table(speed: dict, seeds: list[int]) -> str:
    lines = [
        "| learner | env steps/s | seeds reaching 90% | steps to 90% (median) | wall time to 90% (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in speed.items():
        reached = [v for v in row["to_90_percent"].values() if v is not None]
        steps = f"{np.median([v['steps'] for v in reached]) / 1000:.0f}k" if reached else "never"
        wall = f"{np.median([v['wall_seconds'] for v in reached]) / 60:.1f} min" if reached else "never"
        rate = "n/a" if row["steps_per_second"] is None else f"{row['steps_per_second']:.0f}"
        lines.append(f"| {name} | {rate} | {row['seeds_reaching_90_percent']} of {len(seeds)} | {steps} | {wall} |")
    return "\n".join(lines)


def _describe_gain(meta: str, gain: dict, against: str) -> str:
    low, high = gain["ci"]
    if low > 0:
        verdict = "a gain the bootstrap supports"
    elif high < 0:
        verdict = "a loss: the meta-learner is worse"
    else:
        verdict = "the interval includes zero, so these runs show no gain"
    return (f"{meta} vs {against}: {gain['mean']:+.2f} (95% CI [{low:+.2f}, {high:+.2f}], "
            f"P(improvement) {gain['p_improvement']:.2f}): {verdict}.")  # fmt: skip


def finding(summary: dict, k: int) -> str:
    rows = summary["learners"]
    learned = {name: row for name, row in rows.items() if row["role"] != "reference"}
    best = max(learned, key=lambda name: learned[name]["heldout_success_adapted"]["mean"])
    if learned[best]["heldout_success_adapted"]["mean"] == 0.0:
        parts = [
            (
                "No learner lifted a banana on the held-out combined tasks: at these budgets nothing has "
                "learned yet (see the learning curves), so the gains below compare zeros."
            )
        ]
    else:
        parts = [
            (
                f"On the held-out combined tasks (new colours at new positions) the best learner after k={k} "
                f"was {best} ({learned[best]['heldout_success_adapted']['mean']:.2f})."
            )
        ]
    for meta, gains in summary["meta_gain"].items():
        if "vs_best_single" in gains:
            parts.append(_describe_gain(meta, gains["vs_best_single"], "the best single-task learner"))
        if "vs_multitask" in gains:
            parts.append(_describe_gain(meta, gains["vs_multitask"], "the multi-task learner"))
        if rows[meta]["kind"] == "rl2" and k > 0:
            first, later = rows[meta]["heldout_success"], rows[meta]["heldout_success_adapted"]
            if later["ci"][0] > first["ci"][1]:
                verdict = "memory of the earlier episode(s) helped"
            elif later["ci"][1] < first["ci"][0]:
                verdict = "the later episode was worse"
            else:
                verdict = ("no measurable difference (the CIs overlap): with state observations every task is "
                           "visible from the first step, so there is little for memory to add")  # fmt: skip
            parts.append(
                f"{meta} succeeded {first['mean']:.2f} in the first episode of a trial and {later['mean']:.2f} "
                f"after {k} episode(s) of the task in memory: {verdict}."
            )
    if "position-specialist" in rows and "position-specialist-grey" in rows:
        colour = rows["position-specialist"]["heldout_success"]["mean"]
        grey = rows["position-specialist-grey"]["heldout_success"]["mean"]
        parts.append(
            f"The position specialist, trained on yellow bananas only, scored {colour:.2f} zero-shot on new colours "
            f"at new positions; its greyscale twin scored {grey:.2f}: how much of the held-out combined task a "
            "single-task learner already solves is what any meta-learner must beat."
        )
    return " ".join(parts)


def write_report(run: Path, chosen: Preset, outcomes: list[Outcome], started: float, progress: bool = True) -> Path:
    """Write every file of the run folder; ``started`` is the invocation's ``time.perf_counter()``."""
    from banana_grasp.agents.video import write_videos

    specs = [learner(name) for name in chosen.learners]
    seeds = list(chosen.seeds)
    summary = summarize(outcomes, specs, seeds, chosen.heldout_tasks, chosen.train_eval_episodes, chosen.k_episodes)
    tasks = sample_tasks(chosen.heldout_tasks, chosen.task_seed, EVAL_VARIATION, EVAL_SPLIT, chosen.position_layout)
    versions = storage.versions()
    write_csv(run / "results.csv", outcomes)
    results = {
        "env_id": env_id(EVAL_VARIATION, EVAL_SPLIT),
        "package_version": versions["banana-grasp"],
        "versions": versions,
        "preset": chosen.name,
        "preset_config": asdict(chosen),
        "seeds": seeds,
        "k_episodes": chosen.k_episodes,
        "eval_episodes": chosen.eval_episodes,
        "success_measured": "info['is_success'] at the last step of each episode",
        "heldout_tasks": [t.as_dict() for t in tasks],
        "train_meta": {
            s.name: [storage.read_json(learner_folder(run, s.name, seed) / storage.META) for seed in seeds]
            for s in specs
            if s.trained
        },
        **summary,
    }
    trained_names = [s.name for s in specs if s.trained]
    results["training_speed"] = training_speed(run, trained_names, seeds)
    plots = run / "plots"
    plots.mkdir(exist_ok=True)
    plot_success(plots / "success.png", summary, chosen.k_episodes)
    plot_curves(plots / "curves.png", run, trained_names, chosen.seeds)
    plot_adaptation(plots / "adaptation.png", summary, chosen.k_episodes)
    videos = write_videos(run, specs, tasks[: chosen.video_tasks], seeds[0], chosen.k_episodes,
                          chosen.position_layout, progress=progress)  # fmt: skip
    wall_seconds = time.perf_counter() - started
    results["wall_seconds"] = round(wall_seconds, 1)
    storage.write_json_atomic(run / "results.json", results)

    text = f"""# banana-grasp comparison: preset `{chosen.name}`

What was run: {len(specs)} learners x seeds {seeds}; training budgets (env steps) {chosen.train_steps};
held-out combined tasks: {chosen.heldout_tasks} tasks of `{results["env_id"]}` (new colours x new positions,
{chosen.position_layout} position split), k = {chosen.k_episodes} adaptation episode(s) per task, then
{chosen.eval_episodes} evaluation episode(s) per task; success = `info["is_success"]` at the last step.
banana-grasp {versions["banana-grasp"]}, mujoco {versions["mujoco"]}, gymnasium {versions["gymnasium"]},
stable-baselines3 {versions["stable-baselines3"]}, sb3-contrib {versions["sb3-contrib"]}, torch {versions["torch"]}.
Written {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; this invocation took {wall_seconds / 60:.1f} min
(finished jobs of an earlier, interrupted invocation are reused, not counted).

Success rates are means over seeds and tasks with stratified-bootstrap 95% CIs (rliable). The meta-gain is
success(meta-learner) - max over the single-task learners, the max re-taken in each bootstrap replicate;
P(improvement) is the probability that a run of the meta-learner beats a run of that replicate's best
single-task learner on a task (ties count half).

{markdown_tables(summary, chosen.k_episodes)}

Training (success of the training rollouts, stochastic policy; 90% = mean of 3 consecutive rollouts;
wall time on this machine with {os.cpu_count()} cores shared by the parallel jobs):

{speed_table(results["training_speed"], seeds)}

## Finding

{finding(summary, chosen.k_episodes)}

## Plots and videos

![held-out success](plots/success.png)

![learning curves](plots/curves.png)

![success vs adaptation budget](plots/adaptation.png)

Rollouts of every learner (seed {seeds[0]}, after adaptation) on the same held-out tasks:
{chr(10).join(f"- [{v.name}]({v.relative_to(run)})" for v in videos)}
"""
    storage.write_text_atomic(run / "report.md", text)
    return run / "report.md"
