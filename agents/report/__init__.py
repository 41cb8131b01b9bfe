"""Writing a run's results: results.csv, results.json, plots and report.md.

A report is made from what the run saved (evaluation outcomes, learning curves, learners'
metadata, videos): writing it again trains, adapts and films nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from banana_grasp.agents.common.files import read_json, versions, write_json_atomic, write_text_atomic
from banana_grasp.agents.common.layout import RunLayout
from banana_grasp.agents.common.variations import variation_env_id
from banana_grasp.agents.protocol.evaluation import Outcome
from banana_grasp.agents.protocol.presets import Preset
from banana_grasp.agents.protocol.summary import summarize
from banana_grasp.agents.report.plots import plot_adaptation, plot_curves, plot_success
from banana_grasp.agents.report.speed import training_speed
from banana_grasp.agents.report.tables import write_csv
from banana_grasp.agents.report.text import report_markdown


def saved_outcomes(run: RunLayout, preset: Preset) -> list[Outcome]:
    """The evaluation outcomes of every learner and seed of ``preset``, as the run saved them."""
    return [
        Outcome(**row)
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
    write_json_atomic(run.results_json, results)
    videos = [run.video(i) for i in range(preset.video_tasks) if run.video(i).is_file()]
    videos = [str(path.relative_to(run.root)) for path in videos]
    write_text_atomic(run.report, report_markdown(preset, results, summary, videos))
    return run.report
