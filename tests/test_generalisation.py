"""The generalisation matrix: each trained learner of the lift family scored on tasks whose colour
and position were seen in training or held out (one factor or both), zero-shot and after the
headline k, and the report's words on what each single-task learner keeps when one factor is new.

Stub agents where the protocol is under test; tests/test_compare.py runs the matrix end to end.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_tasks import check_task  # the documented task layout, restated independently of the code

from banana_grasp.agents.learners.registry import LearnerSpec
from banana_grasp.agents.protocol import evaluation
from banana_grasp.agents.protocol.evaluation import evaluate_one
from banana_grasp.agents.protocol.presets import EvalProtocol
from banana_grasp.agents.protocol.summary import summarize
from banana_grasp.agents.report.tables import generalisation_table
from banana_grasp.agents.report.text import generalisation_findings

PROTOCOL = EvalProtocol(k=(0, 1), eval_episodes=1, heldout_tasks=5, train_tasks=3, matrix_tasks=4)
CELLS = {"seen": ("both", "train"), "new_position": ("both", "new-position"),
         "new_color": ("both", "new-color"), "new_both": ("both", "heldout")}  # fmt: skip
SPECIALIST = LearnerSpec("color-specialist", "ppo", "color", "single-task", hyperparameters="ppo")
RANDOM = LearnerSpec("random", "random", "both", "reference")  # kind random: not trained


def test_the_cells_are_the_four_combinations_of_seen_and_new() -> None:
    cells = PROTOCOL.matrix_cells()
    assert {name: (spec.variation, spec.split) for name, spec in cells.items()} == CELLS
    assert cells["new_both"] == PROTOCOL.evaluated_on
    assert PROTOCOL.cell_tasks("new_both") == PROTOCOL.evaluation_tasks()  # scored once, on the evaluation tasks
    drawn = {}
    for name, (variation, split) in CELLS.items():
        drawn[name] = PROTOCOL.cell_tasks(name)
        assert len(drawn[name]) == (5 if name == "new_both" else 4)
        for task in drawn[name]:
            check_task(task, variation, split)
    assert PROTOCOL.cell_tasks("seen") == PROTOCOL.cell_tasks("seen")  # the same for every learner and seed
    assert not EvalProtocol().matrix_cells()  # no matrix unless asked for
    with pytest.raises(ValueError, match="the hidden-side family has no generalisation matrix"):
        EvalProtocol(variation="hidden-side", matrix_tasks=4)


class CellAgent:
    """Succeeds by the cell its tasks come from: ``rates`` of its tasks, task by task."""

    last_episodes: list = []  # noqa: RUF012 (a stub)

    def __init__(self, name: str, where: str, rates: dict[str, float]) -> None:
        self.name, self.where, self.rate = name, where, rates.get(where, 0.0)
        self.ks: list[int] = []

    def reset(self) -> None:
        pass

    def adapt(self, task, k: int, seed: int) -> None:
        self.ks.append(k)

    def rollout(self, task, seed: int, render: bool = False):
        return bool(np.random.default_rng(seed).random() < self.rate), []


def _evaluate(monkeypatch, spec: LearnerSpec, rates: dict[str, float], seeds=(0, 1)) -> tuple[list, list]:
    agents = []

    def load(spec, files, tasks):
        split_cell = {split: name for name, (_, split) in CELLS.items()}
        agents.append(CellAgent(spec.name, split_cell[tasks.split] if tasks.variation == "both" else "own", rates))
        return agents[-1]

    monkeypatch.setattr(evaluation, "load_agent", load)
    outcomes = [o for seed in seeds for o in evaluate_one(spec, None, PROTOCOL, seed)]
    return outcomes, agents


def test_a_trained_learner_plays_each_other_cell_zero_shot_and_after_the_headline_k(monkeypatch) -> None:
    outcomes, agents = _evaluate(monkeypatch, SPECIALIST, {"seen": 1.0, "new_color": 0.5})
    assert [a.where for a in agents[:3]] == ["own", "new_both", "seen"]  # one agent per cell's envs
    assert sorted(a.where for a in agents) == sorted(["own", "new_both", "seen", "new_position", "new_color"] * 2)
    for phase in ("seen", "new_position", "new_color"):
        rows = [o for o in outcomes if o.phase == phase]
        assert len(rows) == 2 * 4 * 2 and {o.k for o in rows} == {0, 1}  # seeds x tasks x k
    assert all(o.success for o in outcomes if o.phase == "seen")
    assert not any(o.success for o in outcomes if o.phase in ("new_position", "heldout"))

    summary = summarize(outcomes, [SPECIALIST], [0, 1], PROTOCOL, reps=50)
    matrix = summary["learners"]["color-specialist"]["generalisation"]
    assert list(matrix) == list(CELLS)
    assert matrix["seen"]["0"]["mean"] == matrix["seen"]["1"]["mean"] == 1.0
    assert matrix["new_position"]["0"]["mean"] == 0.0
    assert 0.0 < matrix["new_color"]["0"]["mean"] < 1.0
    assert matrix["new_both"] == summary["learners"]["color-specialist"]["heldout_success"]
    low, high = matrix["new_color"]["1"]["ci"]
    assert low < matrix["new_color"]["1"]["mean"] < high  # a seed-level interval, not a point


def test_an_untrained_reference_gets_no_matrix(monkeypatch) -> None:
    outcomes, _agents = _evaluate(monkeypatch, RANDOM, {})
    assert {o.phase for o in outcomes} == {"heldout"}
    assert "generalisation" not in summarize(outcomes, [RANDOM], [0, 1], PROTOCOL, reps=50)["learners"]["random"]


def _summary(seen: float, new_position: float, new_color: float, role: str = "single-task") -> dict:
    estimate = lambda mean: {"mean": mean, "ci": [max(0.0, mean - 0.1), min(1.0, mean + 0.1)]}
    cells = {"seen": seen, "new_position": new_position, "new_color": new_color, "new_both": 0.1}
    matrix = {cell: {"0": estimate(v), "1": estimate(v)} for cell, v in cells.items()}
    return {"learners": {"color-specialist": {"role": role, "generalisation": matrix}}}


LIFT_CELLS = {"seen": ("both", "train", "nothing"), "new_position": ("both", "new-position", "positions"),
              "new_color": ("both", "new-color", "colours"), "new_both": ("both", "heldout", "colours and positions")}  # fmt: skip


@pytest.mark.parametrize(
    ("seen", "new_position", "new_color", "words"),
    [
        (0.8, 0.2, 0.6, ("color-specialist, zero-shot, succeeds on 0.80 of the tasks seen in training; it keeps "
         "0.25 of that when the positions are new (0.20) and 0.75 when the colours are new (0.60).")),
        (0.5, 0.5, 0.55, "keeps 1.00 of that when the positions are new (0.50) and 1.10 when the colours are new"),
        (0.0, 0.3, 0.0, "color-specialist scored 0.00 zero-shot on tasks seen in training, so what it keeps"),
    ],
)  # fmt: skip
def test_the_report_says_what_a_single_task_learner_keeps_from_the_numbers(seen, new_position, new_color, words):
    (sentence,) = generalisation_findings(_summary(seen, new_position, new_color), LIFT_CELLS)
    assert words in sentence
    assert not generalisation_findings(_summary(seen, new_position, new_color, role="multi-task"), LIFT_CELLS)


def test_the_table_has_a_row_per_learner_and_k_and_a_column_per_cell() -> None:
    table = generalisation_table(_summary(0.8, 0.2, 0.6), LIFT_CELLS)
    lines = table.splitlines()
    assert lines[0] == "| learner | k | seen in training | new positions | new colours | new colours and positions |"
    assert (
        lines[2]
        == "| color-specialist | 0 | 0.80 [0.70, 0.90] | 0.20 [0.10, 0.30] | 0.60 [0.50, 0.70] | 0.10 [0.00, 0.20] |"
    )
    assert len(lines) == 4
