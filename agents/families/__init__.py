"""Task families as plug-ins: ``FAMILIES``, one entry per family, as ``KINDS`` is for learner kinds.

A family (:class:`~banana_grasp.agents.families.base.Family`) owns its variations (each names
an env id and how its tasks are drawn), the observation keys that stay out of normalisation,
the fields an outcome of its episodes carries beyond success, and its report's own tables and
findings. The protocol, the report and the runners look a variation's family up here and never
branch on which family it is. A family of one's own is added with :func:`register`, from any
module (``docs/families.md``, "Adding a task family").
"""

from __future__ import annotations

import importlib

from banana_grasp.agents.families.base import Family
from banana_grasp.agents.families.hidden_side import HiddenSideFamily
from banana_grasp.agents.families.hidden_target import HiddenTargetFamily
from banana_grasp.agents.families.lift import LiftFamily

FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add ``family`` to ``FAMILIES``; its name and variations must be new (a family of the same
    class, its module imported again, replaces itself)."""
    if not isinstance(family, Family):
        raise TypeError(f"a task family must be a banana_grasp.agents.families.Family; got {type(family).__name__}")
    if not family.name or not family.variations:
        raise ValueError(f"task family {type(family).__name__}: give it a name and at least one variation")
    old = FAMILIES.get(family.name)
    if old is not None and type(old).__qualname__ != type(family).__qualname__:
        raise ValueError(f"a task family named {family.name!r} is already registered ({type(old).__qualname__})")
    taken = {v for name, other in FAMILIES.items() if name != family.name for v in other.variations}
    clash = sorted(taken & set(family.variations))
    if clash:
        raise ValueError(f"task family {family.name!r}: variations {clash} belong to another family")
    FAMILIES[family.name] = family
    return family


for _family in (LiftFamily(), HiddenTargetFamily(), HiddenSideFamily()):
    register(_family)


def variations() -> tuple[str, ...]:
    """Every registered family's variations."""
    return tuple(v for family in FAMILIES.values() for v in family.variations)


def family_of(variation: str) -> Family:
    """The family of a variation; raises ValueError, naming the allowed variations, on an unknown one."""
    for family in FAMILIES.values():
        if variation in family.variations:
            return family
    raise ValueError(f"unknown variation {variation!r}; allowed: {', '.join(variations())}")


def check_variation(variation: str, split: str = "train") -> None:
    """Raise ValueError, naming what is allowed, unless ``variation``/``split`` is drawn by its family."""
    family_of(variation).check(variation, split)


def variation_env_id(variation: str, split: str) -> str:
    """The registered id whose env draws this variation's tasks of ``split``."""
    return family_of(variation).env_id(variation, split)


def task_sampler(variation: str, split: str, position_layout: str):
    """Draws the tasks of a variation and split with ``.sample(rng)``."""
    family = family_of(variation)
    family.check(variation, split)
    return family.task_sampler(variation, split, position_layout)


def outside_modules(variations) -> tuple[str, ...]:
    """The modules from outside the package that registered the families of ``variations``: a
    process that runs a job on them (a spawned worker, a Dask worker) imports them first
    (:func:`import_modules`). Families registered here but not used are left out."""
    modules = (type(family_of(variation)).__module__ for variation in variations)
    return tuple(dict.fromkeys(m for m in modules if m != "banana_grasp" and not m.startswith("banana_grasp.")))


def import_modules(modules: tuple[str, ...] | list[str]) -> None:
    """Import each module (by its import path), so that the families it registers are known here."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ValueError(f"cannot import {module!r}, which registers a task family of this run: {error}; "
                             "it must be importable here (on PYTHONPATH) as where the run started") from None  # fmt: skip


def raw_keys() -> tuple[str, ...]:
    """The observation keys that no family normalises (``learners.envs.normalized_keys``)."""
    return tuple(dict.fromkeys(key for family in FAMILIES.values() for key in family.raw_keys))


__all__ = [
    "FAMILIES",
    "Family",
    "check_variation",
    "family_of",
    "import_modules",
    "outside_modules",
    "raw_keys",
    "register",
    "task_sampler",
    "variation_env_id",
    "variations",
]
