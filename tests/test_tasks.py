"""Tests of the task spaces in banana_grasp.envs.tasks (pure data: no physics, fast).

The direct checks below restate the documented layout independently of the code:
colour spaces are 8 bands of 1/8 of the hue circle starting at hue 0.1, alternating
train (even band) / held out (odd band); position spaces are the cells of a 4 x 4 grid
over the +-0.12 m workspace, train on the checkerboard's (i + j) even cells
(``interleaved``) or on the central 2 x 2 cells (``extrapolate``).
"""

from __future__ import annotations

import colorsys
import math
import re

import numpy as np
import pytest

from banana_grasp.envs import POSITION_LAYOUTS, SPLITS, VARIATIONS, Task, task_distribution
from banana_grasp.envs.tasks import (
    CENTRE_POSE,
    COLOR_SPACES,
    POSITION_SPACES,
    SATURATION,
    VALUE,
    WORKSPACE,
    YAW_LIMIT,
    YELLOW,
)

N_SAMPLES = 1000
OTHER = {"train": "heldout", "heldout": "train"}

# The documented layout, restated (see the module docstring).
HUE_OFFSET, N_BANDS = 0.1, 8
GRID_N, GRID_EDGES = 4, np.linspace(-WORKSPACE, WORKSPACE, 5)
# Which factors each variation varies: (colour, position); color-or-position varies one of them.
VARIES = {"none": (False, False), "color": (True, False), "position": (False, True), "both": (True, True)}


def hue_band(color: tuple[float, float, float]) -> tuple[int, float]:
    """The band index of a colour's hue and its position inside the band, in [0, 1)."""
    hue = colorsys.rgb_to_hsv(*color)[0]
    where = ((hue - HUE_OFFSET) % 1.0) * N_BANDS
    band = int(where)
    return band, where - band


def band_split(band: int) -> str:
    return "train" if band % 2 == 0 else "heldout"


def grid_cell(x: float, y: float) -> tuple[int, int]:
    width = 2 * WORKSPACE / GRID_N
    i, j = int((x + WORKSPACE) // width), int((y + WORKSPACE) // width)
    return min(i, GRID_N - 1), min(j, GRID_N - 1)


def cell_split(i: int, j: int, layout: str) -> str:
    if layout == "interleaved":
        return "train" if (i + j) % 2 == 0 else "heldout"
    return "train" if 1 <= i <= 2 and 1 <= j <= 2 else "heldout"


def distance_to_grid_line(value: float) -> float:
    """Distance from an x or y coordinate to the nearest line between two grid cells."""
    return float(np.min(np.abs(GRID_EDGES[1:-1] - value)))


def sample(variation: str, split: str, layout: str = "interleaved", n: int = N_SAMPLES, seed: int = 0):
    rng = np.random.default_rng(seed)
    dist = task_distribution(variation, split, layout)
    return dist, [dist.sample(rng) for _ in range(n)]


# ------------------------------------------------------------------------ Task
def test_task_defaults_are_the_yellow_banana_at_the_centre() -> None:
    task = Task()
    assert task.color == pytest.approx(YELLOW)
    assert (task.x, task.y, task.yaw) == CENTRE_POSE
    assert band_split(hue_band(task.color)[0]) == "train"  # yellow sits in a train band


def test_task_dict_round_trip() -> None:
    task = Task(color=(0.2, 0.9, 0.3), x=0.05, y=-0.07, yaw=0.3)
    assert Task.from_dict(task.as_dict()) == task
    assert isinstance(task.color, tuple) and all(isinstance(c, float) for c in task.color)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"color": (1.2, 0.5, 0.5)}, r"color must be 3 values in \[0, 1\] \(RGB\); got \(1\.2, 0\.5, 0\.5\)"),
        ({"color": (-0.1, 0.5, 0.5)}, r"color must be 3 values in \[0, 1\].*-0\.1"),
        ({"color": (0.5, 0.5)}, r"color must be 3 values in \[0, 1\].*\(0\.5, 0\.5\)"),
        ({"color": (0.5, 0.5, 0.5, 1.0)}, r"color must be 3 values in \[0, 1\].*\(0\.5, 0\.5, 0\.5, 1\.0\)"),
        ({"color": (float("nan"), 0.5, 0.5)}, r"color must be 3 values in \[0, 1\].*nan"),
        ({"x": 0.2}, r"\(0\.200, 0\.000\) is off the banana workspace: x and y must lie in \[-0\.12, 0\.12\]"),
        ({"y": -0.13}, r"\(0\.000, -0\.130\) is off the banana workspace: x and y must lie in \[-0\.12, 0\.12\]"),
        ({"yaw": 1.0}, r"yaw 1\.000 rad is outside \[-0\.7854, 0\.7854\]"),
        ({"x": float("nan")}, r"Task x must be finite; got nan"),
        ({"y": float("inf")}, r"Task y must be finite; got inf"),
        ({"yaw": float("-inf")}, r"Task yaw must be finite; got -inf"),
    ],
    ids=[
        "color>1", "color<0", "color-2-values", "color-4-values", "color-nan",
        "x-off", "y-off", "yaw-off", "x-nan", "y-inf", "yaw-inf",
    ],
)  # fmt: skip
def test_task_rejects_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Task(**kwargs)


