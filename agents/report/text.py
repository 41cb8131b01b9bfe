"""The report's words, made from its numbers: the finding and report.md."""

from __future__ import annotations

import os
import time

from banana_grasp.agents.learners.registry import kind
from banana_grasp.agents.learners.stopping import CHECK_EPISODES, CHECK_ROUNDS
from banana_grasp.agents.protocol.presets import Preset
from banana_grasp.agents.report.tables import generalisation_table, markdown_tables, speed_table


def learned_seeds(speed: dict, name: str) -> tuple[int, int]:
    """(seeds of ``name`` that reached 90% training success on their own variation, seeds)."""
    row = speed.get(name)
    if row is None:  # untrained references are not flagged
        return 0, 0
    return row["seeds_reaching_90_percent"], len(row["to_90_percent"])


def did_not_learn(speed: dict, name: str) -> bool:
    reached, seeds = learned_seeds(speed, name)
    return seeds > 0 and reached < seeds


OWN_SUCCESS_LEARNED = 0.9  # the own-variation success every seed of a learner must reach for a verdict


def below_on_own(rows: dict, name: str) -> list[float] | None:
    """``name``'s own-variation success per seed where some seed scored below
    ``OWN_SUCCESS_LEARNED`` (the report's deterministic score), else None."""
    per_seed = rows[name].get("train_success_per_seed")
    return per_seed if per_seed and min(per_seed) < OWN_SUCCESS_LEARNED else None


def gain_verdict(gain: dict, best_baseline: float) -> str:
    """What the gain's interval says; a ceiling where even a perfect meta-learner could not
    gain as much as this run can detect."""
    low, high = gain["ci"]
    detectable = gain["detectable_gain"]
    if low > 0:
        return "a gain"
    if high < 0:
        return "a loss"
    if detectable > 1.0:
        return (f"a tie: the interval includes zero, and it is so wide that this run could not detect even a gain "
                f"of 1 (the best baseline scored {best_baseline:.2f})")  # fmt: skip
    if 1.0 - best_baseline < detectable:
        return (f"a tie at the ceiling: the best baseline scored {best_baseline:.2f}, leaving less room "
                f"than the smallest gain this run could detect ({detectable:.2f}), so this setting "
                "cannot show a gain")  # fmt: skip
    return f"a tie: the interval includes zero (the smallest gain this run could detect: {detectable:.2f})"


def _describe_gain(meta: str, gain: dict, against: str, best_baseline: float) -> str:
    """The verdict first, then its numbers."""
    low, high = gain["ci"]
    p_low, p_high = gain["p_improvement_ci"]
    return (f"{meta} vs {against}: {gain_verdict(gain, best_baseline)}; gain {gain['mean']:+.2f} (95% CI "
            f"[{low:+.2f}, {high:+.2f}]), P(improvement) {gain['p_improvement']:.2f} [{p_low:.2f}, {p_high:.2f}].")  # fmt: skip


