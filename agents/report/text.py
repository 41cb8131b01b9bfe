"""The report's words, made from its numbers: the finding and report.md."""

from __future__ import annotations

import os
import time

from banana_grasp.agents.learners.registry import kind
from banana_grasp.agents.protocol.presets import Preset
from banana_grasp.agents.report.tables import markdown_tables, speed_table


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


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def finding(summary: dict, k: int, tasks: str = "held-out") -> str:
    rows = summary["learners"]
    learned = {name: row for name, row in rows.items() if row["role"] != "reference"}
    top = max(row["heldout_success_adapted"]["mean"] for row in learned.values())
    best = [name for name, row in learned.items() if row["heldout_success_adapted"]["mean"] == top]
    if top == 0.0:
        parts = [
            (
                f"No learner lifted a banana on the {tasks} tasks: at these budgets nothing has learned yet "
                "(see the learning curves), so the gains below compare zeros."
            )
        ]
    elif len(best) == 1:
        parts = [f"On the {tasks} tasks the best learner after k={k} was {best[0]} ({top:.2f})."]
    else:
        parts = [f"On the {tasks} tasks {_names(best)} tied for the best success after k={k} ({top:.2f})."]
    for meta, gains in summary["meta_gain"].items():
        if "vs_best_single" in gains:
            parts.append(_describe_gain(meta, gains["vs_best_single"], "the best single-task learner"))
        if "vs_multitask" in gains:
            parts.append(_describe_gain(meta, gains["vs_multitask"], "the multi-task learner"))
        if kind(rows[meta]["kind"]).in_context and k > 0:
            first, later = rows[meta]["heldout_success"], rows[meta]["heldout_success_adapted"]
            if later["ci"][0] > first["ci"][1]:
                verdict = "memory of the earlier episode(s) helped"
            elif later["ci"][1] < first["ci"][0]:
                verdict = "the later episode was worse"
            else:
                verdict = "no measurable difference (the CIs overlap)"
            parts.append(
                f"{meta} succeeded {first['mean']:.2f} in the first episode of a trial and {later['mean']:.2f} "
                f"after {k} episode(s) of the task in memory: {verdict}."
            )
    singles = {name: row for name, row in rows.items() if row["role"] == "single-task"}
    if singles:
        scores = ", ".join(
            f"{name} (trained on {row['variation']}{', greyscale' if row['greyscale'] else ''}) "
            f"{row['heldout_success']['mean']:.2f}"
            for name, row in singles.items()
        )
        parts.append(
            f"Zero-shot on the {tasks} tasks, the single-task learners scored: {scores}. How much of these "
            "tasks a single-task learner already solves is what any meta-learner must beat."
        )
    return " ".join(parts)


def report_markdown(preset: Preset, results: dict, summary: dict, videos: list[str]) -> str:
    """report.md: what was run, the tables, training speed, the finding, plots and videos."""
    protocol, versions, seeds = preset.protocol, results["versions"], list(preset.seeds)
    tasks = protocol.tasks_label
    scope, what = (("held-out combined tasks", "new colours x new positions") if protocol.heldout_combined
                   else ("evaluation tasks", f"{protocol.variation}/{protocol.split}"))  # fmt: skip
    wall_minutes = results["wall_seconds"] / 60
    video_lines = "\n".join(f"- [{path.rsplit('/', 1)[-1]}]({path})" for path in videos) or "- (none)"
    return f"""# banana-grasp comparison: preset `{preset.name}`

What was run: {len(preset.learners)} learners x seeds {seeds}; training budgets (env steps) {preset.train_steps};
{scope}: {protocol.heldout_tasks} tasks of `{results["env_id"]}` ({what},
{protocol.position_layout} position split), k = {protocol.k} adaptation episode(s) per task, then
{protocol.eval_episodes} evaluation episode(s) per task; success = `info["is_success"]` at the last step.
banana-grasp {versions["banana-grasp"]}, mujoco {versions["mujoco"]}, gymnasium {versions["gymnasium"]},
stable-baselines3 {versions["stable-baselines3"]}, sb3-contrib {versions["sb3-contrib"]}, torch {versions["torch"]}.
Written {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; this invocation took {wall_minutes:.1f} min
(finished jobs of an earlier, interrupted invocation are reused, not counted).

Success rates are means over seeds and tasks with stratified-bootstrap 95% CIs (rliable). The meta-gain is
success(meta-learner) - max over the single-task learners, the max re-taken in each bootstrap replicate;
P(improvement) is the probability that a run of the meta-learner beats a run of that replicate's best
single-task learner on a task (ties count half).

{markdown_tables(summary, protocol.k, tasks)}

Training (success of the training rollouts, stochastic policy; 90% = mean of 3 consecutive rollouts;
wall time on this machine with {os.cpu_count()} cores shared by the parallel jobs):

{speed_table(results["training_speed"], seeds)}

## Finding

{finding(summary, protocol.k, "held-out combined" if protocol.heldout_combined else tasks)}

## Plots and videos

![{tasks} success](plots/success.png)

![learning curves](plots/curves.png)

![success vs adaptation budget](plots/adaptation.png)

Rollouts of every learner (seed {seeds[0]}, after adaptation) on the same {tasks} tasks:
{video_lines}
"""
