"""Measure how far fine-tuning moves a trained PPO learner: `python scripts/measure_finetuning.py --help`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from banana_grasp.agents.common.layout import RunLayout
from banana_grasp.agents.learners.registry import learner
from banana_grasp.agents.protocol.finetuning import measure_finetuning
from banana_grasp.agents.protocol.presets import preset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", type=Path, required=True, help="run folder holding learners/")
    p.add_argument("--learner", default="color-specialist", help="a PPO learner saved in --run")
    p.add_argument("--seed", type=int, default=0, help="its training seed")
    p.add_argument("--preset", default="full-lift", help="gives the protocol (tasks, k)")
    p.add_argument("--heldout-tasks", type=int, default=12, help="tasks to measure on")
    p.add_argument("--k", type=int, nargs="+", default=[0, 1, 3], help="adaptation budgets")
    p.add_argument("--settings", nargs="+", default=["1e-4:5:100", "3e-4:10:50", "1e-3:10:50"],
                   help="fine-tuning settings as learning_rate:n_epochs:batch_size")  # fmt: skip
    args = p.parse_args()
    protocol = dataclasses.replace(
        preset(args.preset).protocol, heldout_tasks=args.heldout_tasks, k=tuple(sorted(set(args.k)))
    )
    settings = []
    for text in args.settings:
        lr, epochs, batch = text.split(":")
        settings.append({"learning_rate": float(lr), "n_epochs": int(epochs), "batch_size": int(batch)})
    spec = learner(args.learner)
    rows = measure_finetuning(spec, RunLayout(args.run).learner(spec.name, args.seed), protocol, settings, args.seed)
    print("| learning rate | epochs | batch | k | success | mean action change |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['learning_rate']:g} | {r['n_epochs']} | {r['batch_size']} | {r['k']} | {r['success']:.2f} | "
              f"{r['action_change']:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
