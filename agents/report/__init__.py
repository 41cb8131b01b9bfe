"""Writing a run's results: results.csv, results.json, plots and report.md.

A report is made from what the run saved (evaluation outcomes, learning curves, learners'
metadata, videos): writing it again trains, adapts and films nothing.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

from banana_grasp.agents.common.files import read_json, versions, write_json_atomic, write_text_atomic
from banana_grasp.agents.common.layout import RunLayout
from banana_grasp.agents.families import variation_env_id
from banana_grasp.agents.protocol.evaluation import Outcome
from banana_grasp.agents.protocol.presets import Preset, Suite
from banana_grasp.agents.protocol.summary import summarize
from banana_grasp.agents.report.plots import plot_adaptation, plot_curves, plot_generalisation, plot_success
from banana_grasp.agents.report.speed import training_speed
from banana_grasp.agents.report.tables import write_csv
from banana_grasp.agents.report.text import report_markdown


def saved_outcomes(run: RunLayout, preset: Preset) -> list[Outcome]:
    """The evaluation outcomes of every learner and seed of ``preset``, as the run saved them."""
    return [
        Outcome.from_row(row)
        for name in preset.learners
        for seed in preset.seeds
        for row in read_json(run.outcomes(name, seed))["outcomes"]
    ]


def write_report(run: RunLayout, preset: Preset, wall_seconds: float) -> Path:
    """Write results.csv, results.json, plots/ and report.md; returns the report's path.
    ``wall_seconds``: how long the invocation that made the run took."""
    specs, seeds, protocol = preset.specs(), list(preset.seeds), preset.protocol
    outcomes = saved_outcomes(run, preset)
    summary = summarize(outcomes, specs, seeds, protocol)
    found = versions()
    write_csv(run.results_csv, outcomes)
    trained = [s.name for s in specs if s.trained]
    results = {
        "env_id": variation_env_id(protocol.variation, protocol.split),
        "package_version": found["banana-grasp"],
        "versions": found,
        "preset": preset.name,
        "preset_config": asdict(preset),
        "seeds": seeds,
        "protocol": asdict(protocol),
        "success_measured": "info['is_success'] at the last step of each episode",
        "heldout_tasks": [t.as_dict() for t in protocol.evaluation_tasks()],
        "train_meta": {name: [read_json(run.learner(name, seed).meta) for seed in seeds] for name in trained},
        **summary,
        "training_speed": training_speed(run, trained, seeds),
        "wall_seconds": round(wall_seconds, 1),
    }
    run.plots.mkdir(parents=True, exist_ok=True)
    plot_success(run.plots / "success.png", summary, protocol.tasks_label)
    plot_curves(run.plots / "curves.png", run, trained, seeds)
    plot_adaptation(run.plots / "adaptation.png", summary, protocol.tasks_label)
    if any(row.get("generalisation") for row in summary["learners"].values()):
        plot_generalisation(run.plots / "generalisation.png", summary, protocol.family.generalisation_cells())
    write_json_atomic(run.results_json, results)
    videos = [run.video(i) for i in range(preset.video_tasks) if run.video(i).is_file()]
    videos = [str(path.relative_to(run.root)) for path in videos]
    write_text_atomic(run.report, report_markdown(preset, results, summary, videos))
    return run.report


# A relative link or image of a part's report: ``](plots/success.png)``, not ``](#anchor)`` or a URL.
_RELATIVE_LINK = re.compile(r"\]\((?![a-z]+:|#|/)([^)]+)\)")


def write_suite_report(root: Path, chosen: Suite) -> Path:
    """``root/report.md``: the reports of the suite's parts (``root/<part>/report.md``), one
    after the other, each heading a level lower and each link made relative to ``root``."""
    root = Path(root)
    missing = [part for part in chosen.parts if not (root / part / "report.md").is_file()]
    if missing:
        raise FileNotFoundError(f"{root}: no report of {', '.join(missing)} (run those parts first)")
    intro = (f"{len(chosen.parts)} comparisons, one per task family, each with its own learners, seeds, budgets "
             "and protocol (each part's report says which, and which banana-grasp made it):")  # fmt: skip
    lines = [f"# banana-grasp: preset `{chosen.name}`", "", intro, ""]
    lines += [f"- [`{part}`]({part}/report.md)" for part in chosen.parts]
    for part in chosen.parts:
        text = (root / part / "report.md").read_text()
        text = re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE)
        lines += ["", _RELATIVE_LINK.sub(rf"]({part}/\1)", text).rstrip()]
    path = root / "report.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
