"""The report's tables (Markdown) and results.csv."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from banana_grasp.agents.common.files import write_text_atomic
from banana_grasp.agents.protocol.evaluation import BASE_COLUMNS, Outcome


def write_csv(path: Path, outcomes: list[Outcome]) -> None:
    """results.csv: one row per outcome; after the base columns, those of the tasks' family
    (``Family.outcome_fields``), in order of first appearance, each only where some outcome
    has a value."""
    extra = dict.fromkeys(column for outcome in outcomes for column in outcome.fields)
    fields = [*BASE_COLUMNS, *(c for c in extra if any(o.fields.get(c) is not None for o in outcomes))]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for outcome in outcomes:
        writer.writerow({**outcome.as_row(), "success": int(outcome.success)})
    write_text_atomic(path, buffer.getvalue())


def _fmt(estimate: dict | None) -> str:
    if estimate is None:
        return "n/a"
    low, high = estimate["ci"]
    return f"{estimate['mean']:.2f} [{low:.2f}, {high:.2f}]"


def detectable(gain: float) -> str:
    """The smallest gain a run could detect, as a table shows it: no gain exceeds 1, so a figure
    above 1 means the run could detect none."""
    return f"{gain:.2f}" if gain <= 1.0 else "none"


def markdown_tables(summary: dict, tasks: str = "held-out", family_tables: list[str] | tuple[str, ...] = ()) -> str:
    """The success table (own variation, then the evaluation tasks after each k), the
    meta-gain tables, then ``family_tables`` (the tasks' family's, ``Family.tables``);
    ``tasks`` names the evaluation tasks in the headers."""
    ks = [str(k) for k in summary["k"]]
    own = f" after k={summary['own_k']}" if summary.get("own_k") else ""
    lines = [
        f"| learner | role | trained on | own-variation success{own} | "
        + " | ".join(f"{tasks}, {'zero-shot' if k == '0' else f'after k={k}'}" for k in ks)
        + " |",
        "|---|---|---|---:|" + "---:|" * len(ks),
    ]
    for name, row in summary["learners"].items():
        variation = row["variation"] + (" (grey)" if row["greyscale"] else "")
        cells = [_fmt(row["train_success"])] + [_fmt(row["heldout_success"][k]) for k in ks]
        lines.append(f"| {name} | {row['role']} | {variation} | " + " | ".join(cells) + " |")
    if summary["meta_gain"]:
        lines += [
            "",
            "| meta-learner | k | gain vs | gain [95% CI] | detectable gain | P(improvement) [95% CI] |",
            "|---|---:|---|---:|---:|---:|",
        ]
        for meta, per_k in summary["meta_gain"].items():
            for k, gains in per_k.items():
                for label, gain in gains.items():
                    best_single = label == "vs_best_single"
                    against = "best single-task" if best_single else gain["baselines"][0]
                    low, high = gain["ci"]
                    p_low, p_high = gain["p_improvement_ci"]
                    p_label = "min " if best_single and len(gain["baselines"]) > 1 else ""
                    lines.append(
                        f"| {meta} | {k} | {against} | {gain['mean']:+.2f} [{low:+.2f}, {high:+.2f}] | "
                        f"{detectable(gain['detectable_gain'])} | {p_label}{gain['p_improvement']:.2f} "
                        f"[{p_low:.2f}, {p_high:.2f}] |"
                    )
        headline = str(summary["headline_k"])
        each = [
            (m, g[headline]["vs_best_single"])
            for m, g in summary["meta_gain"].items()
            if "vs_best_single" in g[headline]
        ]
        if each:
            names = each[0][1]["baselines"]
            lines += ["", f"P(improvement) after k={headline} against each single-task learner:", "",
                      "| meta-learner | " + " | ".join(f"vs {n}" for n in names) + " |",
                      "|---|" + "---:|" * len(names)]  # fmt: skip
            for meta, gain in each:
                lines.append(f"| {meta} | " + " | ".join(_fmt(gain["p_improvement_each"][n]) for n in names) + " |")
    chose = adaptation_table(summary)
    if chose:
        lines += ["", chose]
    for table in family_tables:
        lines += ["", table]
    return "\n".join(lines)


def adaptation_table(summary: dict) -> str:
    """The adaptation each learner that chose one chose (per seed), with each setting's success
    on its validation tasks (mean over seeds); empty if none chose."""
    rows = {name: row["adaptation"] for name, row in summary["learners"].items()
            if (row.get("adaptation") or {}).get("chosen")}  # fmt: skip
    if not rows:
        return ""
    settings = list(dict.fromkeys(name for record in rows.values() for name in record["validation"]))
    k = next(iter(rows.values()))["k"]
    lines = [f"Adaptation chosen on validation tasks of the learner's own training variation (success after k={k}):",
             "", "| learner | chosen, per seed | " + " | ".join(settings) + " |",
             "|---|---|" + "---:|" * len(settings)]  # fmt: skip
    for name, record in rows.items():
        cells = [f"{record['validation'][s]:.2f}" if s in record["validation"] else "" for s in settings]
        lines.append(f"| {name} | {', '.join(record['chosen'].values())} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speed_table(speed: dict, seeds: list[int], learners: dict) -> str:
    """Per trained learner: training speed, and its own-variation success per seed (``learners``:
    the summary's rows), the deterministic score that decides whether it learned."""
    lines = [
        (
            "| learner | env steps/s | seeds reaching 90% | steps to 90% (median) | wall time to 90% (median) "
            "| own-variation success per seed |"
        ),
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in speed.items():
        per_seed = learners[name].get("train_success_per_seed") if name in learners else None
        own = ", ".join(f"{value:.2f}" for value in per_seed) if per_seed else "n/a"
        reached = [v for v in row["to_90_percent"].values() if v is not None]
        steps = f"{np.median([v['steps'] for v in reached]) / 1000:.0f}k" if reached else "never"
        wall = f"{np.median([v['wall_seconds'] for v in reached]) / 60:.1f} min" if reached else "never"
        rate = "n/a" if row["steps_per_second"] is None else f"{row['steps_per_second']:.0f}"
        lines.append(
            f"| {name} | {rate} | {row['seeds_reaching_90_percent']} of {len(seeds)} | {steps} | {wall} | {own} |"
        )
    return "\n".join(lines)


def generalisation_table(summary: dict, cells: dict[str, tuple[str, str, str]]) -> str:
    """Success of each trained learner on each cell of the generalisation matrix, zero-shot and
    after the headline k, with 95% CIs; empty without a matrix."""
    rows = {name: row["generalisation"] for name, row in summary["learners"].items() if row.get("generalisation")}
    if not rows:
        return ""
    headers = ["seen in training" if what == "nothing" else f"new {what}" for _, _, what in cells.values()]
    lines = ["| learner | k | " + " | ".join(headers) + " |", "|---|---:|" + "---:|" * len(cells)]
    for name, record in rows.items():
        for k in record[next(iter(cells))]:
            lines.append(f"| {name} | {k} | " + " | ".join(_fmt(record[cell][k]) for cell in cells) + " |")
    return "\n".join(lines)
