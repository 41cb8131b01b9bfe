"""Every code example of the README runs, so the docs cannot drift from the code.

Python blocks are executed as they are (as a module that is not ``__main__``); a block that starts with ``# <path>`` must also be
that file of the repository, verbatim. Shell blocks: `make` targets are the set-up
commands themselves (CI runs `make test`); `banana-grasp` commands are parsed by the real
command-line parser (every flag and choice must exist), and the cheap ones (rendering the
expert) are run; `dask` commands must parse (their options exist); `python scripts/...` commands must name a script whose --help works, and the scripts that
wrap `banana-grasp` have their arguments parsed the same way.
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
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.DOTALL)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
SHELL = [
    line.split("#")[0].strip()
    for lang, code in BLOCKS
    if lang == "bash"
    for line in code.splitlines()
    if line.split("#")[0].strip()
]


def test_readme_has_examples() -> None:
    assert len(PYTHON) >= 2 and any(line.startswith("banana-grasp") for line in SHELL)


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_example_runs(code: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})  # noqa: S102 (the README's own examples)


QUOTED = [code for code in PYTHON if re.match(r"# (\S+\.py)\n", code)]


@pytest.mark.parametrize("code", QUOTED, ids=[code.split()[1] for code in QUOTED])
def test_quoted_source_file_is_the_file_itself(code: str) -> None:
    """A Python block that starts with ``# <path>`` shows that whole file of the repository."""
    path, body = code.split("\n", 1)
    assert (ROOT / path[2:]).read_text().strip() == body.strip(), f"README's copy of {path[2:]} is out of date"


def test_readme_shows_a_learner_kind_file() -> None:
    assert QUOTED, "the README's 'Adding a learner' section quotes a kind's module"


@pytest.mark.parametrize("line", SHELL)
def test_shell_example(line: str, tmp_path, monkeypatch) -> None:
    words = shlex.split(line)
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
        pytest.fail(f"README shell example of an unknown kind: {line}")
