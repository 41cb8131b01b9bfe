"""Learning curves: one CSV row per training rollout (``curve.csv`` in a learner's folder)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

CURVE_FIELDS = ("steps", "success_rate", "episodes", "wall_seconds")


def read_curve(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with open(path) as file:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]


def append_curve(path: Path, row: tuple) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as file:
        writer = csv.writer(file)
        if new:
            writer.writerow(CURVE_FIELDS)
        writer.writerow(row)


def last_wall_seconds(path: Path) -> float:
    rows = read_curve(path)
    return rows[-1]["wall_seconds"] if rows else 0.0


def truncate_curve(path: Path, steps: int) -> None:
    """Drop the rows past ``steps`` (a resumed training records them again)."""
    rows = read_curve(path)
    if path.exists():
        path.unlink()
    for row in rows:
        if row["steps"] <= steps:
            append_curve(path, tuple(row[f] for f in CURVE_FIELDS))


def last_success(curve: list[dict[str, float]]) -> float | None:
    """The success rate of the last rollout in which an episode ended."""
    return next((r["success_rate"] for r in reversed(curve) if not math.isnan(r["success_rate"])), None)


def time_to_success(curve: list[dict[str, float]], threshold: float = 0.9, window: int = 3) -> dict | None:
    """First point where the mean training success of ``window`` consecutive rollouts reaches
    ``threshold``: its env steps and wall seconds (None if never)."""
    rates = [row["success_rate"] for row in curve]
    for end in range(window, len(curve) + 1):
        recent = rates[end - window : end]
        if not any(math.isnan(r) for r in recent) and sum(recent) / window >= threshold:
            return {"steps": int(curve[end - 1]["steps"]), "wall_seconds": curve[end - 1]["wall_seconds"]}
    return None
