"""What the two families with two bananas, a target and a decoy, share: fixed-rule variations
for the single-task learners, which banana each episode ended holding, and the report's
tables of those choices (``HiddenTargetFamily``, ``HiddenSideFamily``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.stats import binomtest

from banana_grasp.agents.families.base import Family

ROLES = ("target", "decoy", "none")  # what an episode ended holding, or first touched
CHOICE_VERBS = {"lifted": "held", "touched": "touched"}


@dataclass(frozen=True)
class OneTask:
    """The sampler of a fixed-rule variation: every draw is its one rule."""

    rule: Any

    def sample(self, rng: np.random.Generator) -> Any:
        return self.rule


def lifted_role(info: dict) -> str:
    """Which banana an episode ended holding, from its last info: target, decoy or none."""
    return "none" if info.get("lifted") is None else "target" if info["is_success"] else "decoy"


def touched_role(info: dict) -> str:
    """What an episode's first pad contact touched, from its last info: target, decoy or none."""
    return info.get("touched") or "none"


def _target_share(held: list[bool]) -> dict:
    """How many of ``held`` are the target, their share and its Clopper-Pearson 95% interval."""
    share = float(np.mean(held)) if held else None
    ci = list(binomtest(int(sum(held)), len(held)).proportion_ci(0.95, method="exact")) if held else None
    return {"target": int(sum(held)), "target_share": share, "target_share_ci": ci}


def held_shares(roles: list[str]) -> dict:
    """Of episodes ending with ``roles`` (target, decoy or none): how many, how many held a
    banana, and the target's share of those."""
    held = [role == "target" for role in roles if role != "none"]
    return {"episodes": len(roles), "held": len(held), **_target_share(held)}


