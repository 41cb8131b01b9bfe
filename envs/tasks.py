"""The lift family's tasks and the spaces they are drawn from: all of it data, in this one module.

A :class:`Task` is one banana: its colour and its pose on the table. A *variation* says
which factors vary (``none``, ``color``, ``position``, ``both``, or ``color-or-position``,
a pool of colour tasks and position tasks); a *split* says which space a varying factor
is drawn from: ``train`` or the disjoint ``heldout`` space. Colour spaces are disjoint hue
bands; position spaces are disjoint cells of the workspace, either interleaved like a
checkerboard (held-out spots are new but inside the trained area) or ``extrapolate``
(train in the centre, held out around it).

A :class:`Task` is also how any family places one banana, and the hue bands and grids here
are what other families draw their spaces from (``hidden_target_tasks.py``).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
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
# The lift env's splits: each names the space of (colour, position) it draws from. Beyond train
# and heldout, two hold out one factor only, the cells of the generalisation matrix: held-out
# colours at training positions, and training colours at held-out positions.
FACTOR_SPLITS: dict[str, tuple[str, str]] = {
    "train": ("train", "train"),
    "heldout": ("heldout", "heldout"),
    "new-color": ("heldout", "train"),
    "new-position": ("train", "heldout"),
}
LIFT_SPLITS = tuple(FACTOR_SPLITS)
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


def grid_cells(
    keep: Callable[[int, int], bool],
    n: int = 4,
    margin: float = 0.004,
    half_width: float = WORKSPACE,
    yaw_limit: float = YAW_LIMIT,
) -> Cells:
    """The cells ``(i, j)`` of an n x n grid over a square (the workspace by default) that ``keep`` picks."""
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
        "train": grid_cells(lambda i, j: (i + j) % 2 == 0),
        "heldout": grid_cells(lambda i, j: (i + j) % 2 == 1),
    },
    "extrapolate": {
        "train": grid_cells(lambda i, j: 1 <= i <= 2 and 1 <= j <= 2),
        "heldout": grid_cells(lambda i, j: not (1 <= i <= 2 and 1 <= j <= 2)),
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


def check_name(name: str, value: str, allowed: tuple[str, ...]) -> None:
    """Raise ValueError, naming the allowed values, unless ``value`` is one of them."""
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")


def task_distribution(variation: str, split: str = "train", position_layout: str = "interleaved") -> TaskDistribution:
    """The distribution of tasks for a variation and split; raises ValueError on unknown names."""
    check_name("variation", variation, VARIATIONS)
    check_name("split", split, LIFT_SPLITS)
    check_name("position layout", position_layout, POSITION_LAYOUTS)
    components = _POOLS.get(variation, (variation,))
    color_split, position_split = FACTOR_SPLITS[split]
    parts = []
    for component in components:
        color_varies, position_varies = _VARIES[component]
        color = COLOR_SPACES[color_split] if color_varies else FIXED_COLOR
        pose = POSITION_SPACES[position_layout][position_split] if position_varies else FIXED_POSE
        parts.append((color, pose))
    return TaskDistribution(variation, split, position_layout, tuple(parts))
