"""Adaptation chosen on validation: each single-task and multi-task learner adapts with the
setting of ``hyperparams.yaml: adaptation_menu`` that succeeds most on validation tasks of its
own training variation, and nothing of the evaluation tasks reaches that choice.

Stub agents where the protocol is under test; a trained learner where the setting must change
what fine-tuning does (tests/test_agents.py).
"""

from __future__ import annotations

import pytest

from banana_grasp.agents.learners import registry
from banana_grasp.agents.learners.registry import LearnerSpec
from banana_grasp.agents.protocol import evaluation
from banana_grasp.agents.protocol.evaluation import ADAPTATION, chosen_setting, evaluate_one
from banana_grasp.agents.protocol.presets import EvalProtocol
from banana_grasp.agents.protocol.summary import summarize
from banana_grasp.agents.report.tables import markdown_tables
from banana_grasp.agents.report.text import finding

MENU = {"none": None, "gentle": {"learning_rate": 1.0e-4}, "strong": {"n_epochs": 20}}
PROTOCOL = EvalProtocol(k=(0, 1), eval_episodes=1, heldout_tasks=6, train_tasks=4, validation_tasks=5)
SPECIALIST = LearnerSpec("position-specialist", "ppo", "position", "single-task", hyperparameters="ppo")
META = LearnerSpec("rl2", "rl2", "color-or-position", "meta", hyperparameters="rl2")


class SettingAgent:
    """Succeeds by a table: (setting, which task list the task is from) -> success. The task
    lists are told apart by the tasks themselves, so the table can poison the evaluation tasks."""

    last_episodes: list = []  # noqa: RUF012 (a stub)

    def __init__(self, name: str, table: dict[tuple[str, str], bool]) -> None:
        self.name, self.table, self.setting = name, table, "unset"
        self.played: list[tuple[str, str]] = []  # (setting, task list) of every rollout, in order
        self.heldout = {repr(t) for t in PROTOCOL.evaluation_tasks()}

    def use_adaptation(self, setting: dict | None) -> None:
        self.setting = next(name for name, value in MENU.items() if value == setting)

    def reset(self) -> None:
        pass

    def adapt(self, task, k: int, seed: int) -> None:
        pass

    def rollout(self, task, seed: int, render: bool = False):
        where = "heldout" if repr(task) in self.heldout else "own"
        self.played.append((self.setting, where))
        return self.table.get((self.setting, where), False), []


def _evaluate(monkeypatch, table: dict, spec: LearnerSpec = SPECIALIST) -> tuple[list, list[SettingAgent]]:
    agents: list[SettingAgent] = []

    def load(spec, files, tasks):
        agents.append(SettingAgent(spec.name, table))
        return agents[-1]

    monkeypatch.setattr(evaluation, "load_agent", load)
    return evaluate_one(spec, None, PROTOCOL, seed=3, menu=MENU), agents


# The validation tasks say "gentle"; the evaluation tasks are poisoned to favour another setting.
VALIDATION = {("gentle", "own"): True}
POISONS = {
    "no poison": {},
    "held-out favours none": {("none", "heldout"): True},
    "held-out favours strong": {("strong", "heldout"): True},
    "held-out favours all but gentle": {("none", "heldout"): True, ("strong", "heldout"): True},
}


@pytest.mark.parametrize("poison", POISONS)
def test_the_choice_never_reads_the_evaluation_tasks(monkeypatch, poison: str) -> None:
    outcomes, agents = _evaluate(monkeypatch, {**VALIDATION, **POISONS[poison]})
    validation = [o for o in outcomes if o.phase == "validation"]
    assert [o.fields[ADAPTATION] for o in validation] == [name for name in MENU for _ in range(5)]
    assert {o.fields[ADAPTATION]: o.success for o in validation} == {"none": False, "gentle": True, "strong": False}
    # Every outcome after the choice follows it, on the learner's own tasks and the evaluation tasks.
    after = [o for o in outcomes if o.phase != "validation"]
    assert after and all(o.fields[ADAPTATION] == "gentle" for o in after)
    # The validation episodes were all played on the learner's own variation, before any
    # evaluation task, by the agent of its own variation.
    own_agent, heldout_agent = agents
    assert all(where == "own" for _, where in own_agent.played)
    assert {where for _, where in heldout_agent.played} == {"heldout"}
    assert all(setting == "gentle" for setting, _ in heldout_agent.played)


