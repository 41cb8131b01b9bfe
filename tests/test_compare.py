"""End-to-end tests of the comparison (banana_grasp.agents.run.compare), its run folder and the CLI.

The `tiny` preset trains every learner for a few hundred steps (nothing learns): these
tests check that every file of a run is written, consistent and resumable, and that bad
input stops a run before any training. All outputs go to pytest's tmp dirs.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import asdict
from importlib import resources
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import yaml

from banana_grasp.agents.common import faults
from banana_grasp.agents.common.files import package_version
from banana_grasp.agents.common.layout import RunLayout
from banana_grasp.agents.learners import registry
from banana_grasp.agents.learners.registry import adaptation_menu
from banana_grasp.agents.protocol.presets import Suite, preset
from banana_grasp.agents.report import write_suite_report
from banana_grasp.agents.run.compare import compare
from banana_grasp.envs import MAX_EPISODE_STEPS, Task, task_distribution

from timeouts import scaled

ROOT = Path(__file__).resolve().parents[1]
PRESET = "tiny"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RENDER_SIZE = 256  # the env's default render width and height
# The tiny run is made once for the module: xdist's loadgroup keeps these tests on one worker.
pytestmark = pytest.mark.xdist_group("tiny-run")


def _run_together(commands: dict[str, list[str]], cwd: Path, timeout: float) -> dict[str, tuple]:
    """Start every command at once (each spends most of its time importing); (process, stdout,
    stderr) per label."""
    procs = {
        label: subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        for label, args in commands.items()
    }  # fmt: skip
    return {label: (proc, *proc.communicate(timeout=scaled(timeout))) for label, proc in procs.items()}


def _run(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=scaled(timeout)
    )


def _stamps(run: Path) -> dict[str, int]:
    files = [*run.glob("learners/*/seed*/model.zip"), *run.glob("learners/*/seed*/meta.json"),
             *run.glob("learners/*/seed*/normalize.json"), *run.glob("outcomes/*.json"),
             *run.glob("videos/*.mp4")]  # fmt: skip
    return {str(f.relative_to(run)): f.stat().st_mtime_ns for f in files}


def preset_file_k(name: str = PRESET) -> list[int]:
    """The adaptation budgets as the preset's file writes them, read without the registry."""
    text = (resources.files("banana_grasp.agents") / "config" / "presets" / f"{name}.yaml").read_text()
    return yaml.safe_load(text)["protocol"]["k"]


def _check_estimate(estimate: dict, label: str) -> None:
    mean, (low, high) = estimate["mean"], estimate["ci"]
    assert 0.0 <= low <= mean <= high <= 1.0, f"{label}: {estimate}"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("compare") / "run"
    report = compare(PRESET, run, workers=2, progress=False)
    assert report == run / "report.md"
    return run


