"""The report's tables (Markdown) and results.csv."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from banana_grasp.agents.common.files import write_text_atomic
from banana_grasp.agents.protocol.evaluation import Outcome


def write_csv(path: Path, outcomes: list[Outcome]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(Outcome.__dataclass_fields__))
    writer.writeheader()
    for outcome in outcomes:
        writer.writerow({**outcome.as_row(), "success": int(outcome.success)})
    write_text_atomic(path, buffer.getvalue())


def _fmt(estimate: dict | None) -> str:
    if estimate is None:
        return "n/a"
    low, high = estimate["ci"]
    return f"{estimate['mean']:.2f} [{low:.2f}, {high:.2f}]"


def markdown_tables(summary: dict, k: int, tasks: str = "held-out") -> str:
    """The success table and the meta-gain table; ``tasks`` names the evaluation tasks in the headers."""
    lines = [
        f"| learner | role | trained on | own-variation success | {tasks}, zero-shot | {tasks}, after k={k} |",
        "|---|---|---|---:|---:|---:|",
    ]
    for name, row in summary["learners"].items():
        variation = row["variation"] + (" (grey)" if row["greyscale"] else "")
        lines.append(
            f"| {name} | {row['role']} | {variation} | {_fmt(row['train_success'])} | "
            f"{_fmt(row['heldout_success'])} | {_fmt(row['heldout_success_adapted'])} |"
        )
    if summary["meta_gain"]:
        lines += ["", "| meta-learner | gain vs | gain [95% CI] | P(meta > baseline) |", "|---|---|---:|---:|"]
        for meta, gains in summary["meta_gain"].items():
            for label, gain in gains.items():
                against = (
                    "best single-task (" + ", ".join(gain["baselines"]) + ")"
                    if label == "vs_best_single"
                    else gain["baselines"][0]
                )
                low, high = gain["ci"]
                lines.append(
                    f"| {meta} | {against} | {gain['mean']:+.2f} [{low:+.2f}, {high:+.2f}] | "
                    f"{gain['p_improvement']:.2f} |"
                )
    return "\n".join(lines)


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