def test_task_accepts_the_workspace_edges() -> None:
    Task(x=WORKSPACE, y=-WORKSPACE, yaw=YAW_LIMIT)
    Task(color=(0.0, 0.0, 0.0))
    Task(color=(1.0, 1.0, 1.0))


# ------------------------------------------------------------- task_distribution
@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("colour",), r"unknown variation 'colour'; allowed: none, color, position, both, color-or-position"),
        (("color", "test"), r"unknown split 'test'; allowed: train, heldout, new-color, new-position$"),
        (("position", "train", "grid"), r"unknown position layout 'grid'; allowed: interleaved, extrapolate"),
    ],
    ids=["variation", "split", "layout"],
)
def test_task_distribution_rejects_unknown_names(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        task_distribution(*args)


def test_names_are_the_documented_ones() -> None:
    assert VARIATIONS == ("none", "color", "position", "both", "color-or-position")
    assert SPLITS == ("train", "heldout")
    assert POSITION_LAYOUTS == ("interleaved", "extrapolate")


@pytest.mark.parametrize("split", SPLITS)
def test_none_variation_is_fixed(split: str) -> None:
    dist, tasks = sample("none", split, n=50)
    assert dist.is_fixed
    assert set(tasks) == {Task()}


@pytest.mark.parametrize("split", SPLITS)
def test_sampling_is_reproducible_from_the_rng(split: str) -> None:
    _, first = sample("both", split, n=50, seed=3)
    _, again = sample("both", split, n=50, seed=3)
    _, other = sample("both", split, n=50, seed=4)
    assert first == again
    assert first != other


# -------------------------------------------------------- disjoint train / held out
def test_colour_spaces_are_disjoint_on_a_dense_hue_grid() -> None:
    for hue in np.linspace(0.0, 1.0, 20001):
        for sat in SATURATION:
            for val in VALUE:
                color = colorsys.hsv_to_rgb(hue, sat, val)
                assert not (COLOR_SPACES["train"].contains(color) and COLOR_SPACES["heldout"].contains(color)), hue


@pytest.mark.parametrize("layout", POSITION_LAYOUTS)
def test_position_spaces_are_disjoint_on_a_dense_grid(layout: str) -> None:
    spaces = POSITION_SPACES[layout]
    both = 0
    for x in np.linspace(-WORKSPACE, WORKSPACE, 241):
        for y in np.linspace(-WORKSPACE, WORKSPACE, 241):
            both += spaces["train"].contains((x, y, 0.0)) and spaces["heldout"].contains((x, y, 0.0))
    assert both == 0


def _check_colour(color, split: str) -> None:
    """Direct check: hue in a band of this split, clear of the band edges; saturation and value in range."""
    band, where = hue_band(color)
    assert band_split(band) == split, (color, band)
    assert 0.07 <= where <= 0.93, f"hue of {color} lies {where:.3f} into band {band}: on its margin"
    _, sat, val = colorsys.rgb_to_hsv(*color)
    assert SATURATION[0] - 1e-9 <= sat <= SATURATION[1] + 1e-9
    assert VALUE[0] - 1e-9 <= val <= VALUE[1] + 1e-9
    assert COLOR_SPACES[split].contains(color)
    assert not COLOR_SPACES[OTHER[split]].contains(color)


def _check_pose(task: Task, split: str, layout: str) -> None:
    """Direct check: (x, y) in a grid cell of this split, clear of the cell edges; yaw in range."""
    i, j = grid_cell(task.x, task.y)
    assert cell_split(i, j, layout) == split, (task, i, j)
    assert min(distance_to_grid_line(task.x), distance_to_grid_line(task.y)) >= 0.0035, task
    assert max(abs(task.x), abs(task.y)) <= WORKSPACE - 0.0035
    assert abs(task.yaw) <= YAW_LIMIT
    pose = (task.x, task.y, task.yaw)
    assert POSITION_SPACES[layout][split].contains(pose)
    assert not POSITION_SPACES[layout][OTHER[split]].contains(pose)


def check_task(task: Task, variation: str, split: str, layout: str = "interleaved") -> None:
    """Direct check that ``task`` belongs to the documented space of a variation, split and layout."""
    pose = (task.x, task.y, task.yaw)
    if variation == "color-or-position":
        yellow, centred = task.color == pytest.approx(YELLOW), pose == CENTRE_POSE
        assert yellow != centred, f"{task} varies both factors or neither"
        variation = "position" if yellow else "color"
    color_varies, position_varies = VARIES[variation]
    # The matrix's cells hold out one factor: new-color = held-out colours x training positions.
    color_split, position_split = {"new-color": ("heldout", "train"), "new-position": ("train", "heldout")}.get(
        split, (split, split)
    )
    if color_varies:
        _check_colour(task.color, color_split)
    else:
        assert task.color == pytest.approx(YELLOW), task
    if position_varies:
        _check_pose(task, position_split, layout)
    else:
        assert pose == CENTRE_POSE, task


def test_the_one_factor_cells_hold_out_exactly_one_factor() -> None:
    rng = np.random.default_rng(0)
    for layout in ("interleaved", "extrapolate"):
        for split in ("new-color", "new-position"):
            tasks = [task_distribution("both", split, layout).sample(rng) for _ in range(50)]
            for task in tasks:
                check_task(task, "both", split, layout)
    with pytest.raises(
        ValueError, match="unknown split 'new-colour'; allowed: train, heldout, new-color, new-position"
    ):
        task_distribution("both", "new-colour")


@pytest.mark.parametrize(
    ("variation", "layout"),
    [("color", "interleaved"), ("position", "interleaved"), ("position", "extrapolate"),
     ("both", "interleaved"), ("both", "extrapolate"), ("color-or-position", "interleaved"),
     ("color-or-position", "extrapolate")],
)  # fmt: skip
def test_train_and_heldout_tasks_are_disjoint(variation: str, layout: str) -> None:
    dists, tasks = {}, {}
    for split in SPLITS:
        dists[split], tasks[split] = sample(variation, split, layout, seed=SPLITS.index(split))
    for split in SPLITS:
        assert len(set(tasks[split])) == N_SAMPLES  # continuous spaces: no repeats
        for task in tasks[split]:
            check_task(task, variation, split, layout)  # in the documented space, restated here
            assert dists[split].contains(task), task  # and the code agrees ...
            assert not dists[OTHER[split]].contains(task), (
                f"{split} task {task} is also {OTHER[split]}"
            )  # ... both ways


@pytest.mark.parametrize("split", SPLITS)
def test_colour_variation_draws_colours_from_its_bands_only(split: str) -> None:
    _, tasks = sample("color", split)
    bands = set()
    for task in tasks:
        _check_colour(task.color, split)
        assert (task.x, task.y, task.yaw) == CENTRE_POSE
        bands.add(hue_band(task.color)[0])
    # every band of the split is used, and none of the other split's
    assert bands == {b for b in range(N_BANDS) if band_split(b) == split}


@pytest.mark.parametrize("layout", POSITION_LAYOUTS)
@pytest.mark.parametrize("split", SPLITS)
def test_position_variation_draws_poses_from_its_cells_only(split: str, layout: str) -> None:
    _, tasks = sample("position", split, layout)
    cells = set()
    for task in tasks:
        _check_pose(task, split, layout)
        assert task.color == pytest.approx(YELLOW)
        cells.add(grid_cell(task.x, task.y))
    expected = {(i, j) for i in range(GRID_N) for j in range(GRID_N) if cell_split(i, j, layout) == split}
    assert cells == expected
    yaws = np.array([task.yaw for task in tasks])
    assert yaws.min() < -0.7 * YAW_LIMIT and yaws.max() > 0.7 * YAW_LIMIT  # yaw spans its range


@pytest.mark.parametrize("layout", POSITION_LAYOUTS)
@pytest.mark.parametrize("split", SPLITS)
def test_both_variation_draws_both_factors_from_the_split(split: str, layout: str) -> None:
    """In particular the held-out combined variation ("both", "heldout") is held out in both factors."""
    _, tasks = sample("both", split, layout)
    for task in tasks:
        _check_colour(task.color, split)
        _check_pose(task, split, layout)


@pytest.mark.parametrize("split", SPLITS)
def test_color_or_position_pools_colour_tasks_and_position_tasks(split: str) -> None:
    _, tasks = sample("color-or-position", split)
    kinds = []
    for task in tasks:
        yellow = task.color == pytest.approx(YELLOW)
        centred = (task.x, task.y, task.yaw) == CENTRE_POSE
        assert yellow != centred, f"{task} varies both factors or neither"
        if centred:
            _check_colour(task.color, split)
        else:
            _check_pose(task, split, "interleaved")
        kinds.append("position" if yellow else "color")
    share = kinds.count("color") / len(kinds)
    assert 0.4 < share < 0.6, share  # equal probability


def test_heldout_spaces_are_not_empty_or_degenerate() -> None:
    # A guard for the disjointness tests: they would pass trivially on empty spaces.
    for split in SPLITS:
        _, tasks = sample("both", split, n=200)
        hues = [colorsys.rgb_to_hsv(*t.color)[0] for t in tasks]
        assert np.ptp([t.x for t in tasks]) > 0.15 and np.ptp([t.y for t in tasks]) > 0.15
        assert len({round(h, 3) for h in hues}) > 100
        assert math.isfinite(sum(hues))


def test_error_messages_name_allowed_values_in_order() -> None:
    with pytest.raises(ValueError) as info:
        task_distribution("bogus")
    assert re.search(r"'bogus'", str(info.value))
    assert str(info.value).endswith(", ".join(VARIATIONS))
