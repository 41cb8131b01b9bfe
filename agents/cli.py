"""Command line of banana-grasp: ``banana-grasp {compare,train,evaluate,render,convert} --help``.

Every quantity of the protocol has one name, that of the preset files
(``agents/config/presets/*.yaml``); ``--preset`` gives the defaults and each flag overrides one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from banana_grasp.agents.common.layout import RunLayout
from banana_grasp.agents.families import variations
from banana_grasp.agents.learners.registry import learner, learners
from banana_grasp.agents.protocol.presets import (
    EvalProtocol,
    Preset,
    is_preset_file,
    preset_for,
    preset_names,
    with_learners_file,
)
from banana_grasp.envs import LIFT_SPLITS, POSITION_LAYOUTS

PROTOCOL_FLAGS = {  # protocol field -> help
    "k": "adaptation budgets: episodes of a task before it is evaluated (0 = zero-shot; render films the largest)",
    "eval_episodes": "evaluation episodes per task and k",
    "heldout_tasks": "number of evaluation tasks",
    "train_tasks": "tasks of each trained learner's own variation (one episode each)",
    "variation": "variation of the evaluation tasks",
    "split": "split of the evaluation tasks",
    "position_layout": "position split",
    "task_seed": "seed that draws the task lists",
}
CHOICES = {"variation": variations(), "split": LIFT_SPLITS, "position_layout": POSITION_LAYOUTS}


def _protocol(args: argparse.Namespace, chosen: Preset) -> EvalProtocol:
    """The preset's protocol with the flags that were given."""
    given = {name: getattr(args, name) for name in PROTOCOL_FLAGS if getattr(args, name, None) is not None}
    if "k" in given:
        given["k"] = tuple(sorted(set(given["k"])))
    return dataclasses.replace(chosen.protocol, **given)


def _compare(args: argparse.Namespace) -> None:
    from banana_grasp.agents.run.compare import compare

    out = args.out or Path("runs") / args.preset
    report = compare(args.preset, out, args.workers, progress=not args.quiet, scheduler=args.scheduler,
                     learners_file=args.learners_file)  # fmt: skip
    print(f"report: {report}")


def _train(args: argparse.Namespace) -> None:
    from banana_grasp.agents.learners.training import TrainRun, train
    from banana_grasp.agents.run.jobs import family_imports

    chosen = preset_for(args.preset, None if args.learners_file else args.learner)
    chosen = with_learners_file(chosen, args.learners_file) if args.learners_file else chosen
    spec = _spec(chosen, args.learner, trained=True)
    protocol = _protocol(args, chosen)
    steps = args.steps if args.steps is not None else chosen.steps_for(spec)
    files = RunLayout(args.out).learner(spec.name, args.seed)
    run = TrainRun(spec, args.seed, steps, str(files.folder), protocol.trial_episodes, protocol.position_layout,
                   stop_at_success=args.stop_at_success, own_k=protocol.own_k, checkpoint_every=args.checkpoint_every,
                   imports=family_imports(chosen), progress_bar=not args.quiet)  # fmt: skip
    meta = train(run)
    print(f"saved {files.folder}")
    keys = ("learner", "seed", "steps", "final_train_success", "stopped_at_success", "wall_seconds")
    print(json.dumps({k: meta[k] for k in keys}))