def _counted(values: list[str]) -> str:
    """``["none", "finetune", "none"]`` as "none on 2, finetune on 1"."""
    counts = {value: values.count(value) for value in dict.fromkeys(values)}
    return ", ".join(f"{value} on {count}" for value, count in counts.items())


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def finding(
    summary: dict, speed: dict, tasks: str = "held-out", family_findings: list[str] | tuple[str, ...] = ()
) -> str:
    """The report's finding: a Markdown list, one claim a bullet, a verdict before its numbers,
    every word read off the summary's numbers; ``family_findings``: the tasks' family's claims
    (``Family.findings``)."""
    rows, k = summary["learners"], summary["headline_k"]
    after = {name: row["heldout_success"][str(k)] for name, row in rows.items()}
    learned = [name for name, row in rows.items() if row["role"] != "reference"]
    top = max(after[name]["mean"] for name in learned)
    best = [name for name in learned if after[name]["mean"] == top]
    if top == 0.0:
        parts = [f"No learner succeeded on the {tasks} tasks after k={k}."]
    elif len(best) == 1:
        parts = [f"On the {tasks} tasks the best learner after k={k} was {best[0]} ({top:.2f})."]
    else:
        parts = [f"On the {tasks} tasks {_names(best)} tied for the best success after k={k} ({top:.2f})."]
    unlearned = [name for name in rows if did_not_learn(speed, name)]
    if unlearned:
        counts = ", ".join(f"{name} {learned_seeds(speed, name)[0]} of {learned_seeds(speed, name)[1]}"
                           for name in unlearned)  # fmt: skip
        parts.append(f"Did not reach 90% training success on their own variation on every seed within the budget "
                     f"(seeds that did: {counts}).")  # fmt: skip
    weak = {name: per_seed for name in rows if (per_seed := below_on_own(rows, name))}
    if weak:
        scores = "; ".join(f"{name} {', '.join(f'{v:.2f}' for v in per_seed)}" for name, per_seed in weak.items())
        parts.append(
            f"Scored below {OWN_SUCCESS_LEARNED:.1f} on their own variation on some seed (per seed: {scores})."
        )
    chose = {name: row["adaptation"]["chosen"] for name, row in rows.items()
             if (row.get("adaptation") or {}).get("chosen")}  # fmt: skip
    if chose:
        each = "; ".join(f"{name} {_counted(list(per_seed.values()))}" for name, per_seed in chose.items())
        parts.append(f"Adaptation chosen on validation tasks of each learner's own training variation (seeds): {each}.")
    parts += list(family_findings)
    for meta, per_k in summary["meta_gain"].items():
        gains = per_k[str(k)]
        if did_not_learn(speed, meta) or meta in weak:
            parts.append(f"{meta} did not learn within the budget: no verdict.")
            continue
        for label, against in (("vs_best_single", "the best single-task learner"), ("vs_multitask", None)):
            if label not in gains:
                continue
            gain = gains[label]
            against = against or gain["baselines"][0]
            best_baseline = max(after[name]["mean"] for name in gain["baselines"])
            parts.append(_describe_gain(meta, gain, against, best_baseline))
        if kind(rows[meta]["kind"]).in_context and k > 0:
            first, later = rows[meta]["heldout_success"]["0"], after[meta]
            if later["ci"][0] > first["ci"][1]:
                verdict = "higher after the earlier episode(s)"
            elif later["ci"][1] < first["ci"][0]:
                verdict = "lower after the earlier episode(s)"
            else:
                verdict = "a tie (the intervals overlap)"
            parts.append(
                f"{meta} with the task in memory: {verdict}: {first['mean']:.2f} in the first episode of a trial, "
                f"{later['mean']:.2f} after {k} episode(s) of the task."
            )
    singles = {name: row for name, row in rows.items() if row["role"] == "single-task"}
    if singles:
        scores = ", ".join(
            f"{name} (trained on {row['variation']}{', greyscale' if row['greyscale'] else ''}) "
            f"{row['heldout_success']['0']['mean']:.2f}"
            for name, row in singles.items()
        )
        parts.append(f"Zero-shot on the {tasks} tasks, the single-task learners scored: {scores}.")
    return "\n".join(f"- {part}" for part in parts)


def _validation(protocol, summary: dict) -> str:
    """What was run: the adaptation choice, with the settings the learners tried (their outcomes)."""
    tried = [row["adaptation"]["validation"] for row in summary["learners"].values()
             if (row.get("adaptation") or {}).get("validation")]  # fmt: skip
    if not tried:
        return ""
    menu = ", ".join(f"`{name}`" for name in tried[0])
    return (
        f"\nEach single-task and multi-task learner that fine-tunes adapts with the setting ({menu}) that "
        f"succeeded most on {protocol.validation_tasks} validation tasks of its own training variation after "
        f"k={protocol.headline_k} (a tie to the earlier), chosen per seed and never on the evaluation tasks."
    )


def _matrix(summary: dict, family) -> str:
    """The generalisation matrix's table and figure, where the run scored one."""
    table = generalisation_table(summary, family.generalisation_cells())
    if not table:
        return ""
    return (
        "\n\nThe generalisation matrix: each trained learner's success (95% CI) on each cell's tasks, "
        "named by what in them is new to training, zero-shot and after the headline k:\n\n"
        f"{table}\n\n![generalisation matrix](plots/generalisation.png)"
    )


