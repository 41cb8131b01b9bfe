"""The main job: train every learner of a preset, evaluate, film, and write the run folder.

The work is a grid of independent jobs described by data (``training.TrainRun``,
``jobs.EvalJob``), run here on a local process pool. Finished jobs leave files behind, so
a run started again skips them and loses nothing. With a scheduler address the same jobs
go to a Dask cluster (``cluster.py``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from banana_grasp.agents.common.files import package_version, read_json, write_json_atomic
from banana_grasp.agents.common.layout import RunLayout
from banana_grasp.agents.protocol.presets import Preset, preset, suite, with_learners_file
from banana_grasp.agents.report import write_report, write_suite_report
from banana_grasp.agents.run.grid import default_workers, run_grid
from banana_grasp.agents.run.jobs import check_saved_learners, eval_jobs, train_jobs
from banana_grasp.agents.run.videos import write_videos


def prepare_run(run: RunLayout, chosen: Preset) -> None:
    """Check the run folder before any training: writable, and not another preset's or version's."""
    try:
        run.root.mkdir(parents=True, exist_ok=True)
        probe = run.root / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"cannot write to the output folder {run.root}: {error.strerror or error}") from error
    record = {"preset": chosen.name, "package_version": package_version(), "config": asdict(chosen)}
    path = run.run_file
    if not path.exists():
        write_json_atomic(path, record)
        return
    existing = read_json(path)
    if existing.get("preset") != chosen.name:
        raise ValueError(
            f"{run.root} holds a run of preset {existing.get('preset')!r}, not {chosen.name!r}: "
            "choose another --out folder or the matching preset"
        )
    if existing.get("package_version") != record["package_version"]:
        raise ValueError(
            f"{run.root} was made by banana-grasp {existing.get('package_version')}, this is "
            f"{record['package_version']}: results would mix versions; choose another --out folder"
        )
    # Compare as JSON: run.json holds lists where the preset holds tuples.
    if existing.get("config") != json.loads(json.dumps(record["config"])):
        raise ValueError(
            f"{run.root} was made with a different {chosen.name!r} preset file; choose another --out folder"
        )


def compare(
    preset_name: str,
    out: Path,
    workers: int | None = None,
    progress: bool = True,
    scheduler: str | None = None,
    security=None,
    learners_file: Path | None = None,
) -> Path:
    """Run the whole comparison of ``preset_name`` into ``out``, on ``workers`` local processes
    or on the Dask cluster whose scheduler is at ``scheduler`` (``security``: a
    ``distributed.Security`` for TLS); returns the report's path. A suite runs its parts one
    after the other, each into ``out/<part>``, then puts their reports together.
    ``learners_file``: learners of one's own added to the preset's (``presets.with_learners_file``)."""
    parts = suite(preset_name)
    if parts is not None and learners_file is not None:
        raise ValueError(f"preset {preset_name!r} runs several comparisons ({', '.join(parts.parts)}): give "
                         "--learners-file with one of them")  # fmt: skip
    if parts is not None:
        for part in parts.parts:  # every part's folder checked before any training
            prepare_run(RunLayout(Path(out) / part), preset(part))
        for part in parts.parts:
            compare(part, Path(out) / part, workers, progress, scheduler, security)
        return write_suite_report(Path(out), parts)
    started = time.perf_counter()
    chosen = preset(preset_name)
    if learners_file is not None:
        chosen = with_learners_file(chosen, Path(learners_file))
    run = RunLayout(Path(out))
    prepare_run(run, chosen)
    trains = train_jobs(chosen, run)
    check_saved_learners(trains)
    if scheduler is None:
        run_grid(trains, eval_jobs(chosen, run), workers or default_workers(), progress)
    else:
        from banana_grasp.agents.run.cluster import run_grid_on_cluster

        run_grid_on_cluster(trains, eval_jobs(chosen, run), scheduler, progress, security)
    write_videos(run, chosen, progress=progress)
    return write_report(run, chosen, time.perf_counter() - started)
