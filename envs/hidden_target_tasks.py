"""The hidden-target family's tasks and the spaces they are drawn from: all of it data.

The family has two bananas on the table. A task (:class:`HiddenTargetTask`) is a *rule*, the
target hue, that decides which banana pays; each episode draws a fresh
:class:`HiddenTargetScene` for it (the target, a decoy of another colour, their poses). Its
splits use the lift family's hue bands (``tasks.py``), and disjoint cells for the pair's centre.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import asdict, dataclass

import numpy as np

from banana_grasp.envs.tasks import COLOR_SPACES, SPLITS, YAW_LIMIT, Cells, HueBands, Task, check_name, grid_cells

TARGET_HUE_JITTER = 0.02  # the target banana's hue lies within this of the rule's target hue
PAIR_CENTRE_LIMIT = 0.07  # metres, half-width of the square the middle of the two bananas lies in
PAIR_SEPARATION = (0.09, 0.10)  # metres between the bananas' middles, across them
PAIR_OFFSET = 0.02  # metres, at most between the bananas' middles, along them
PAIR_SPREAD = 0.1  # radians: each banana's yaw differs from the pair's by this much at most, in opposite ways
SLOTS = ("a", "b")  # the observation's names for the two bananas


def hue_distance(first: float, second: float) -> float:
    """Distance between two hues on the hue circle, in [0, 0.5]."""
    gap = abs(first - second) % 1.0
    return min(gap, 1.0 - gap)


def _band_of(bands: tuple[tuple[float, float], ...], hue: float) -> int | None:
    """Index of the band ([low, high), may wrap past 1) that holds ``hue``, or None."""
    for index, (low, high) in enumerate(bands):
        if low <= hue < high or low <= hue + 1.0 < high:
            return index
    return None


def _sample_hue(bands: tuple[tuple[float, float], ...], rng: np.random.Generator) -> float:
    low, high = bands[rng.integers(len(bands))]
    return rng.uniform(low, high) % 1.0


@dataclass(frozen=True)
class HiddenTargetTask:
    """A rule of the hidden-target family: the banana whose hue lies within
    ``TARGET_HUE_JITTER`` of ``target_hue`` (in [0, 1)) is the one that pays."""

    target_hue: float

    def __post_init__(self) -> None:
        try:
            hue = float(self.target_hue)
        except (TypeError, ValueError):
            hue = math.nan
        if not (math.isfinite(hue) and 0.0 <= hue < 1.0):
            raise ValueError(f"HiddenTargetTask target_hue must be a hue in [0, 1); got {self.target_hue!r}")
        object.__setattr__(self, "target_hue", hue)

    def is_target(self, color: tuple[float, float, float]) -> bool:
        """Whether a banana of this colour (RGB) is the rule's target."""
        return hue_distance(colorsys.rgb_to_hsv(*color)[0], self.target_hue) <= TARGET_HUE_JITTER + 1e-9

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> HiddenTargetTask:
        return cls(target_hue=data["target_hue"])


@dataclass(frozen=True)
class HiddenTargetScene:
    """The two bananas of one hidden-target episode, by observation slot: each a :class:`Task`
    (colour and pose). Which one is the target is the rule's business, not the scene's."""

    a: Task
    b: Task

    def __post_init__(self) -> None:
        for slot in SLOTS:
            if not isinstance(getattr(self, slot), Task):
                raise TypeError(f"HiddenTargetScene.{slot} must be a Task; got {type(getattr(self, slot)).__name__}")

    def banana(self, slot: str) -> Task:
        check_name("slot", slot, SLOTS)
        return getattr(self, slot)

    def as_dict(self) -> dict:
        return {slot: self.banana(slot).as_dict() for slot in SLOTS}

    @classmethod
    def from_dict(cls, data: dict) -> HiddenTargetScene:
        return cls(a=Task.from_dict(data["a"]), b=Task.from_dict(data["b"]))


