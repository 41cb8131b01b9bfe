"""Task families as plug-ins: the registry, and a family of one's own, added by the tests
alone (``touch_family.py``, beside this file; no file of the package changes), run through a
tiny comparison.

The README's "Adding a task family" quotes ``touch_family.py`` verbatim;
:func:`test_the_readme_quotes_the_toy_family` checks the quote.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from banana_grasp.agents.common.layout import RunLayout
from banana_grasp.agents.families import FAMILIES, Family, family_of, outside_modules, register, variations
from banana_grasp.agents.protocol.presets import preset
from banana_grasp.agents.run.compare import compare
from banana_grasp.agents.run.jobs import eval_jobs, train_jobs

import touch_family

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _touch_family_from_its_module() -> None:
    """The family as its module registers it (test_docs runs the README's copy of the module,
    whose family, registered last, would name a module no worker can import)."""
    register(touch_family.TouchFamily())


TOY_PRESET = """\
families: [touch_family]  # the module that registers the family (importable: tests/ is on sys.path)
seeds: [0]
learners: [random, expert]
train_steps: {}
protocol: {variation: touch, split: heldout, k: [0, 1], eval_episodes: 1, heldout_tasks: 2, train_tasks: 2}
video_tasks: 1
algo_overrides: {ppo: {n_steps: 32, batch_size: 128, n_epochs: 2}}
"""
TOY_LEARNERS = """\
touch-specialist: {kind: ppo, variation: touch, role: single-task, hyperparameters: ppo, steps: 256}
"""


def test_the_registry_names_every_family_and_its_variations() -> None:
    assert {"lift", "hidden-target", "hidden-side", "touch"} <= set(FAMILIES)
    assert family_of("both").name == "lift" and family_of("hidden-side-left").name == "hidden-side"
    assert family_of("touch") is FAMILIES["touch"] and "touch" in variations()
    # The toy family's module, for spawned and Dask workers; only where the touch family is used.
    assert outside_modules(["touch", "both"]) == ("touch_family",) and outside_modules(["both", "hidden-side"]) == ()
    with pytest.raises(ValueError, match="unknown variation 'nope'; allowed: none, color, position"):
        family_of("nope")


def test_a_family_must_bring_new_variations() -> None:
    class Clash(Family):
        name, variations = "clash", ("both",)

    with pytest.raises(ValueError, match=r"variations \['both'\] belong to another family"):
        register(Clash())
    with pytest.raises(TypeError, match="must be a banana_grasp.agents.families.Family"):
        register(object())  # type: ignore[arg-type]
    assert "clash" not in FAMILIES


def test_a_family_without_an_oracle_refuses_one() -> None:
    from banana_grasp.agents.learners.registry import LearnerSpec

    with pytest.raises(ValueError, match="the touch family hides no task variable"):
        LearnerSpec(name="o", kind="ppo", variation="touch", role="reference", hyperparameters="ppo", shows_task=True)


def test_a_preset_that_budgets_what_it_does_not_train_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "preset.yaml"
    path.write_text(TOY_PRESET.replace("train_steps: {}", "train_steps: {ppo: 256}"))
    with pytest.raises(ValueError, match=r"train_steps budgets \['ppo'\], which none of its learners"):
        preset(str(path))


def test_a_family_of_ones_own_runs_through_a_tiny_comparison(tmp_path: Path) -> None:
    """Trained in a spawned worker, which imports this module by its name to know the family."""
    (tmp_path / "touch.yaml").write_text(TOY_PRESET)
    (tmp_path / "learners.yaml").write_text(TOY_LEARNERS)
    out = tmp_path / "run"
    report = compare(str(tmp_path / "touch.yaml"), out, workers=1, progress=False,
                     learners_file=tmp_path / "learners.yaml")  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert results["env_id"] == "Toy/Touch-HeldOut-v0"
    assert set(results["learners"]) == {"touch-specialist", "random", "expert"}
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["learner", "seed", "phase", "k", "task", "episode", "success"]  # no extra columns
    assert len(rows) == 2 + 3 * 2 * 2  # the specialist's own tasks, then 3 learners x 2 tasks x k in {0, 1}
    expert = [int(r["success"]) for r in rows if r["learner"] == "expert"]
    assert expert == [1, 1, 1, 1], "the scripted expert grasps the banana: its pads touch it at the end"
    assert "Toy/Touch-HeldOut-v0" in report.read_text()


def test_the_readme_quotes_the_toy_family() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Adding a task family", 1)[1].split("\n## ", 1)[0]
    quoted = re.search(r"```python\n# tests/touch_family.py\n(.*?)```", section, re.DOTALL).group(1)
    assert quoted == Path(touch_family.__file__).read_text()


def test_a_run_of_the_packages_families_imports_nothing_registered_beside_it() -> None:
    """The touch family is registered in this process, but the tiny preset does not use it: its
    jobs must not make every worker import ``touch_family`` (a Dask worker without it would
    refuse the whole run)."""
    assert "touch" in FAMILIES
    run = RunLayout(Path("/nowhere"))
    jobs = [*train_jobs(preset("tiny"), run), *eval_jobs(preset("tiny"), run)]
    assert jobs and all(job.imports == () for job in jobs)
