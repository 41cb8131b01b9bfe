"""Every code example of the README and of docs/ runs, and every link resolves, so the docs
cannot drift from the code.

Python blocks are executed as they are (as a module that is not ``__main__``); a block that starts
with ``# <path>`` must also be that file of the repository, verbatim. Shell blocks: `make`
targets are the set-up commands themselves (CI runs `make test`); `banana-grasp` commands are
parsed by the real command-line parser (every flag and choice must exist), and the cheap ones
(rendering the expert) are run; `dask` commands must parse (their options exist); `python
scripts/...` commands must name a script whose --help works, and the scripts that wrap
`banana-grasp` have their arguments parsed the same way. The decision records
(``docs/notes/``) are a history: their commands are not run, but their links must resolve.
Links: every relative link of README.md, CHANGELOG.md and docs/ names a file that exists, and
an anchor names a heading of that file (as GitHub makes anchors from headings).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from banana_grasp.agents.cli import main, parser

from timeouts import scaled

ROOT = Path(__file__).resolve().parent.parent
CLI_SCRIPTS = ("compare", "train", "evaluate", "render")
# The user's documents, whose examples run; the decision records are checked for links only.
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").rglob("*.md") if "notes" not in p.parts)]
LINKED = [*PAGES, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs" / "notes").glob("*.md"))]
BLOCKS = [
    (page, lang, code)
    for page in PAGES
    for lang, code in re.findall(r"```(\w+)\n(.*?)```", page.read_text(), re.DOTALL)
]
PYTHON = [(page, code) for page, lang, code in BLOCKS if lang == "python"]
SHELL = [
    line.split("#")[0].strip()
    for _, lang, code in BLOCKS
    if lang == "bash"
    for line in code.splitlines()
    if line.split("#")[0].strip()
]


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


def test_the_docs_have_examples() -> None:
    readme = [code for page, code in PYTHON if page.name == "README.md" and page.parent == ROOT]
    assert len(readme) >= 2 and any(line.startswith("banana-grasp") for line in SHELL)
    assert len(PAGES) >= 8, [_name(page) for page in PAGES]


@pytest.mark.parametrize(("page", "code"), PYTHON, ids=[f"{_name(page)}-{i}" for i, (page, _) in enumerate(PYTHON)])
def test_python_example_runs(page: Path, code: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(code, _name(page), "exec"), {"__name__": "__readme__"})  # noqa: S102 (the docs' own examples)


QUOTED = [code for _, code in PYTHON if re.match(r"# (\S+\.py)\n", code)]


@pytest.mark.parametrize("code", QUOTED, ids=[code.split()[1] for code in QUOTED])
def test_quoted_source_file_is_the_file_itself(code: str) -> None:
    """A Python block that starts with ``# <path>`` shows that whole file of the repository."""
    path, body = code.split("\n", 1)
    assert (ROOT / path[2:]).read_text().strip() == body.strip(), f"README's copy of {path[2:]} is out of date"


def test_readme_shows_a_learner_kind_file() -> None:
    assert QUOTED, "docs/learners.md's 'Adding a learner' section quotes a kind's module"


@pytest.mark.parametrize("line", SHELL)
def test_shell_example(line: str, tmp_path, monkeypatch) -> None:
    words = shlex.split(line)
    while re.match(r"[A-Z_]+=", words[0]):  # an environment setting before the command
        words = words[1:]
    if words[0] == "make":
        makefile = (ROOT / "Makefile").read_text()
        assert re.search(rf"^{words[1]}:", makefile, flags=re.MULTILINE), f"no make target {words[1]!r}"
    elif words[0] == "banana-grasp":
        args = parser().parse_args(words[1:])  # exits (fails the test) on an unknown flag or choice
        if args.command == "render" and args.learner == "expert":
            monkeypatch.chdir(tmp_path)
            main(words[1:])
            assert (tmp_path / args.out).stat().st_size > 0
    elif words[0] == "dask":  # Dask's own command line: its options must exist
        result = subprocess.run([sys.executable, "-m", "dask", *words[1:], "--help"], check=False,
                                capture_output=True, text=True, timeout=scaled(60))  # fmt: skip
        assert result.returncode == 0, result.stderr
    elif words[:3] == ["python", "-m", "rl_zoo3.train"]:  # run as written, on a tiny budget
        logs = tmp_path / "logs"
        result = subprocess.run([sys.executable, "-m", "rl_zoo3.train", *words[3:], "-n", "256", "--eval-freq", "-1",
                                 "-f", str(logs)], cwd=tmp_path, check=False, capture_output=True, text=True,
                                timeout=scaled(300))  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert list(logs.rglob("*.zip")) and list(logs.rglob("vecnormalize.pkl")), "rl-zoo3 saved no model"
    elif words[0] == "python":
        script = ROOT / words[1]
        if script.stem in CLI_SCRIPTS:  # the script is `banana-grasp <stem>`: check its arguments
            parser().parse_args([script.stem, *words[2:]])
        result = subprocess.run(
            [sys.executable, str(script), "--help"], check=False, capture_output=True, text=True, timeout=scaled(60)
        )
        assert result.returncode == 0, result.stderr
    else:
        pytest.fail(f"shell example of an unknown kind: {line}")


def _anchor(heading: str) -> str:
    """The anchor GitHub makes of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)  # a code block's "# ..." is no heading
    return {_anchor(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


LINKS = [
    (page, target)
    for page in LINKED
    if page.is_file()
    for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL))
    if not re.match(r"(https?|mailto):", target)
]


@pytest.mark.parametrize(("page", "target"), LINKS, ids=[f"{_name(page)}->{target}" for page, target in LINKS])
def test_links_resolve(page: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    assert linked.exists(), f"{_name(page)} links to {target}, which does not exist"
    if anchor and linked.suffix == ".md":
        assert anchor in _anchors(linked), f"{_name(page)} links to {target}: no such heading in {linked.name}"


def test_the_link_check_sees_links_and_can_fail(tmp_path: Path) -> None:
    assert len(LINKS) > 30
    page = tmp_path / "page.md"
    page.write_text("# A title: here (0.1.0)\n\n[x](missing.md) [y](#a-title-here-010)\n")
    assert _anchors(page) == {"a-title-here-010"}
    with pytest.raises(AssertionError, match="does not exist"):
        test_links_resolve(page, "missing.md")
    with pytest.raises(AssertionError, match="no such heading"):
        test_links_resolve(page, "#nowhere")