def _evaluate(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from banana_grasp.agents.protocol.evaluation import evaluate_one
    from banana_grasp.agents.protocol.summary import summarize
    from banana_grasp.agents.report.tables import markdown_tables

    run = RunLayout(args.run)
    if args.learners_file:
        chosen = with_learners_file(preset_for(args.preset, None), args.learners_file)
        names = args.learners or [s.name for s in chosen.specs() if (run.learners / s.name).is_dir() or not s.trained]
    else:
        names = args.learners or _learners_in(run)
        chosen = preset_for(args.preset, next((name for name in names if learner(name).trained), None))
    protocol, seeds = _protocol(args, chosen), args.seeds or list(chosen.seeds)
    specs = [_spec(chosen, name) for name in names]
    outcomes = []
    for spec, seed in tqdm([(s, seed) for s in specs for seed in seeds], desc="evaluating", disable=args.quiet):
        outcomes += evaluate_one(spec, run.learner(spec.name, seed) if spec.trained else None, protocol, seed)
    summary = summarize(outcomes, specs, seeds, protocol)
    print(f"\n{protocol.variation}/{protocol.split}: {protocol.heldout_tasks} tasks, seeds {seeds}, k={list(protocol.k)}, "
          f"{protocol.eval_episodes} episodes per task and k\n")  # fmt: skip
    print(markdown_tables(summary, protocol.tasks_label, protocol.family.tables(summary, protocol.tasks_label)))


def _spec(chosen: Preset, name: str, trained: bool = False):
    """The learner ``name``: the package's or one of the learners file's (in ``chosen``)."""
    outside = {spec.name: spec for spec in chosen.outside_learners}
    known = {**learners(), **outside}
    if name not in known or (trained and not known[name].trained):
        allowed = [n for n, spec in known.items() if spec.trained or not trained]
        raise ValueError(f"unknown {'trained ' if trained else ''}learner {name!r}; allowed: {', '.join(allowed)}")
    return known[name]


def _learners_in(run: RunLayout) -> list[str]:
    """Learners saved in ``run`` (in the order of learners.yaml), plus the untrained references."""
    saved = {p.name for p in run.learners.glob("*") if p.is_dir()}
    if not saved:
        raise ValueError(f"no trained learners in {run.learners}: train some first, or pass --run")
    return [name for name, spec in learners().items() if name in saved or not spec.trained]


def _render(args: argparse.Namespace) -> None:
    from banana_grasp.agents.learners.registry import load_agent
    from banana_grasp.agents.protocol.agent import adapted_rollout
    from banana_grasp.agents.protocol.presets import sample_tasks
    from banana_grasp.agents.run.videos import frames_per_second, label, write_mp4

    protocol = _protocol(args, preset_for(args.preset, args.learner))
    spec = learner(args.learner)
    task = sample_tasks(args.task_index + 1, protocol.task_seed, protocol.evaluated_on)[-1]
    # --color or --pose replace that factor of the drawn task; the other factor stays as drawn.
    if args.color is not None:
        task = dataclasses.replace(task, color=tuple(args.color))
    if args.pose is not None:
        task = dataclasses.replace(task, x=args.pose[0], y=args.pose[1], yaw=args.pose[2])
    files = RunLayout(args.run).learner(spec.name, args.seed) if spec.trained else None
    agent = load_agent(spec, files, protocol.evaluated_on)
    success, frames = adapted_rollout(agent, task, protocol.headline_k, args.seed, render=True)
    out = args.out or Path(f"{spec.name}.mp4")
    write_mp4(out, label(frames, spec.name, success), fps=frames_per_second(protocol.evaluated_on))
    print(f"{spec.name} on {task}: {'success' if success else 'fail'}; video: {out}")


def _convert(args: argparse.Namespace) -> None:
    from banana_grasp.agents.learners.convert import convert_run

    converted = convert_run(args.run, args.trust)
    if not converted:
        print(f"nothing to convert in {args.run}: no learner there is saved in the old form")
    for folder in converted:
        print(f"converted {folder}")


def _add_protocol_flags(p: argparse.ArgumentParser, names: tuple[str, ...]) -> None:
    for name in names:
        flag = "--" + name.replace("_", "-")
        kind = str if name in CHOICES else int
        nargs = "+" if name == "k" else None
        p.add_argument(flag, type=kind, nargs=nargs, choices=CHOICES.get(name),
                       help=PROTOCOL_FLAGS[name] + " (default: the preset's)")  # fmt: skip


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1]; got {text}")
    return value


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="banana-grasp", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = main.add_subparsers(dest="command", required=True)
    trainable = [name for name, spec in learners().items() if spec.trained]
    presets = preset_names()

    def preset_name(value: str) -> str:  # a package preset, or a preset file of one's own
        if value in presets or is_preset_file(value):
            return value
        raise argparse.ArgumentTypeError(f"unknown preset {value!r}; allowed: {', '.join(presets)}, or a .yaml file")

    p = commands.add_parser("compare", help="train every learner of a preset, evaluate, write the run folder")
    p.add_argument(
        "--preset",
        default="quick",
        type=preset_name,
        help=f"what to run: {', '.join(presets)} (agents/config/presets/*.yaml), or a preset file of your own (.yaml)",
    )
    p.add_argument("--out", type=Path, help="run folder (default runs/<preset>); started again, it resumes")
    p.add_argument("--workers", type=int, help="parallel local jobs (default: the CPU cores available)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the jobs on the Dask cluster of this scheduler (e.g. tcp://10.0.0.5:8786); "
                   "needs banana-grasp[cluster]")  # fmt: skip
    p.add_argument("--learners-file", type=Path, metavar="FILE",
                   help="learners of your own, added to the preset's (a YAML file as agents/config/learners.yaml; "
                   "docs/learners.md, 'Bringing your own learner')")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_compare)

    p = commands.add_parser("train", help="train one learner for one seed")
    p.add_argument("--learner", required=True, metavar="LEARNER",
                   help="which learner: " + ", ".join(trainable) + ", or one of --learners-file")  # fmt: skip
    p.add_argument("--learners-file", type=Path, metavar="FILE", help="learners of your own (as compare's)")
    p.add_argument("--preset", default="full", type=preset_name,
                   help="gives the default budget, trial length (k + 1) and position split (default full)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the policy and envs (default 0)")
    p.add_argument("--steps", type=int, help="env steps of training (default: the preset's for this learner's kind)")
    p.add_argument("--out", type=Path, default=Path("runs/manual"), help="run folder (default runs/manual); "
                   "the learner goes to OUT/learners/<learner>/seed<seed>")  # fmt: skip
    _add_protocol_flags(p, ("k", "position_layout"))
    p.add_argument("--checkpoint-every", type=int, default=20_000, help="env steps between checkpoints (default 20000)")
    p.add_argument("--stop-at-success", type=_fraction, metavar="FRACTION",
                   help="stop once the deterministic policy succeeds this often on its training tasks "
                   "(learners/stopping.py; default: train the whole budget)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = commands.add_parser("evaluate", help="adapt and evaluate saved learners; print the table and meta-gain")
    p.add_argument("--run", type=Path, default=Path("runs/manual"), help="run folder holding learners/ (default runs/manual)")  # fmt: skip
    p.add_argument("--preset", default="full", type=preset_name, help="gives the default protocol and seeds (default full)")  # fmt: skip
    p.add_argument("--learners", nargs="+", metavar="LEARNER",
                   help="learners to evaluate (default: those saved in --run, plus random and expert; "
                   "choices: " + ", ".join(learners()) + ", or those of --learners-file)")  # fmt: skip
    p.add_argument("--learners-file", type=Path, metavar="FILE", help="learners of your own (as compare's)")
    p.add_argument("--seeds", nargs="+", type=int, help="training seeds (default: the preset's)")
    _add_protocol_flags(p, tuple(PROTOCOL_FLAGS))
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_evaluate)

    p = commands.add_parser("render", help="rollout video of a saved learner, or the expert, on one task")
    p.add_argument("--learner", default="expert", choices=list(learners()), help="which learner (default expert)")
    p.add_argument("--run", type=Path, default=Path("runs/manual"), help="run folder holding learners/")
    p.add_argument("--preset", default="full", type=preset_name, help="gives the default protocol (default full)")
    p.add_argument("--seed", type=int, default=0, help="training seed of the learner (default 0)")
    _add_protocol_flags(p, ("k", "variation", "split", "position_layout", "task_seed"))
    p.add_argument("--task-index", type=int, default=0, help="which task of the --task-seed list (default 0)")
    p.add_argument("--color", type=float, nargs=3, metavar=("R", "G", "B"), help="banana colour in [0, 1] (replaces the drawn task's)")  # fmt: skip
    p.add_argument("--pose", type=float, nargs=3, metavar=("X", "Y", "YAW"), help="banana pose in m, m, rad (replaces the drawn task's)")  # fmt: skip
    p.add_argument("--out", type=Path, help="MP4 path (default <learner>.mp4)")
    p.set_defaults(func=_render)

    p = commands.add_parser("convert", help="convert the learners of a run folder you trust from the old, pickled form")
    p.add_argument("run", type=Path, help="run folder (or one learner's folder) whose learners were saved by "
                   "banana-grasp 0.12 or before, with pickled normalisation statistics")  # fmt: skip
    p.add_argument("--trust", action="store_true", help="required to convert anything: converting unpickles the old "
                   "vecnormalize.pkl files, which runs any code they carry, so convert only folders you trust")  # fmt: skip
    p.set_defaults(func=_convert)
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
