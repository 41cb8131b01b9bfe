"""A learner kind of one's own, outside the package (docs/examples/own_learner/), joins a
comparison through ``compare --learners-file``: trained, evaluated, in results.json and the
report. A bad learners file is refused, naming what is wrong, before any job starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from banana_grasp.agents.learners.registry import read_learners_file
from banana_grasp.agents.protocol.presets import preset, with_learners_file
from banana_grasp.agents.run.compare import compare

from timeouts import scaled

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "own_learner"


def test_the_example_learner_joins_the_tiny_comparison(tmp_path: Path) -> None:
    """The documented example, run as the docs say: its folder on PYTHONPATH, the CLI."""
    run = tmp_path / "run"
    command = [sys.executable, "-m", "banana_grasp.agents.cli", "compare", "--preset", "tiny", "--learners-file",
               str(EXAMPLE / "learners.yaml"), "--out", str(run), "--quiet"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE)}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=scaled(600), check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((run / "results.json").read_text())
    assert results["learners"]["frozen-ppo"]["role"] == "meta"
    assert set(results["meta_gain"]) >= {"frozen-ppo", "rl2", "fomaml"}
    meta = json.loads((run / "learners" / "frozen-ppo" / "seed1" / "meta.json").read_text())
    assert meta["kind"] == "frozen_ppo" and meta["steps"] >= 512
    assert "| frozen-ppo | meta |" in (run / "report.md").read_text()
    assert {row.split(",")[0] for row in (run / "results.csv").read_text().splitlines()[1:]} >= {"frozen-ppo"}
    # Started again, the run is done: nothing is trained again.
    stamp = (run / "learners" / "frozen-ppo" / "seed0" / "model.zip").stat().st_mtime_ns
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=scaled(300), check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (run / "learners" / "frozen-ppo" / "seed0" / "model.zip").stat().st_mtime_ns == stamp


def test_the_example_file_reads_as_the_docs_say(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    specs, budgets = read_learners_file(EXAMPLE / "learners.yaml")
    assert list(specs) == ["frozen-ppo"] and budgets == {"frozen-ppo": 512}
    spec = specs["frozen-ppo"]
    assert spec.trained and not spec.in_context and spec.implementation.__name__ == "frozen_ppo"
    chosen = with_learners_file(preset("tiny"), EXAMPLE / "learners.yaml")
    assert chosen.learners[-1] == "frozen-ppo" and chosen.steps_for(spec) == 512
    assert [s.name for s in chosen.specs()] == [*preset("tiny").learners, "frozen-ppo"]


BAD_FILES = {
    "unknown field": (
        "frozen:\n  kind: ppo\n  variation: color\n  role: meta\n  hyperparameters: ppo\n  colour: red\n",
        r"learner 'frozen' has unknown fields \['colour'\]; allowed: kind, variation",
    ),
    "not importable": (
        "frozen:\n  kind: nowhere.kind\n  variation: color\n  role: meta\n",
        r"unknown learner kind 'nowhere.kind': not one of the package's .* not an importable module",
    ),
    "no load_agent": (
        "frozen:\n  kind: json\n  variation: color\n  role: meta\n",
        r"learner kind 'json': .* has no function load_agent",
    ),
    "a package name": (
        "rl2:\n  kind: ppo\n  variation: color\n  role: meta\n  hyperparameters: ppo\n",
        r"learner 'rl2' is one of the package's",
    ),
    "no budget": (
        "frozen:\n  kind: banana_grasp.agents.learners.algorithms.ppo\n  variation: color\n  role: meta\n  hyperparameters: ppo\n",
        r"learner 'frozen' trains: give it `steps`",
    ),
    "not a mapping": ("- frozen\n", r"must map each learner's name to its fields"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_learners_file_is_refused_before_any_job(case: str, tmp_path: Path) -> None:
    text, message = BAD_FILES[case]
    path = tmp_path / "learners.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        compare("tiny", tmp_path / "run", workers=1, progress=False, learners_file=path)
    assert not (tmp_path / "run" / "learners").exists()


def test_the_docs_quote_the_example_learners_file_verbatim() -> None:
    docs = (EXAMPLE.parents[1] / "learners.md").read_text()
    assert "```yaml\n" + (EXAMPLE / "learners.yaml").read_text().rstrip() + "\n```" in docs
