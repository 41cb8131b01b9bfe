"""What a task family tells the rest of the package (``FAMILIES`` in ``agents.families``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from banana_grasp.envs import SPLITS


class Family:
    """A task family: its variations, how their envs are made and their tasks drawn, and what its
    episodes report beyond success. Subclasses set ``name`` and ``variations`` and write
    :meth:`env_id` and :meth:`task_sampler`; every other method has a default that suits a
    family with nothing more to say.

    A *variation* names an env id per split and how tasks are drawn; a learner trains on one
    and the protocol evaluates on one. Tasks are the family's own objects (the env's
    ``options["task"]``), drawn by a sampler's ``sample(rng)``.
    """

    name: str = ""
    variations: tuple[str, ...] = ()
    # Observation keys left out of VecNormalize (learners.envs.normalized_keys): already in
    # [-1, 1] and constant or nearly so while some learners train.
    raw_keys: tuple[str, ...] = ()
    splits: tuple[str, ...] = SPLITS  # the splits its variations' tasks are drawn from

    def check(self, variation: str, split: str) -> None:
        """Raise ValueError, naming what is allowed, unless the family draws tasks of ``variation``/``split``."""
        if variation not in self.variations:
            raise ValueError(f"unknown {self.name} variation {variation!r}; allowed: {', '.join(self.variations)}")
        if split not in self.splits:
            raise ValueError(f"unknown {self.name} split {split!r}; allowed: {', '.join(self.splits)}")

    def env_id(self, variation: str, split: str) -> str:
        """The registered id whose env draws this variation's tasks of ``split``."""
        raise NotImplementedError

    def make_kwargs(self, variation: str, split: str, position_layout: str) -> dict[str, Any]:
        """Keywords of ``gym.make`` beyond the id's own (the lift family: the position layout)."""
        return {}

    def pinned_task(self, variation: str) -> Any | None:
        """The one task of a single-task variation that every episode plays, else None."""
        return None

    def task_sampler(self, variation: str, split: str, position_layout: str) -> Any:
        """Draws the tasks of a variation and split with ``.sample(rng)``."""
        raise NotImplementedError

    def episode_steps(self, variation: str, split: str) -> int:
        """Steps of one episode of the variation's env: its registered time limit."""
        return int(gym.spec(self.env_id(variation, split)).max_episode_steps)

    def task_shown_kwargs(self) -> dict[str, Any]:
        """Keywords of ``gym.make`` that put the hidden task in the observation, for an oracle
        reference learner (``shows_task: true`` in learners.yaml); ValueError if the family has none."""
        raise ValueError(f"the {self.name} family hides no task variable that an oracle could be shown")

    def tasks_label(self, variation: str, split: str) -> str:
        """How tables name the evaluation tasks."""
        return f"{variation}/{split}"

    def tasks_scope(self, variation: str, split: str, position_layout: str) -> tuple[str, str, str]:
        """How report.md names the evaluation tasks: (what they are, how they are new, the finding's word)."""
        return (
            "evaluation tasks",
            f"{variation}/{split}, {position_layout} position split",
            self.tasks_label(variation, split),
        )

    def generalisation_cells(self) -> dict[str, tuple[str, str, str]]:
        """The cells of the generalisation matrix: each cell's name -> (variation, split, what
        is new in it), in the order of a 2 x 2 grid read row by row (rows: the first factor
        seen, then new; columns: the second); empty where the family has no matrix."""
        return {}

    # ------------------------------------------------------------------ outcomes and report
    # Extra columns of results.csv, in order; an outcome leaves out a column whose value is None.
    outcome_columns: tuple[str, ...] = ()

    def outcome_fields(self, episodes: list[dict]) -> dict[str, Any]:
        """What one scored episode reports beyond success, from the last info of each episode of
        its rollout (``episodes[-1]`` the scored one; those before it: the k episodes that a
        learner adapting in context played in the same trial, none for the others)."""
        return {}

    def summarize(self, outcomes: list, learners: list, protocol: Any) -> dict[str, Any]:
        """Entries the family adds to the summary (results.json), from the outcomes."""
        return {}

    def tables(self, summary: dict, tasks: str) -> list[str]:
        """Markdown tables the family adds to the report, from the summary."""
        return []

    def findings(self, summary: dict, tasks: str) -> list[str]:
        """Claims the family adds to the report's finding, each one bullet, from the summary."""
        return []