class TwoBananaFamily(Family):
    """A family of two bananas in slots ``a`` and ``b``, one of them the target by a hidden rule.
    Subclasses set ``ids`` (registered id -> split), ``rules`` (fixed-rule variation -> its
    task), ``held_out_words`` (how report.md names the held-out tasks) and ``first_choice``:
    the outcome field (``lifted`` or ``touched``) by which the in-context table groups a
    trial's scored episode by its first episode."""

    ids: ClassVar[dict[str, str]] = {}
    rules: ClassVar[dict[str, Any]] = {}
    held_out_words: tuple[str, str, str] = ("held-out tasks", "", "held-out")
    first_choice = "lifted"
    raw_keys = tuple(f"banana_{slot}_{part}" for slot in "ab" for part in ("color", "luminance", "quat"))

    @property
    def outcome_columns(self) -> tuple[str, ...]:
        columns = ("lifted", "first_lifted")
        return columns if self.first_choice == "lifted" else (*columns, "touched", "first_touched")

    def check(self, variation: str, split: str) -> None:
        super().check(variation, split)
        if variation in self.rules and split != "train":
            raise ValueError(f"variation {variation!r} is one training rule: it has no {split!r} split; "
                             f"for held-out rules use {self.name!r}")  # fmt: skip

    def env_id(self, variation: str, split: str) -> str:
        self.check(variation, split)
        return next(id_ for id_, id_split in self.ids.items() if id_split == split)

    def pinned_task(self, variation: str) -> Any | None:
        return self.rules.get(variation)

    def tasks_label(self, variation: str, split: str) -> str:
        return self.held_out_words[0] if (variation, split) == (self.name, "heldout") else f"{variation}/{split}"

    def tasks_scope(self, variation: str, split: str, position_layout: str) -> tuple[str, str, str]:
        if (variation, split) == (self.name, "heldout"):
            return self.held_out_words
        return super().tasks_scope(variation, split, position_layout)

    # ------------------------------------------------------------------ outcomes
    def outcome_fields(self, episodes: list[dict]) -> dict[str, Any]:
        """``lifted``: what the scored episode ended holding; ``first_lifted``: what the first
        episode of its trial did, after k >= 1 in context (else None); and, where the choice is
        the first contact, ``touched`` and ``first_touched`` likewise."""
        first = episodes[0] if len(episodes) > 1 else None
        fields = {"lifted": lifted_role(episodes[-1]), "first_lifted": lifted_role(first) if first else None}
        if self.first_choice == "touched":
            fields |= {"touched": touched_role(episodes[-1]), "first_touched": touched_role(first) if first else None}
        return fields

    # ------------------------------------------------------------------ summary
    def summarize(self, outcomes: list, learners: list, protocol: Any) -> dict[str, Any]:
        choice = self.banana_choice(outcomes, learners, protocol)
        memory = self.in_context_choice(outcomes, learners, protocol)
        return {**({"banana_choice": choice} if choice else {}), **({"in_context_choice": memory} if memory else {})}

    @staticmethod
    def _scored(outcomes: list, name: str, protocol: Any):
        for label, phase, k in (("own", "train", protocol.own_k), ("evaluation", "heldout", protocol.headline_k)):
            yield label, [o for o in outcomes if o.learner == name and o.phase == phase and o.k == k]

    def banana_choice(self, outcomes: list, learners: list, protocol: Any) -> dict:
        """Per learner, of its episodes of its own rules (after ``own_k``) and of the evaluation
        tasks (after the headline k), how many ended holding a banana and how many the target,
        pooled over seeds and tasks; and the target's share of those holds with its
        Clopper-Pearson 95% interval (episodes counted as independent), to tell a learner that
        lifts but picks either banana from one that picks the target."""
        choice: dict[str, dict] = {}
        for spec in learners:
            rows = {}
            for label, scored in self._scored(outcomes, spec.name, protocol):
                roles = [o.fields["lifted"] for o in scored if o.fields.get("lifted") is not None]
                if roles:
                    rows[label] = held_shares(roles)
            if rows:
                choice[spec.name] = rows
        return choice

    def in_context_choice(self, outcomes: list, learners: list, protocol: Any) -> dict:
        """For a learner that adapts in context (RL^2; empty for the others): of its scored
        episodes of its own rules (after ``own_k``) and of the evaluation tasks (after the
        headline k), grouped by what the trial's first episode did (``first_choice``): how
        many trials, how many of their scored episodes ended holding a banana, and the target's
        share of those (Clopper-Pearson 95% interval). A learner that reads the first episode's
        rewards keeps the target after a target and takes the other banana after the decoy; one
        that does not takes the target as often after either."""
        key = f"first_{self.first_choice}"
        memory: dict[str, dict] = {}
        for spec in learners:
            rows = {}
            for label, scored in self._scored(outcomes, spec.name, protocol):
                scored = [o for o in scored if o.fields.get(key) is not None]
                if scored:
                    groups = {first: [o.fields["lifted"] for o in scored if o.fields[key] == first] for first in ROLES}
                    rows[label] = {first: held_shares(roles) for first, roles in groups.items()}
            if rows:
                memory[spec.name] = rows
        return memory

    # ------------------------------------------------------------------ report
    def tables(self, summary: dict, tasks: str) -> list[str]:
        out = []
        if "banana_choice" in summary:
            out.append(self.choice_table(summary, tasks))
        if "in_context_choice" in summary:
            out.append(self.in_context_table(summary, tasks))
        return out

    @staticmethod
    def _choice_cells(row: dict | None) -> str:
        if row is None:
            return "n/a | n/a"
        share = "n/a" if row["target_share"] is None else (
            f"{row['target_share']:.2f} [{row['target_share_ci'][0]:.2f}, {row['target_share_ci'][1]:.2f}]")  # fmt: skip
        return f"{row['held']} of {row['episodes']} | {share}"

    def choice_table(self, summary: dict, tasks: str = "held-out") -> str:
        """Which banana each learner's episodes ended holding."""
        own = f" after k={summary['own_k']}" if summary.get("own_k") else ""
        k = summary["headline_k"]
        lines = [
            (
                "Which banana the episodes ended holding (pooled over seeds and tasks; the target's share of the "
                "holds, with its Clopper-Pearson 95% interval; 0.5 is a coin flip between the two bananas):"
            ),
            "",
            (
                f"| learner | own rules{own}: held a banana | target's share | {tasks} after k={k}: held a banana | "
                "target's share |"
            ),
            "|---|---:|---:|---:|---:|",
        ]
        for name, rows in summary["banana_choice"].items():
            cells = f"{self._choice_cells(rows.get('own'))} | {self._choice_cells(rows.get('evaluation'))}"
            lines.append(f"| {name} | {cells} |")
        return "\n".join(lines)

    @staticmethod
    def _share_cell(row: dict) -> str:
        if not row["held"]:
            return f"{row['episodes']} trials, none held a banana"
        low, high = row["target_share_ci"]
        return (f"{row['episodes']} trials, {row['held']} held, target {row['target']}: "
                f"{row['target_share']:.2f} [{low:.2f}, {high:.2f}]")  # fmt: skip

    def in_context_table(self, summary: dict, tasks: str = "held-out") -> str:
        """Learners that adapt in context: the scored episode's choice by what the trial's first episode did."""
        own = f" after k={summary['own_k']}" if summary.get("own_k") else ""
        verb = CHOICE_VERBS[self.first_choice]
        which = "ended holding" if verb == "held" else "first touched"
        lines = [
            (
                "What the memory of the first episode changed (learners that adapt in context): trials grouped by "
                f"which banana their first episode {which}; in each, how many scored episodes ended holding a banana, "
                "how many the target, and the target's share of the holds with its Clopper-Pearson 95% interval. A "
                "learner that reads the first episode's rewards keeps the target after a target and takes the other "
                "banana after the decoy; one that does not takes the target about as often after either:"
            ),
            "",
            f"| learner | tasks | first {verb} the target | first {verb} the decoy | first {verb} neither |",
            "|---|---|---:|---:|---:|",
        ]
        for name, rows in summary["in_context_choice"].items():
            for label, title in (
                ("own", f"own rules{own}"),
                ("evaluation", f"{tasks} after k={summary['headline_k']}"),
            ):
                if label in rows:
                    cells = " | ".join(self._share_cell(rows[label][first]) for first in ROLES)
                    lines.append(f"| {name} | {title} | {cells} |")
        return "\n".join(lines)

    def findings(self, summary: dict, tasks: str = "held-out") -> list[str]:
        own = [self._choice_words(name, rows["own"]) for name, rows in summary.get("banana_choice", {}).items()
               if "own" in rows]  # fmt: skip
        return own + self.in_context_findings(summary, tasks)

    @staticmethod
    def _choice_words(name: str, row: dict) -> str:
        """What a learner's own-rule episodes say of its choice of banana."""
        if row["held"] == 0:
            return f"{name} ended none of {row['episodes']} episodes of its own rules holding a banana."
        low, high = row["target_share_ci"]
        if low > 0.5:
            verdict = "it picks the target more often than a coin flip would"
        elif high < 0.5:
            verdict = "it picks the decoy more often than a coin flip would"
        else:
            verdict = "its choice cannot be told from a coin flip (the interval holds 0.5)"
        return (f"{name}: {verdict}: it ended {row['held']} of {row['episodes']} episodes of its own rules holding a "
                f"banana, the target in {row['target']} of them ({row['target_share']:.2f}, 95% CI "
                f"[{low:.2f}, {high:.2f}]).")  # fmt: skip

    def in_context_findings(self, summary: dict, tasks: str = "held-out") -> list[str]:
        """Whether a learner that adapts in context used what its first episode found, on the
        evaluation tasks: after a first episode that held (or touched) the target, and after one
        that did the decoy, does the scored episode take the target?"""
        verb = CHOICE_VERBS[self.first_choice]
        words = []
        for name, rows in summary.get("in_context_choice", {}).items():
            if "evaluation" not in rows:
                continue
            parts = []
            for first, kept in (("target", "kept the target"), ("decoy", "took the other banana, the target,")):
                row = rows["evaluation"][first]
                if not row["episodes"]:
                    parts.append(f"no first episode {verb} the {first}")
                    continue
                if not row["held"]:
                    parts.append(f"after the {row['episodes']} first episode(s) that {verb} the {first}, no scored "
                                 "episode held a banana")  # fmt: skip
                    continue
                low, high = row["target_share_ci"]
                how = (f"{kept} more often than a coin flip would" if low > 0.5 else
                       "took the decoy more often than a coin flip would" if high < 0.5 else
                       "chose as a coin flip would")  # fmt: skip
                parts.append(f"after a first episode that {verb} the {first} its scored episode {how} (the target "
                             f"in {row['target']} of {row['held']} holds, {row['target']} of {row['episodes']} "
                             f"trials; 95% CI of the share [{low:.2f}, {high:.2f}])")  # fmt: skip
            words.append(f"On the {tasks} tasks, {name}: " + "; ".join(parts) + ".")
        return words