def test_compare_writes_every_file_of_a_run(tiny_run: Path) -> None:
    run, chosen = tiny_run, preset(PRESET)
    protocol = chosen.protocol
    learner_specs = [registry.learner(name) for name in chosen.learners]

    report = (run / "report.md").read_text()
    assert ("| learner | role | trained on | own-variation success | held-out, zero-shot | held-out, after k=1 |"
            in report)  # fmt: skip
    assert "## Finding" in report
    finding = report.split("## Finding", 1)[1].split("##", 1)[0].strip()
    assert finding, "the Finding section is empty"
    for spec in learner_specs:
        assert f"| {spec.name} |" in report
    for image in (
        "plots/success.png",
        "plots/curves.png",
        "plots/adaptation.png",
        "plots/generalisation.png",
        "videos/heldout_task0.mp4",
    ):
        assert image in report

    results = json.loads((run / "results.json").read_text())
    assert results["preset"] == PRESET
    assert results["seeds"] == list(chosen.seeds)
    # The protocol, one value, replaces k_episodes etc.; JSON holds its k as a list.
    assert results["protocol"] == json.loads(json.dumps(asdict(protocol)))
    assert "k_episodes" not in results and "eval_episodes" not in results
    ks = [str(k) for k in preset_file_k()]  # the adaptation budgets as tiny.yaml writes them
    assert results["k"] == results["protocol"]["k"] == [int(k) for k in ks] and len(ks) > 1
    assert results["headline_k"] == max(int(k) for k in ks)
    assert results["preset_config"] == json.loads(json.dumps(asdict(chosen)))
    pyproject = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert results["package_version"] == package_version() == pyproject
    assert len(results["heldout_tasks"]) == protocol.heldout_tasks
    assert results["heldout_tasks"] == json.loads(json.dumps([t.as_dict() for t in protocol.evaluation_tasks()]))
    assert list(results["learners"]) == list(chosen.learners)
    for spec in learner_specs:
        row = results["learners"][spec.name]
        if spec.trained:
            _check_estimate(row["train_success"], f"{spec.name} train")
            # Baselines choose their adaptation on validation tasks; meta-learners adapt as they learned.
            choice = row["adaptation"]
            if spec.role in ("single-task", "multi-task"):
                assert set(choice["chosen"]) == {str(s) for s in chosen.seeds}
                assert set(choice["chosen"].values()) <= set(choice["validation"]) == set(adaptation_menu())
            else:
                assert choice == {"chosen": None, "validation": None}
            # The generalisation matrix: four cells, zero-shot and after the headline k, the held-out
            # cell being the evaluation tasks themselves.
            matrix = row["generalisation"]
            assert list(matrix) == ["seen", "new_position", "new_color", "new_both"]
            assert all(sorted(cell) == sorted({"0", ks[-1]}) for cell in matrix.values())
            assert matrix["new_both"] == {k: row["heldout_success"][k] for k in ("0", ks[-1])}
            metas = results["train_meta"][spec.name]
            assert [m["seed"] for m in metas] == list(chosen.seeds)
            assert all(m["steps"] >= chosen.steps_for(spec) for m in metas)
        else:
            assert spec.name in ("random", "expert")
            assert row["train_success"] is None
            assert "generalisation" not in row and "adaptation" not in row
        assert sorted(row["heldout_success"]) == sorted(ks)
        for k in ks:
            _check_estimate(row["heldout_success"][k], f"{spec.name} after k={k}")

    metas = [s.name for s in learner_specs if s.role == "meta"]
    singles = sorted(s.name for s in learner_specs if s.role == "single-task")
    assert metas and sorted(results["meta_gain"]) == sorted(metas)
    for meta in metas:
        assert sorted(results["meta_gain"][meta]) == sorted(ks), "a meta-gain for each k"
        for k in ks:
            gains = results["meta_gain"][meta][k]
            assert set(gains) == {"vs_best_single", "vs_multitask"}
            assert sorted(gains["vs_best_single"]["baselines"]) == singles
            assert gains["vs_multitask"]["baselines"] == ["multi-task"]
            for gain in gains.values():
                assert -1.0 <= gain["ci"][0] <= gain["mean"] <= gain["ci"][1] <= 1.0, gain
                assert 0.0 <= gain["p_improvement_ci"][0] <= gain["p_improvement"] <= gain["p_improvement_ci"][1] <= 1
                assert gain["detectable_gain"] > 0.0, gain
                each = gain["p_improvement_each"]
                assert sorted(each) == sorted(gain["baselines"])
                for estimate in each.values():
                    _check_estimate(estimate, f"{meta} P(improvement) after k={k}")
                # The headline P(improvement) is the minimum over the baselines.
                assert gain["p_improvement"] == min(e["mean"] for e in each.values())
    # The finding gives a verdict only for a meta-learner that learned on every seed.
    for meta in metas:
        own = results["learners"][meta]["train_success_per_seed"]
        assert len(own) == len(chosen.seeds) and all(0.0 <= value <= 1.0 for value in own)
        learned = results["training_speed"][meta]["seeds_reaching_90_percent"] == len(chosen.seeds) and min(own) >= 0.9
        no_verdict = f"{meta} did not learn within the budget: no verdict." in finding
        assert no_verdict != learned, finding
        assert (f"{meta} vs the best single-task learner:" in finding) == learned, finding

    # results.csv: one row per (learner, seed, phase, k, task, episode), as many as the preset implies.
    with open(run / "results.csv") as file:
        rows = list(csv.DictReader(file))
    # The adaptation column names the setting a baseline followed (a validation row: the one it tried).
    assert list(rows[0]) == ["learner", "seed", "phase", "k", "task", "episode", "success", "adaptation"]
    keys = Counter(
        (r["learner"], r["seed"], r["phase"], r["k"], r["task"], r["episode"], r["adaptation"]) for r in rows
    )
    assert max(keys.values()) == 1, "duplicate rows in results.csv"
    heldout = protocol.heldout_tasks * protocol.eval_episodes * len(ks)
    choosers = [s for s in learner_specs if s.role in ("single-task", "multi-task")]
    validation = len(adaptation_menu()) * protocol.validation_tasks
    cells = protocol.matrix_tasks * 3 * 2  # the matrix's cells beyond the held-out tasks', k = 0 and the headline
    trained = protocol.train_tasks + cells
    expected = (
        sum(len(chosen.seeds) * (heldout + (trained if spec.trained else 0)) for spec in learner_specs)
        + len(chosen.seeds) * len(choosers) * validation
    )
    assert len(rows) == expected and choosers and validation and cells
    assert {r["success"] for r in rows} <= {"0", "1"}
    assert {(r["phase"], r["k"]) for r in rows if r["learner"] == "expert"} == {("heldout", k) for k in ks}
    assert {r["k"] for r in rows if r["phase"] == "train"} == {"0"}
    assert {r["k"] for r in rows if r["phase"] == "validation"} == {ks[-1]}  # at the headline k
    assert {r["phase"] for r in rows} == {"train", "heldout", "validation", "seen", "new_color", "new_position"}
    assert {r["learner"] for r in rows if r["phase"] == "seen"} == {s.name for s in learner_specs if s.trained}
    assert {r["learner"] for r in rows if r["adaptation"]} == {s.name for s in choosers}
    # The summary is the mean of these rows (equal weight per seed and task here).
    for spec in learner_specs:
        row = results["learners"][spec.name]
        for k in ks:
            values = [int(r["success"]) for r in rows
                      if r["learner"] == spec.name and r["phase"] == "heldout" and r["k"] == k]  # fmt: skip
            assert math.isclose(row["heldout_success"][k]["mean"], sum(values) / len(values))
        if spec.trained:
            values = [int(r["success"]) for r in rows if r["learner"] == spec.name and r["phase"] == "train"]
            assert math.isclose(row["train_success"]["mean"], sum(values) / len(values))
    for k in ks:
        assert results["learners"]["expert"]["heldout_success"][k]["mean"] == 1.0, "the expert fails held-out tasks"

    for name in ("success", "curves", "adaptation", "generalisation"):
        path = run / "plots" / f"{name}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"
        assert path.stat().st_size > 5000

    videos = sorted((run / "videos").glob("*.mp4"))
    assert [v.name for v in videos] == [f"heldout_task{i}.mp4" for i in range(chosen.video_tasks)]
    columns = min(4, len(learner_specs))
    rows_of_clips = -(-len(learner_specs) // columns)
    for video in videos:
        reader = imageio.get_reader(video)
        frame = reader.get_data(0)
        assert frame.shape == (rows_of_clips * RENDER_SIZE, columns * RENDER_SIZE, 3)
        # Every clip is the evaluated episode alone (RL^2's adaptation episodes are not filmed).
        assert reader.count_frames() == 1 + MAX_EPISODE_STEPS
        reader.close()
    assert not list(run.rglob("*.tmp*")), "temporary files left behind"


def test_compare_again_reruns_nothing(tiny_run: Path) -> None:
    before = _stamps(tiny_run)
    chosen = preset(PRESET)
    n_trained = sum(registry.learner(name).trained for name in chosen.learners)
    assert len(before) == (
        3 * n_trained * len(chosen.seeds) + len(chosen.learners) * len(chosen.seeds) + chosen.video_tasks
    )
    tb_runs = sorted(str(p.relative_to(tiny_run)) for p in tiny_run.glob("learners/*/seed*/tb/*"))
    results = json.loads((tiny_run / "results.json").read_text())

    compare(PRESET, tiny_run, workers=2, progress=False)

    assert _stamps(tiny_run) == before, "a finished job was run again"
    assert sorted(str(p.relative_to(tiny_run)) for p in tiny_run.glob("learners/*/seed*/tb/*")) == tb_runs
    again = json.loads((tiny_run / "results.json").read_text())
    assert again["learners"] == results["learners"] and again["meta_gain"] == results["meta_gain"]


def _one_part_suite(monkeypatch, parts: tuple[str, ...]) -> None:
    """compare() sees a suite ``both`` of ``parts`` (the real suite, full, takes hours)."""
    from banana_grasp.agents.run import compare as compare_module

    real = compare_module.suite
    monkeypatch.setattr(compare_module, "suite", lambda name: Suite("both", parts) if name == "both" else real(name))


def test_a_suite_runs_its_parts_into_their_folders_and_joins_their_reports(
    tiny_run: Path, tmp_path: Path, monkeypatch
) -> None:
    root = tmp_path / "suite"
    shutil.copytree(tiny_run, root / PRESET)  # a finished part: resumed, nothing trained again
    before = _stamps(root / PRESET)
    _one_part_suite(monkeypatch, (PRESET,))
    report = compare("both", root, workers=2, progress=False)
    assert report == root / "report.md" and _stamps(root / PRESET) == before
    text, part = report.read_text(), (root / PRESET / "report.md").read_text()
    assert text.startswith("# banana-grasp: preset `both`") and f"- [`{PRESET}`]({PRESET}/report.md)" in text
    assert "\n## banana-grasp comparison: preset `tiny`" in text and "\n### Finding" in text
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert len(links) == 1 + len(re.findall(r"\]\(([^)#]+)\)", part)) and len(links) > 3
    for link in links:
        assert link.startswith(f"{PRESET}/") and (root / link).is_file(), link


def test_a_suite_checks_every_part_folder_before_training(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "suite"
    (root / "hidden-tiny").mkdir(parents=True)
    (root / "hidden-tiny" / "run.json").write_text(json.dumps(_record("tiny")))
    _one_part_suite(monkeypatch, (PRESET, "hidden-tiny"))
    with pytest.raises(ValueError, match="holds a run of preset 'tiny', not 'hidden-tiny'"):
        compare("both", root, workers=1, progress=False)
    assert not (root / PRESET / "learners").exists()
    with pytest.raises(FileNotFoundError, match="no report of tiny, hidden-tiny"):
        write_suite_report(root, Suite("both", (PRESET, "hidden-tiny")))


# ------------------------------------------------------------------ bad input


def _record(name: str = PRESET, version: str | None = None) -> dict:
    return {
        "preset": name,
        "package_version": version or package_version(),
        "config": asdict(preset(name)),
    }


def _other_config(**changes) -> dict:
    record = _record(PRESET)
    return {**record, "config": {**record["config"], **changes}}


def test_unknown_preset_stops_before_anything(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="nope"):
        compare("nope", run, workers=1, progress=False)
    assert not run.exists()


@pytest.mark.parametrize(
    "record, message",
    [
        (_record("quick"), "quick"),
        (_record(PRESET, "0.0.0-other"), "0.0.0-other"),
        (_other_config(seeds=[7]), "different"),
        (_other_config(protocol={**_record(PRESET)["config"]["protocol"], "k": [0, 3]}), "different"),
    ],
    ids=["other-preset", "other-version", "other-config", "other-protocol"],
)
def test_run_folder_of_another_run_is_refused(tmp_path: Path, record: dict, message: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    text = json.dumps(record)
    run_file = RunLayout(run).run_file
    assert run_file == run / "run.json"
    run_file.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        compare(PRESET, run, workers=1, progress=False)
    assert str(run) in str(error.value)
    assert not (run / "learners").exists()
    assert run_file.read_text() == text, "run.json was overwritten"


def test_corrupt_run_file_is_named(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    run_file = RunLayout(run).run_file
    run_file.write_text("{truncated")
    with pytest.raises(ValueError, match=re.escape(str(run_file))):
        compare(PRESET, run, workers=1, progress=False)
    assert not (run / "learners").exists()


def test_learner_saved_with_other_hyperparameters_stops_the_run_before_training(tmp_path: Path) -> None:
    run = tmp_path / "run"
    saved = run / "learners" / "position-specialist" / "seed1"
    saved.mkdir(parents=True)
    meta = {"learner": "position-specialist", "steps": 512, "hyperparameters": {"n_envs": 8, "algo": {"n_steps": 999}}}
    (saved / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="was trained with hyperparameters") as error:
        compare(PRESET, run, workers=1, progress=False)
    assert str(saved / "meta.json") in str(error.value)
    assert sorted(p.name for p in (run / "learners").iterdir()) == ["position-specialist"], "something was trained"
    assert [p.name for p in saved.iterdir()] == ["meta.json"]


@pytest.mark.parametrize("where", ["under-a-file", "is-a-file"])
def test_unwritable_output_folder_is_named(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a regular file")
    run = blocker / "run" if where == "under-a-file" else blocker
    with pytest.raises(ValueError, match="output folder") as error:
        compare(PRESET, run, workers=1, progress=False)
    assert str(run) in str(error.value)
    assert blocker.read_text() == "a regular file"


# ------------------------------------------------------------------------ CLI

HELP_FLAGS = {
    "train.py": ["--learner", "--preset", "--seed", "--steps", "--out", "--k", "--position-layout",
                 "--checkpoint-every", "--quiet"],
    "evaluate.py": ["--run", "--preset", "--learners", "--seeds", "--k", "--eval-episodes", "--heldout-tasks",
                    "--train-tasks", "--variation", "--split", "--position-layout", "--task-seed", "--quiet"],
    "compare.py": ["--preset", "--out", "--workers", "--quiet"],
    "render.py": ["--learner", "--run", "--preset", "--seed", "--k", "--variation", "--split", "--position-layout",
                  "--task-index", "--task-seed", "--color", "--pose", "--out"],
}  # fmt: skip
# Flags of 0.2.0 that the protocol's names replaced (--tasks: --heldout-tasks, --episodes: --eval-episodes,
# --train-episodes: --train-tasks, --trial-episodes: --k).
GONE_FLAGS = {"train.py": ["--trial-episodes"], "evaluate.py": ["--tasks", "--episodes", "--train-episodes"]}


def test_cli_rejects_bad_input_and_scripts_have_help(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    commands = {
        "bad-preset": ["-m", "banana_grasp.agents.cli", "compare", "--preset", "nope", "--quiet"],
        "bad-out": ["-m", "banana_grasp.agents.cli", "compare", "--preset", PRESET, "--out", str(blocker / "run"),
                    "--quiet", "--workers", "1"],
        "bad-learner": [str(ROOT / "scripts" / "train.py"), "--learner", "nope", "--out", str(tmp_path / "t")],
        **{script: [str(ROOT / "scripts" / script), "--help"] for script in HELP_FLAGS},
    }  # fmt: skip
    done = _run_together(commands, tmp_path, timeout=120)

    proc, out, err = done["bad-preset"]
    assert proc.returncode != 0 and "nope" in err, err
    proc, out, err = done["bad-out"]
    assert proc.returncode != 0 and str(blocker / "run") in err and "Traceback" not in err, err
    proc, out, err = done["bad-learner"]
    assert proc.returncode != 0 and "nope" in err, err
    assert not (tmp_path / "t").exists() and not (tmp_path / "runs").exists()
    for script, flags in HELP_FLAGS.items():
        proc, out, err = done[script]
        assert proc.returncode == 0, f"{script} --help failed:\n{err}"
        for flag in flags:
            assert flag in out, f"{script} --help does not list {flag}"
        listed = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", out))
        for flag in GONE_FLAGS.get(script, []):
            assert flag not in listed, f"{script} --help still lists {flag}"


def _expected_task(line: str, task: Task, ok: bool = True) -> None:
    assert f"expert on {task}: {'success' if ok else 'fail'}; video: " in line, line


def _check_video(path: Path) -> None:
    reader = imageio.get_reader(path)
    assert reader.count_frames() == MAX_EPISODE_STEPS + 1
    for index in (0, MAX_EPISODE_STEPS // 2, MAX_EPISODE_STEPS):  # a few frames, all full size
        frame = reader.get_data(index)
        assert frame.shape == (RENDER_SIZE, RENDER_SIZE, 3) and frame.dtype == np.uint8
    reader.close()


def test_render_script_films_the_expert(tmp_path: Path) -> None:
    # The drawn task: the first of the default (full) preset's lift part's evaluation tasks, held out.
    protocol = preset("full-lift").protocol
    drawn = protocol.evaluation_tasks()[0]
    heldout = task_distribution("both", "heldout", protocol.position_layout)
    assert (protocol.variation, protocol.split) == ("both", "heldout") and heldout.contains(drawn)
    # Another held-out task gives a colour and a pose that differ from the drawn one's, and a
    # task of the train split a colour from a train hue band.
    other = heldout.sample(np.random.default_rng(1))
    train_colour = task_distribution("both", "train", protocol.position_layout).sample(np.random.default_rng(1)).color
    assert other.color != drawn.color and (other.x, other.y, other.yaw) != (drawn.x, drawn.y, drawn.yaw)
    assert not heldout.contains(dataclasses.replace(drawn, color=train_colour))
    render = str(ROOT / "scripts" / "render.py")
    outs = {label: tmp_path / f"{label}.mp4" for label in ("drawn", "color", "pose", "train-color")}
    commands = {
        "drawn": [render, "--learner", "expert", "--out", str(outs["drawn"])],
        "color": [render, "--color", *map(repr, other.color), "--out", str(outs["color"])],
        "pose": [render, "--pose", repr(other.x), repr(other.y), repr(other.yaw), "--out", str(outs["pose"])],
        "train-color": [render, "--color", *map(repr, train_colour), "--out", str(outs["train-color"])],
    }  # fmt: skip
    done = _run_together(commands, tmp_path, timeout=180)

    proc, out, err = done["drawn"]
    assert proc.returncode == 0, err
    _expected_task(out, drawn)
    assert str(outs["drawn"]) in out
    _check_video(outs["drawn"])
    # --color or --pose alone replaces that factor of the drawn task; the other stays as drawn.
    for label, task in (
        ("color", dataclasses.replace(drawn, color=other.color)),
        ("pose", dataclasses.replace(drawn, x=other.x, y=other.y, yaw=other.yaw)),
    ):
        proc, out, err = done[label]
        assert proc.returncode == 0, f"render --{label} failed:\n{err}"
        assert heldout.contains(task)
        _expected_task(out, task)
        assert str(outs[label]) in out
        _check_video(outs[label])
    # A colour of the train split is not a held-out task: refused, naming the split, no video.
    proc, out, err = done["train-color"]
    assert proc.returncode != 0, out
    assert "split 'heldout'" in err and "cannot be produced" in err, err
    assert "Traceback" not in err, err
    assert not outs["train-color"].exists() and not list(tmp_path.glob("*.tmp*"))
    assert not (tmp_path / "runs").exists()


def _table_rows(stdout: str) -> dict[str, list[str]]:
    """The success table's rows (the first table printed): learner -> its cells."""
    rows, started = {}, False
    for line in stdout.splitlines():
        if not line.startswith("|"):
            if started:
                break
            continue
        started = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] not in ("learner", "---"):
            rows[cells[0]] = cells
    return rows


def test_a_local_run_killed_mid_way_resumes_to_the_uninterrupted_results(
    tiny_run: Path, tmp_path: Path, monkeypatch
) -> None:
    """A worker of the local pool killed (SIGKILL) just after a training's checkpoint: the run
    stops, with what it finished saved; started again, it resumes from the checkpoint and
    writes the results of a run never interrupted."""
    run, marker = tmp_path / "run", tmp_path / "killed"
    monkeypatch.setenv(faults.VARIABLE, f"checkpoint:multi-task={marker}")  # inherited by the workers
    with pytest.raises(RuntimeError, match="run again to resume"):
        compare(PRESET, run, workers=2, progress=False)
    assert marker.is_file(), "no worker was killed"
    assert not (run / "results.csv").exists()
    killed = [state.parent.parent for state in run.glob("learners/multi-task/seed*/checkpoint/state.json")]
    assert killed and not any((folder / "meta.json").exists() for folder in killed), "not killed mid-training"
    compare(PRESET, run, workers=2, progress=False)
    assert (run / "results.csv").read_text() == (tiny_run / "results.csv").read_text()
    for folder in killed:
        assert not (folder / "checkpoint").exists()
        assert (folder / "model.zip").read_bytes() != b""


def test_evaluate_script_on_a_finished_run(tiny_run: Path) -> None:
    before = _stamps(tiny_run)
    evaluate = [str(ROOT / "scripts" / "evaluate.py"), "--run", str(tiny_run), "--learners", "position-specialist",
                "expert", "--seeds", "0", "--heldout-tasks", "2", "--eval-episodes", "1", "--train-tasks", "1",
                "--quiet"]  # fmt: skip
    commands = {
        "k0": [*evaluate, "--k", "0"],
        "k10": [*evaluate, "--k", "1", "0", "1"],  # given in any order, repeated: the budgets 0 and 1
        "missing": [str(ROOT / "scripts" / "evaluate.py"), "--run", str(tiny_run.parent / "nothing"), "--learners",
                    "fomaml", "--seeds", "0", "--heldout-tasks", "1", "--quiet"],
    }  # fmt: skip
    procs = {
        label: subprocess.Popen([sys.executable, *args], cwd=tiny_run.parent, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        for label, args in commands.items()
    }  # fmt: skip
    done = {label: (proc, *proc.communicate(timeout=scaled(180))) for label, proc in procs.items()}

    proc, out, err = done["k0"]
    assert proc.returncode == 0, err
    assert "| learner | role |" in out
    assert "both/heldout: 2 tasks, seeds [0], k=[0], 1 episodes per task" in out, out
    assert "held-out, zero-shot |" in out and "after k=" not in out, out
    expert_row = next(line for line in out.splitlines() if line.startswith("| expert |"))
    assert expert_row.count("1.00 [") == 1, expert_row
    proc, out, err = done["k10"]
    assert proc.returncode == 0, err
    assert "both/heldout: 2 tasks, seeds [0], k=[0, 1], 1 episodes per task" in out, out
    assert "| held-out, zero-shot | held-out, after k=1 |" in out, out
    expert_row = next(line for line in out.splitlines() if line.startswith("| expert |"))
    assert expert_row.count("1.00 [") == 2, expert_row
    assert _stamps(tiny_run) == before
    proc, out, err = done["missing"]
    assert proc.returncode != 0
    assert str(tiny_run.parent / "nothing" / "learners" / "fomaml" / "seed0" / "model.zip") in err
    assert "Traceback" not in err


def test_evaluate_takes_its_protocol_and_seeds_from_the_preset(tiny_run: Path) -> None:
    # No protocol flag and no --seeds: those of the tiny preset, which made the run. The
    # evaluation is deterministic, so it finds again the success rates the run saved.
    chosen, names = preset(PRESET), ["position-specialist", "rl2", "expert"]
    protocol = chosen.protocol
    before = _stamps(tiny_run)
    proc = _run(str(ROOT / "scripts" / "evaluate.py"), "--run", str(tiny_run), "--preset", PRESET, "--learners",
                *names, "--quiet", cwd=tiny_run.parent)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    seeds = list(chosen.seeds)
    assert (
        f"{protocol.variation}/{protocol.split}: {protocol.heldout_tasks} tasks, seeds {seeds}, "
        f"k={preset_file_k()}, {protocol.eval_episodes} episodes per task"
    ) in proc.stdout, proc.stdout
    assert preset_file_k() == [0, 1], "the columns below assume the tiny preset's k = [0, 1]"
    assert "| held-out, zero-shot | held-out, after k=1 |" in proc.stdout
    rows = _table_rows(proc.stdout)
    assert list(rows) == names
    results = json.loads((tiny_run / "results.json").read_text())["learners"]
    for name in names:
        row = results[name]
        for column, saved in ((3, row["train_success"]), (4, row["heldout_success"]["0"]),
                              (5, row["heldout_success"]["1"])):  # fmt: skip
            expected = "n/a" if saved is None else f"{saved['mean']:.2f}"
            assert rows[name][column].split(" [")[0] == expected, f"{name} column {column}: {rows[name]} vs {saved}"
    assert _stamps(tiny_run) == before