def pair_places(centres: Cells, rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """The two bananas' places ``(x, y, yaw)`` of a pair drawn with ``rng``: its middle and yaw
    from ``centres``, the bananas ``PAIR_SEPARATION`` apart across the pair, up to ``PAIR_OFFSET``
    along it, each yawed up to ``PAIR_SPREAD`` off the pair's yaw (the two-banana families' layout)."""
    x, y, yaw = centres.sample(rng)
    across, along = rng.uniform(*PAIR_SEPARATION), rng.uniform(-PAIR_OFFSET, PAIR_OFFSET)
    spread = rng.uniform(-PAIR_SPREAD, PAIR_SPREAD)
    cos, sin = math.cos(yaw), math.sin(yaw)
    half_x, half_y = (along * cos - across * sin) / 2, (along * sin + across * cos) / 2  # middle to one banana
    return [(x + half_x, y + half_y, yaw + spread), (x - half_x, y - half_y, yaw - spread)]


def pair_fits(centres: Cells, a: Task, b: Task) -> bool:
    """Whether :func:`pair_places` can place bananas ``a`` and ``b`` (in either order)."""
    yaw, spread = (a.yaw + b.yaw) / 2, (a.yaw - b.yaw) / 2
    cos, sin = math.cos(yaw), math.sin(yaw)
    along, across = (a.x - b.x) * cos + (a.y - b.y) * sin, (b.x - a.x) * sin + (a.y - b.y) * cos
    eps = 1e-9
    return (
        abs(spread) <= PAIR_SPREAD + eps
        and PAIR_SEPARATION[0] - eps <= abs(across) <= PAIR_SEPARATION[1] + eps
        and abs(along) <= PAIR_OFFSET + eps
        and centres.contains(((a.x + b.x) / 2, (a.y + b.y) / 2, yaw))
    )


@dataclass(frozen=True)
class HiddenTargetSpace:
    """The rules and scenes of one split of the hidden-target family.

    Rules: target hues in the split's hue bands, each narrowed by ``TARGET_HUE_JITTER`` at both
    ends so that the target's colour stays in its band. A scene for a rule: the target's hue
    within the jitter of the rule's; the decoy's hue drawn the same way around the target hue of
    a rule from another band of the split (so across rules, target and decoy colours are drawn
    alike, and neither colour nor slot nor place tells them apart); saturation and value as
    the colour variation's. The two bananas lie side by side, nearly parallel: the pair's
    middle in ``centres`` (its yaw within ``centres.yaw_limit``), their middles
    ``PAIR_SEPARATION`` apart across them and up to ``PAIR_OFFSET`` along them, each yawed up
    to ``PAIR_SPREAD`` off the pair's. Which of the two places, and which slot, holds the
    target: 50/50 each.
    """

    split: str
    colors: HueBands
    centres: Cells

    @property
    def rule_bands(self) -> tuple[tuple[float, float], ...]:
        return tuple((low + TARGET_HUE_JITTER, high - TARGET_HUE_JITTER) for low, high in self.colors.bands)

    def sample(self, rng: np.random.Generator) -> HiddenTargetTask:
        return HiddenTargetTask(_sample_hue(self.rule_bands, rng))

    def contains(self, task: HiddenTargetTask) -> bool:
        return isinstance(task, HiddenTargetTask) and _band_of(self.rule_bands, task.target_hue) is not None

    def sample_scene(self, task: HiddenTargetTask, rng: np.random.Generator) -> HiddenTargetScene:
        """A scene for ``task`` (a rule of this space), drawn with ``rng``."""
        bands = self.rule_bands
        own = _band_of(bands, task.target_hue)
        decoy_hue = _sample_hue(tuple(band for i, band in enumerate(bands) if i != own), rng)
        target_color, decoy_color = (
            colorsys.hsv_to_rgb(
                (hue + rng.uniform(-TARGET_HUE_JITTER, TARGET_HUE_JITTER)) % 1.0,
                rng.uniform(*self.colors.saturation),
                rng.uniform(*self.colors.value),
            )
            for hue in (task.target_hue, decoy_hue)
        )
        places = pair_places(self.centres, rng)
        if rng.random() < 0.5:
            places.reverse()  # the target takes the first place
        target, decoy = Task(target_color, *places[0]), Task(decoy_color, *places[1])
        return HiddenTargetScene(target, decoy) if rng.random() < 0.5 else HiddenTargetScene(decoy, target)

    def contains_scene(self, task: HiddenTargetTask, scene: HiddenTargetScene) -> bool:
        """Whether ``sample_scene(task, ...)`` can draw ``scene``: one target, one decoy, the layout above."""
        if not (self.contains(task) and isinstance(scene, HiddenTargetScene)):
            return False
        a, b = scene.a, scene.b
        if task.is_target(a.color) == task.is_target(b.color):
            return False  # no target, or two
        decoy = b if task.is_target(a.color) else a
        bands = self.colors.bands
        if not (self.colors.contains(a.color) and self.colors.contains(b.color)):
            return False
        if _band_of(bands, colorsys.rgb_to_hsv(*decoy.color)[0]) == _band_of(bands, task.target_hue):
            return False
        return pair_fits(self.centres, a, b)

    def target_slot(self, task: HiddenTargetTask, scene: HiddenTargetScene) -> str:
        """The slot of the banana that ``task`` makes the target (the scene must have exactly one)."""
        slots = [slot for slot in SLOTS if task.is_target(scene.banana(slot).color)]
        if len(slots) != 1:
            raise ValueError(f"{scene} has {len(slots)} bananas of {task}'s target hue; a scene needs exactly one")
        return slots[0]


def _pair_cells(parity: int) -> Cells:
    # A 4 x 4 checkerboard over the square of pair centres, as the interleaved position layout.
    keep = lambda i, j: (i + j) % 2 == parity
    return grid_cells(keep, half_width=PAIR_CENTRE_LIMIT, yaw_limit=YAW_LIMIT - PAIR_SPREAD)


HIDDEN_TARGET_SPACES: dict[str, HiddenTargetSpace] = {
    split: HiddenTargetSpace(split, COLOR_SPACES[split], _pair_cells(parity)) for parity, split in enumerate(SPLITS)
}


def hidden_target_space(split: str) -> HiddenTargetSpace:
    """The rules and scenes of a split of the hidden-target family; raises ValueError on an unknown split."""
    check_name("split", split, SPLITS)
    return HIDDEN_TARGET_SPACES[split]