def test_validation_tasks_are_the_learners_own_and_apart_from_its_scored_tasks() -> None:
    validation = PROTOCOL.validation_tasks_of(SPECIALIST)
    assert len(validation) == 5
    own, heldout = PROTOCOL.own_tasks(SPECIALIST), PROTOCOL.evaluation_tasks()
    assert not {repr(t) for t in validation} & {repr(t) for t in own + heldout}
    # Drawn from the learner's own training variation: the same as its own-task scoring draws from.
    assert PROTOCOL.own_variation(SPECIALIST).split == "train"


def test_a_meta_learner_and_a_protocol_without_validation_choose_nothing(monkeypatch) -> None:
    table = {(name, where): True for name in ("unset", *MENU) for where in ("own", "heldout")}
    outcomes, agents = _evaluate(monkeypatch, table, META)
    assert not [o for o in outcomes if o.phase == "validation"] and all(ADAPTATION not in o.fields for o in outcomes)
    assert all(setting == "unset" for agent in agents for setting, _ in agent.played)

    monkeypatch.setattr(evaluation, "load_agent", lambda spec, files, tasks: SettingAgent(spec.name, table))
    plain = evaluate_one(SPECIALIST, None, EvalProtocol(k=(0, 1), heldout_tasks=2, train_tasks=2), 3, MENU)
    assert plain and all(o.phase != "validation" and ADAPTATION not in o.fields for o in plain)
    zero_shot = EvalProtocol(k=(0,), heldout_tasks=2, train_tasks=2, validation_tasks=4)  # nothing to adapt
    assert all(o.phase != "validation" for o in evaluate_one(SPECIALIST, None, zero_shot, 3, MENU))


@pytest.mark.parametrize(
    "scores, chosen",
    [({"none": 0.5, "finetune": 0.5}, "none"), ({"none": 0.4, "finetune": 0.6, "b": 0.6}, "finetune"),
     ({"finetune": 0.2, "none": 0.2}, "finetune"), ({"a": 0.0}, "a")],
)  # fmt: skip
def test_the_best_validation_success_wins_and_a_tie_goes_to_the_setting_tried_first(scores, chosen) -> None:
    assert chosen_setting(scores) == chosen


def test_the_menu_starts_with_no_update_and_changes_only_finetune_settings() -> None:
    menu = registry.adaptation_menu()
    assert next(iter(menu)) == "none" and menu["none"] is None
    finetune = set(registry.hyperparameters("finetune"))
    assert all(setting is None or set(setting) <= finetune for setting in menu.values())
    assert len([s for s in menu.values() if s is not None]) >= 2


@pytest.mark.parametrize("menu", [None, [], {"x": {"gamma": 0.5}}, {"x": "fast"}])
def test_a_bad_menu_is_refused_with_what_is_allowed(monkeypatch, menu) -> None:
    real = registry.read_config

    def fake(name: str):
        table = dict(real(name))
        if name == "hyperparams.yaml":
            table["adaptation_menu"] = menu
        return table

    monkeypatch.setattr(registry, "read_config", fake)
    with pytest.raises(ValueError, match="adaptation_menu.*(map setting names|null \\(no update\\))"):
        registry.adaptation_menu()


def test_results_record_and_report_the_choice_per_seed(monkeypatch) -> None:
    outcomes = []
    for seed, table in ((3, {**VALIDATION, ("gentle", "heldout"): True}), (4, {("none", "own"): True})):
        monkeypatch.setattr(evaluation, "load_agent", lambda spec, files, tasks, t=table: SettingAgent(spec.name, t))
        outcomes += evaluate_one(SPECIALIST, None, PROTOCOL, seed=seed, menu=MENU)
    summary = summarize(outcomes, [SPECIALIST], [3, 4], PROTOCOL, reps=50)
    record = summary["learners"]["position-specialist"]["adaptation"]
    assert record["chosen"] == {"3": "gentle", "4": "none"}
    assert record["validation"] == {"none": 0.5, "gentle": 0.5, "strong": 0.0}
    assert record["validation_per_seed"] == {"none": [0.0, 1.0], "gentle": [1.0, 0.0], "strong": [0.0, 0.0]}
    assert record["k"] == 1
    assert "| position-specialist | gentle, none | 0.50 | 0.50 | 0.00 |" in markdown_tables(summary)
    text = finding(summary, speed={})
    assert "(seeds): position-specialist gentle on 1, none on 1." in text
