"""Tasks and the spaces they are drawn from: all of it data, in this one module.

A :class:`Task` is one banana: its colour and its pose on the table. A *variation* says
which factors vary (``none``, ``color``, ``position``, ``both``, or ``color-or-position``,
a pool of colour tasks and position tasks); a *split* says which space a varying factor
is drawn from: ``train`` or the disjoint ``heldout`` space. Colour spaces are disjoint hue
bands; position spaces are disjoint cells of the workspace, either interleaved like a
checkerboard (held-out spots are new but inside the trained area) or ``extrapolate``
(train in the centre, held out around it).

The hidden-target family (:class:`HiddenTargetTask`) has two bananas on the table: a task
is a *rule*, the target hue, that decides which banana pays; each episode draws a fresh
:class:`HiddenTargetScene` for it (the target, a decoy of another colour, their poses).
Its splits use the same hue bands, and disjoint cells for the pair's centre.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

YELLOW = (0.95, 0.85, 0.2)
CENTRE_POSE = (0.0, 0.0, 0.0)  # x (m), y (m), yaw (rad)

# Where a banana may lie: its middle within this square, its yaw within +-YAW_LIMIT.
WORKSPACE = 0.12  # metres, half-width of the square
YAW_LIMIT = math.pi / 4  # radians; the banana's shape is symmetric enough that wider adds nothing new
SATURATION = (0.6, 1.0)
VALUE = (0.6, 1.0)

VARIATIONS = ("none", "color", "position", "both", "color-or-position")
SPLITS = ("train", "heldout")
POSITION_LAYOUTS = ("interleaved", "extrapolate")


@dataclass(frozen=True)
class Task:
    """One banana: colour as RGB in [0, 1], pose as x, y (metres) and yaw (radians)."""

    color: tuple[float, float, float] = YELLOW
    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0

    def __post_init__(self) -> None:
        color = tuple(float(c) for c in self.color)
        if len(color) != 3 or not all(0.0 <= c <= 1.0 for c in color):
            raise ValueError(f"Task color must be 3 values in [0, 1] (RGB); got {self.color!r}")
        object.__setattr__(self, "color", color)
        for name in ("x", "y", "yaw"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ValueError(f"Task {name} must be finite; got {value!r}")
            object.__setattr__(self, name, value)
        if abs(self.x) > WORKSPACE or abs(self.y) > WORKSPACE:
            raise ValueError(
                f"Task pose ({self.x:.3f}, {self.y:.3f}) is off the banana workspace: "
                f"x and y must lie in [-{WORKSPACE}, {WORKSPACE}] metres"
            )
        if abs(self.yaw) > YAW_LIMIT + 1e-9:
            raise ValueError(f"Task yaw {self.yaw:.3f} rad is outside [-{YAW_LIMIT:.4f}, {YAW_LIMIT:.4f}]")

    @property
    def hue(self) -> float:
        return colorsys.rgb_to_hsv(*self.color)[0]

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Task:
        return cls(color=tuple(data["color"]), x=data["x"], y=data["y"], yaw=data["yaw"])


class Space(Protocol):
    """A set of values of one factor, with a way to sample from it."""

    def sample(self, rng: np.random.Generator) -> tuple[float, ...]: ...

    def contains(self, value: tuple[float, ...]) -> bool: ...


@dataclass(frozen=True)
class Fixed:
    value: tuple[float, ...]

    def sample(self, rng: np.random.Generator) -> tuple[float, ...]:
        return self.value

    def contains(self, value: tuple[float, ...]) -> bool:
        return bool(np.allclose(value, self.value, atol=1e-6))


@dataclass(frozen=True)
class HueBands:
    """Colours whose hue lies in one of ``bands`` ([low, high) in [0, 1), may wrap past 1)."""

    bands: tuple[tuple[float, float], ...]
    saturation: tuple[float, float] = SATURATION
    value: tuple[float, float] = VALUE

    def sample(self, rng: np.random.Generator) -> tuple[float, ...]:
        low, high = self.bands[rng.integers(len(self.bands))]
        hue = rng.uniform(low, high) % 1.0
        return colorsys.hsv_to_rgb(hue, rng.uniform(*self.saturation), rng.uniform(*self.value))

    def contains(self, value: tuple[float, ...]) -> bool:
        hue, sat, val = colorsys.rgb_to_hsv(*value)
        in_band = any(low <= hue < high or low <= hue + 1.0 < high for low, high in self.bands)
        eps = 1e-6
        return (
            in_band
            and self.saturation[0] - eps <= sat <= self.saturation[1] + eps
            and self.value[0] - eps <= val <= self.value[1] + eps
        )


@dataclass(frozen=True)
class Box2:
    """An axis-aligned rectangle of the table: [x_low, x_high] x [y_low, y_high], metres."""

    x_low: float
    x_high: float
    y_low: float
    y_high: float

    def contains(self, x: float, y: float) -> bool:
        return self.x_low <= x <= self.x_high and self.y_low <= y <= self.y_high


@dataclass(frozen=True)
class Cells:
    """Poses whose (x, y) lies in one of ``cells``, with yaw uniform in +-``yaw_limit``."""

    cells: tuple[Box2, ...]
    yaw_limit: float = YAW_LIMIT

    def sample(self, rng: np.random.Generator) -> tuple[float, ...]:
        cell = self.cells[rng.integers(len(self.cells))]
        x = rng.uniform(cell.x_low, cell.x_high)
        y = rng.uniform(cell.y_low, cell.y_high)
        return (x, y, rng.uniform(-self.yaw_limit, self.yaw_limit))

    def contains(self, value: tuple[float, ...]) -> bool:
        x, y, yaw = value
        return abs(yaw) <= self.yaw_limit + 1e-9 and any(c.contains(x, y) for c in self.cells)


def _hue_bands(parity: int, count: int = 8, offset: float = 0.1, margin: float = 0.01) -> HueBands:
    # 8 bands of 1/8 of the hue circle, alternating train / held out; the offset puts the
    # default yellow (hue 0.14) inside a train band. A margin keeps neighbours apart.
    width = 1.0 / count
    bands = tuple((offset + k * width + margin, offset + (k + 1) * width - margin) for k in range(parity, count, 2))
    return HueBands(bands)


def _grid_cells(
    keep, n: int = 4, margin: float = 0.004, half_width: float = WORKSPACE, yaw_limit: float = YAW_LIMIT
) -> Cells:
    # An n x n grid over a square (the workspace by default); keep(i, j) picks the cells of this space.
    edges = np.linspace(-half_width, half_width, n + 1)
    cells = tuple(
        Box2(edges[i] + margin, edges[i + 1] - margin, edges[j] + margin, edges[j + 1] - margin)
        for i in range(n)
        for j in range(n)
        if keep(i, j)
    )
    return Cells(cells, yaw_limit)


COLOR_SPACES: dict[str, Space] = {"train": _hue_bands(0), "heldout": _hue_bands(1)}
POSITION_SPACES: dict[str, dict[str, Space]] = {
    "interleaved": {
        "train": _grid_cells(lambda i, j: (i + j) % 2 == 0),
        "heldout": _grid_cells(lambda i, j: (i + j) % 2 == 1),
    },
    "extrapolate": {
        "train": _grid_cells(lambda i, j: 1 <= i <= 2 and 1 <= j <= 2),
        "heldout": _grid_cells(lambda i, j: not (1 <= i <= 2 and 1 <= j <= 2)),
    },
}
FIXED_COLOR = Fixed(YELLOW)
FIXED_POSE = Fixed(CENTRE_POSE)

# Which factors each variation varies: (color varies, position varies).
_VARIES = {"none": (False, False), "color": (True, False), "position": (False, True), "both": (True, True)}
# A pooled variation draws each task from one of these, with equal probability.
_POOLS = {"color-or-position": ("color", "position")}


@dataclass(frozen=True)
class TaskDistribution:
    """Draws tasks for one (variation, split, layout); the union of ``parts`` if pooled."""

    variation: str
    split: str
    position_layout: str
    parts: tuple[tuple[Space, Space], ...]  # (colour space, pose space) per component

    def sample(self, rng: np.random.Generator) -> Task:
        color_space, pose_space = self.parts[rng.integers(len(self.parts))]
        x, y, yaw = pose_space.sample(rng)
        return Task(color=tuple(color_space.sample(rng)), x=x, y=y, yaw=yaw)

    def contains(self, task: Task) -> bool:
        return any(c.contains(task.color) and p.contains((task.x, task.y, task.yaw)) for c, p in self.parts)

    @property
    def is_fixed(self) -> bool:
        return all(isinstance(c, Fixed) and isinstance(p, Fixed) for c, p in self.parts)


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")


def task_distribution(variation: str, split: str = "train", position_layout: str = "interleaved") -> TaskDistribution:
    """The distribution of tasks for a variation and split; raises ValueError on unknown names."""
    _check("variation", variation, VARIATIONS)
    _check("split", split, SPLITS)
    _check("position layout", position_layout, POSITION_LAYOUTS)
    components = _POOLS.get(variation, (variation,))
    parts = []
    for component in components:
        color_varies, position_varies = _VARIES[component]
        color = COLOR_SPACES[split] if color_varies else FIXED_COLOR
        pose = POSITION_SPACES[position_layout][split] if position_varies else FIXED_POSE
        parts.append((color, pose))
    return TaskDistribution(variation, split, position_layout, tuple(parts))


# ============================================================== hidden target
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
        _check("slot", slot, SLOTS)
        return getattr(self, slot)

    def as_dict(self) -> dict:
        return {slot: self.banana(slot).as_dict() for slot in SLOTS}

    @classmethod
    def from_dict(cls, data: dict) -> HiddenTargetScene:
        return cls(a=Task.from_dict(data["a"]), b=Task.from_dict(data["b"]))


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
        x, y, yaw = self.centres.sample(rng)
        across, along = rng.uniform(*PAIR_SEPARATION), rng.uniform(-PAIR_OFFSET, PAIR_OFFSET)
        spread = rng.uniform(-PAIR_SPREAD, PAIR_SPREAD)
        cos, sin = math.cos(yaw), math.sin(yaw)
        half_x, half_y = (along * cos - across * sin) / 2, (along * sin + across * cos) / 2  # middle to one banana
        places = [(x + half_x, y + half_y, yaw + spread), (x - half_x, y - half_y, yaw - spread)]
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
        yaw, spread = (a.yaw + b.yaw) / 2, (a.yaw - b.yaw) / 2
        cos, sin = math.cos(yaw), math.sin(yaw)
        along, across = (a.x - b.x) * cos + (a.y - b.y) * sin, (b.x - a.x) * sin + (a.y - b.y) * cos
        eps = 1e-9
        return (
            abs(spread) <= PAIR_SPREAD + eps
            and PAIR_SEPARATION[0] - eps <= abs(across) <= PAIR_SEPARATION[1] + eps
            and abs(along) <= PAIR_OFFSET + eps
            and self.centres.contains(((a.x + b.x) / 2, (a.y + b.y) / 2, yaw))
        )

    def target_slot(self, task: HiddenTargetTask, scene: HiddenTargetScene) -> str:
        """The slot of the banana that ``task`` makes the target (the scene must have exactly one)."""
        slots = [slot for slot in SLOTS if task.is_target(scene.banana(slot).color)]
        if len(slots) != 1:
            raise ValueError(f"{scene} has {len(slots)} bananas of {task}'s target hue; a scene needs exactly one")
        return slots[0]


def _pair_cells(parity: int) -> Cells:
    # A 4 x 4 checkerboard over the square of pair centres, as the interleaved position layout.
    keep = lambda i, j: (i + j) % 2 == parity
    return _grid_cells(keep, half_width=PAIR_CENTRE_LIMIT, yaw_limit=YAW_LIMIT - PAIR_SPREAD)


HIDDEN_TARGET_SPACES: dict[str, HiddenTargetSpace] = {
    split: HiddenTargetSpace(split, COLOR_SPACES[split], _pair_cells(parity)) for parity, split in enumerate(SPLITS)
}


def hidden_target_space(split: str) -> HiddenTargetSpace:
    """The rules and scenes of a split of the hidden-target family; raises ValueError on an unknown split."""
    _check("split", split, SPLITS)
    return HIDDEN_TARGET_SPACES[split]
