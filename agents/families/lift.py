"""The lift family (``BananaGraspEnv``): one banana, whose colour, position or both vary."""

from __future__ import annotations

from typing import Any

from banana_grasp.agents.families.base import Family
from banana_grasp.envs import LIFT_SPLITS, VARIATIONS, env_id, task_distribution


class LiftFamily(Family):
    """The variations of ``banana_grasp.envs.VARIATIONS``, each an id per split; held-out
    positions follow the protocol's position layout."""

    name = "lift"
    variations = VARIATIONS
    splits = LIFT_SPLITS  # train, heldout, and the matrix's cells that hold out one factor
    # The banana's colour, luminance and orientation, the contact flags, and RL^2's previous
    # action and episode flag: normalising a key that is constant while a learner trains (the
    # colour for a position specialist) turns any new value into a huge input
    # (docs/notes/001-colour-left-out-of-normalisation.md).
    raw_keys = ("banana_color", "banana_luminance", "banana_quat", "finger_contact", "prev_action", "prev_done")

    def env_id(self, variation: str, split: str) -> str:
        return env_id(variation, split)

    def make_kwargs(self, variation: str, split: str, position_layout: str) -> dict[str, Any]:
        return {"position_layout": position_layout}

    def task_sampler(self, variation: str, split: str, position_layout: str) -> Any:
        return task_distribution(variation, split, position_layout)

    def generalisation_cells(self) -> dict[str, tuple[str, str, str]]:
        # Rows: colours seen in training, then held out; columns: positions likewise.
        return {
            "seen": ("both", "train", "nothing"),
            "new_position": ("both", "new-position", "positions"),
            "new_color": ("both", "new-color", "colours"),
            "new_both": ("both", "heldout", "colours and positions"),
        }

    def tasks_label(self, variation: str, split: str) -> str:
        return "held-out" if (variation, split) == ("both", "heldout") else f"{variation}/{split}"

    def tasks_scope(self, variation: str, split: str, position_layout: str) -> tuple[str, str, str]:
        if (variation, split) == ("both", "heldout"):
            how = f"new colours x new positions, {position_layout} position split"
            return "held-out combined tasks", how, "held-out combined"
        return super().tasks_scope(variation, split, position_layout)
