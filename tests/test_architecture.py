"""The package's layers: imports only point down, and no library file outgrows one sitting.

envs <- agents.common <- agents.families <- agents.learners <- agents.protocol <- agents.report <- agents.run
<- agents.cli. Restated here from the README's layout, not read from the code under test.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"envs": "banana_grasp.envs", "agents": "banana_grasp.agents", "assets": "banana_grasp.assets"}
LAYERS = [
    "banana_grasp.assets",
    "banana_grasp.envs",
    "banana_grasp.agents.common",
    "banana_grasp.agents.families",
    "banana_grasp.agents.learners",
    "banana_grasp.agents.protocol",
    "banana_grasp.agents.report",
    "banana_grasp.agents.run",
    "banana_grasp.agents.cli",
]
MAX_CODE_LINES = 300  # envs/ and agents/ alike: a module one reads in a sitting
# The generic layers look a task family up (agents.families.FAMILIES) and never name one's
# details: its names, its bananas' slots, what its episodes record.
GENERIC_LAYERS = ("banana_grasp.agents.protocol", "banana_grasp.agents.report", "banana_grasp.agents.run",
                  "banana_grasp.agents.common")  # fmt: skip
FAMILY_DETAILS = re.compile(r"hidden|lifted|touched|decoy|slot|banana_[ab]_|[\"']_[ab][\"']|heldout_rules|two_bananas",
                            re.IGNORECASE)  # fmt: skip


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            found[".".join((package, *parts)).removesuffix(".__init__")] = path
    return found


def _layer(module: str) -> int:
    matches = [i for i, layer in enumerate(LAYERS) if module == layer or module.startswith(layer + ".")]
    if not matches and module == "banana_grasp.agents":
        return LAYERS.index("banana_grasp.agents.common")
    assert matches, f"{module} belongs to no layer: add it to the layout"
    return matches[-1]


def _imports(path: Path) -> set[str]:
    """Every banana_grasp module ``path`` imports, at any depth of the file (lazy imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name.startswith("banana_grasp")}


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    mine = _layer(module)
    upward = [name for name in _imports(MODULES[module]) if _layer(name) > mine]
    assert not upward, f"{module} (layer {LAYERS[mine]}) imports from a layer above it: {upward}"


def test_the_layers_are_checked_on_real_imports() -> None:
    # The check above would pass vacuously if no import were seen.
    assert "banana_grasp.agents.learners.registry" in _imports(MODULES["banana_grasp.agents.learners.training"])
    assert _layer("banana_grasp.agents.run.compare") > _layer("banana_grasp.agents.report.tables")


def _code_lines(path: Path) -> int:
    """Lines of code: not blank, not a comment, not part of a docstring."""
    text = path.read_text()
    docstrings = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings |= set(range(first.lineno, first.end_lineno + 1))
    return sum(
        1
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#") and number not in docstrings
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_library_file_outgrows_one_sitting(module: str) -> None:
    count = _code_lines(MODULES[module])
    assert count <= MAX_CODE_LINES, f"{MODULES[module]}: {count} lines of code (at most {MAX_CODE_LINES})"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(GENERIC_LAYERS)))
def test_the_generic_layers_name_no_task_familys_details(module: str) -> None:
    text = MODULES[module].read_text()
    found = sorted({match.group(0) for match in FAMILY_DETAILS.finditer(text)})
    assert not found, f"{MODULES[module]} names a task family's details {found}: ask its family (agents.families)"


def test_the_family_check_can_fail() -> None:
    # The pattern finds what the generic layers named before the families moved out.
    for named in (
        "o.first_lifted",
        "HIDDEN_TARGET_RULES",
        "banana_a_color",
        "protocol.heldout_rules",
        'for s in ("", "_a")',
    ):
        assert FAMILY_DETAILS.search(named), named


def test_scripts_import_only_what_the_library_has() -> None:
    for script in sorted((ROOT / "scripts").glob("*.py")):
        for name in _imports(script):
            assert name in MODULES or name.rsplit(".", 1)[0] in MODULES, f"{script} imports {name}, not a module"