def generalisation_findings(summary: dict, cells: dict[str, tuple[str, str, str]]) -> list[str]:
    """What each single-task learner keeps of its zero-shot success on the matrix's cell seen in
    training when one factor is new (the cells after the first that change one factor)."""
    order = list(cells)
    parts = []
    for name, row in summary["learners"].items():
        record = row.get("generalisation")
        if row["role"] != "single-task" or not record:
            continue
        seen = record[order[0]]["0"]["mean"]
        if seen == 0.0:
            parts.append(f"{name} scored 0.00 zero-shot on tasks seen in training, so what it keeps when a factor "
                         "is new cannot be said.")  # fmt: skip
            continue
        (first, m1), (second, m2) = ((cells[c][2], record[c]["0"]["mean"]) for c in order[1:3])
        parts.append(f"{name}, zero-shot, succeeds on {seen:.2f} of the tasks seen in training; it keeps "
                     f"{m1 / seen:.2f} of that when the {first} are new ({m1:.2f}) and {m2 / seen:.2f} when the "
                     f"{second} are new ({m2:.2f}).")  # fmt: skip
    return parts


def report_markdown(preset: Preset, results: dict, summary: dict, videos: list[str]) -> str:
    """report.md: what was run, the tables, training speed, the finding, plots and videos."""
    protocol, versions, seeds = preset.protocol, results["versions"], list(preset.seeds)
    tasks, family = protocol.tasks_label, protocol.family
    scope, what, in_finding = protocol.tasks_scope
    wall_minutes = results["wall_seconds"] / 60
    stop = (f", each learner stopped once its deterministic policy succeeded in {100 * preset.stop_at_success:g}% of "
            f"{CHECK_ROUNDS * CHECK_EPISODES} episodes of its training tasks (played in rounds of {CHECK_EPISODES}, "
            "a check ending at the round where its failures exceeded that)"
            if preset.stop_at_success is not None else "")  # fmt: skip
    video_lines = "\n".join(f"- [{path.rsplit('/', 1)[-1]}]({path})" for path in videos) or "- (none)"
    return f"""# banana-grasp comparison: preset `{preset.name}`

What was run: {len(preset.learners)} learners x seeds {seeds}; training budgets (env steps) {preset.train_steps}{stop};
{scope}: {protocol.heldout_tasks} tasks of `{results["env_id"]}` ({what}); for each adaptation budget k in {list(protocol.k)} (whole episodes
of the task), {protocol.eval_episodes} evaluation episode(s) per task; success = `info["is_success"]` at the
last step.{_validation(protocol, summary)}
banana-grasp {versions["banana-grasp"]}, mujoco {versions["mujoco"]}, gymnasium {versions["gymnasium"]},
stable-baselines3 {versions["stable-baselines3"]}, sb3-contrib {versions["sb3-contrib"]}, torch {versions["torch"]}.
Written {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; this invocation took {wall_minutes:.1f} min
(finished jobs of an earlier, interrupted invocation are reused, not counted).

Success rates are means over seeds and tasks with 95% CIs from a two-way bootstrap (whole training seeds
and tasks resampled; see `banana_grasp.agents.protocol.stats`). The meta-gain is success(meta-learner) -
max over the single-task learners, the max re-taken in each bootstrap replicate; P(improvement) is the
probability that a run of the meta-learner beats a run of a single-task learner on a task (ties count
half), against each, the minimum over them as the headline. "Detectable" is the smallest true gain this
run would find (interval above zero) with 80% power, from the spread it measured.

{markdown_tables(summary, tasks, family.tables(summary, tasks))}{_matrix(summary, family)}

Training (success of the training rollouts, stochastic policy; 90% = mean of 3 consecutive rollouts, or the
deterministic success check that stopped a training early;
wall time on this machine with {os.cpu_count()} cores shared by the parallel jobs), and each seed's success
on its own variation as the table above scores it (a learner with a seed below {OWN_SUCCESS_LEARNED:.1f} there gets no verdict):

{speed_table(results["training_speed"], seeds, summary["learners"])}

## Finding

{finding(summary, results["training_speed"], in_finding, [*family.findings(summary, in_finding), *generalisation_findings(summary, family.generalisation_cells())])}

## Plots and videos

![{tasks} success](plots/success.png)

![learning curves](plots/curves.png)

![success vs adaptation budget](plots/adaptation.png)

Rollouts of every learner (seed {seeds[0]}, after adaptation) on the same {tasks} tasks:
{video_lines}
"""
