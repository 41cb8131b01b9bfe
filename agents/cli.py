"""Command line of banana-grasp: ``banana-grasp {compare,train,evaluate,render} --help``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from banana_grasp.agents.specs import TRAINED_KINDS, learner, learners, preset_names
from banana_grasp.envs import POSITION_LAYOUTS, SPLITS, VARIATIONS, Task


def _compare(args: argparse.Namespace) -> None:
    from banana_grasp.agents.compare import compare

    report = compare(args.preset, args.out or Path("runs") / args.preset, args.workers, progress=not args.quiet)
    print(f"report: {report}")


def _train(args: argparse.Namespace) -> None:
    from banana_grasp.agents.training import train

    folder = args.out / "learners" / args.learner / f"seed{args.seed}"
    meta = train(learner(args.learner), args.seed, args.steps, folder, trial_episodes=args.trial_episodes,
                 position_layout=args.position_layout, checkpoint_every=args.checkpoint_every,
                 progress_bar=not args.quiet)  # fmt: skip
    print(f"saved {folder}")
    print(json.dumps({k: meta[k] for k in ("learner", "seed", "steps", "final_train_success", "wall_seconds")}))


def _evaluate(args: argparse.Namespace) -> None:
    from banana_grasp.agents.protocol import evaluate_learners
    from banana_grasp.agents.results import markdown_tables

    names = args.learners or _learners_in(args.run)
    specs = [learner(name) for name in names]
    _, summary = evaluate_learners(
        specs, args.run, args.seeds, k=args.k, episodes=args.episodes, n_tasks=args.tasks,
        n_train_tasks=args.train_episodes, task_seed=args.task_seed, variation=args.variation,
        split=args.split, position_layout=args.position_layout, progress=not args.quiet,
    )  # fmt: skip
    print(f"\n{args.variation}/{args.split}: {args.tasks} tasks, seeds {args.seeds}, k={args.k}, "
          f"{args.episodes} episodes per task and phase\n")  # fmt: skip
    heldout_combined = (args.variation, args.split) == ("both", "heldout")
    print(markdown_tables(summary, args.k, "held-out" if heldout_combined else f"{args.variation}/{args.split}"))


def _learners_in(run: Path) -> list[str]:
    """Learners saved in ``run`` (in the order of learners.yaml), plus the untrained references."""
    saved = {p.name for p in (run / "learners").glob("*") if p.is_dir()}
    if not saved:
        raise ValueError(f"no trained learners in {run / 'learners'}: train some first, or pass --run")
    return [name for name, spec in learners().items() if name in saved or not spec.trained]


def _render(args: argparse.Namespace) -> None:
    from banana_grasp.agents.adaptation import load_agent
    from banana_grasp.agents.evaluation import sample_tasks
    from banana_grasp.agents.protocol import learner_folder
    from banana_grasp.agents.video import adapted_rollout, label, write_mp4

    spec = learner(args.learner)
    if args.color is not None or args.pose is not None:
        x, y, yaw = args.pose or (0.0, 0.0, 0.0)
        task = Task(color=tuple(args.color) if args.color else Task().color, x=x, y=y, yaw=yaw)
    else:
        task = sample_tasks(args.task_index + 1, args.task_seed, args.variation, args.split, args.position_layout)[-1]
    folder = learner_folder(args.run, spec.name, args.seed) if spec.trained else None
    agent = load_agent(spec, folder, args.variation, args.split, args.position_layout)
    success, frames = adapted_rollout(agent, task, args.k, args.seed)
    out = args.out or Path(f"{spec.name}.mp4")
    write_mp4(out, label(frames, spec.name, success))
    print(f"{spec.name} on {task}: {'success' if success else 'fail'}; video: {out}")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="banana-grasp", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    trainable = [name for name, spec in learners().items() if spec.kind in TRAINED_KINDS]

    p = commands.add_parser("compare", help="train every learner of a preset, evaluate, write the run folder")
    p.add_argument("--preset", default="quick", choices=preset_names(), help="budgets (agents/config/presets/*.yaml)")
    p.add_argument("--out", type=Path, help="run folder (default runs/<preset>); started again, it resumes")
    p.add_argument("--workers", type=int, help="parallel jobs (default: the CPU cores available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_compare)

    p = commands.add_parser("train", help="train one learner for one seed")
    p.add_argument("--learner", required=True, choices=trainable, help="which learner (agents/config/learners.yaml)")
    p.add_argument("--seed", type=int, default=0, help="seed of the policy and envs (default 0)")
    p.add_argument("--steps", type=int, default=150_000, help="env steps of training (default 150000)")
    p.add_argument("--out", type=Path, default=Path("runs/manual"), help="run folder (default runs/manual); "
                   "the learner goes to OUT/learners/<learner>/seed<seed>")  # fmt: skip
    p.add_argument("--position-layout", default="interleaved", choices=POSITION_LAYOUTS, help="position split")
    p.add_argument("--trial-episodes", type=int, default=2, help="RL^2 only: episodes per trial = k + 1 (default 2)")
    p.add_argument("--checkpoint-every", type=int, default=20_000, help="env steps between checkpoints (default 20000)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = commands.add_parser("evaluate", help="adapt and evaluate saved learners; print the table and meta-gain")
    p.add_argument(
        "--run", type=Path, default=Path("runs/manual"), help="run folder holding learners/ (default runs/manual)"
    )
    p.add_argument("--learners", nargs="+", choices=list(learners()), metavar="LEARNER",
                   help="learners to evaluate (default: those saved in --run, plus random and expert; "
                   "choices: " + ", ".join(learners()) + ")")  # fmt: skip
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds (default 0 1 2)")
    p.add_argument("--variation", default="both", choices=VARIATIONS, help="variation of the tasks (default both)")
    p.add_argument("--split", default="heldout", choices=SPLITS, help="split of the tasks (default heldout)")
    p.add_argument("--position-layout", default="interleaved", choices=POSITION_LAYOUTS, help="position split")
    p.add_argument("--tasks", type=int, default=10, help="number of tasks (default 10)")
    p.add_argument("--k", type=int, default=1, help="adaptation episodes per task (default 1; 0 = zero-shot only)")
    p.add_argument("--episodes", type=int, default=3, help="evaluation episodes per task and phase (default 3)")
    p.add_argument(
        "--train-episodes", type=int, default=10, help="episodes on each learner's own variation (default 10)"
    )
    p.add_argument("--task-seed", type=int, default=12345, help="seed that draws the tasks (default 12345)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_evaluate)

    p = commands.add_parser("render", help="rollout video of a saved learner, or the expert, on one task")
    p.add_argument("--learner", default="expert", choices=list(learners()), help="which learner (default expert)")
    p.add_argument("--run", type=Path, default=Path("runs/manual"), help="run folder holding learners/")
    p.add_argument("--seed", type=int, default=0, help="training seed of the learner (default 0)")
    p.add_argument("--variation", default="both", choices=VARIATIONS, help="variation the task comes from")
    p.add_argument("--split", default="heldout", choices=SPLITS, help="split the task comes from")
    p.add_argument("--position-layout", default="interleaved", choices=POSITION_LAYOUTS, help="position split")
    p.add_argument("--task-index", type=int, default=0, help="which task of the --task-seed list (default 0)")
    p.add_argument("--task-seed", type=int, default=12345, help="seed that draws the task list (default 12345)")
    p.add_argument("--color", type=float, nargs=3, metavar=("R", "G", "B"), help="explicit banana colour in [0, 1]")
    p.add_argument("--pose", type=float, nargs=3, metavar=("X", "Y", "YAW"), help="explicit banana pose (m, m, rad)")
    p.add_argument("--k", type=int, default=0, help="adaptation episodes before the filmed one (default 0)")
    p.add_argument("--out", type=Path, help="MP4 path (default <learner>.mp4)")
    p.set_defaults(func=_render)
    return main


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"banana-grasp {args.command}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
