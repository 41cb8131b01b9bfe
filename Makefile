# The two set-up commands of the README:
#   make quick   installs everything, then runs the quick comparison end to end
#   make test    installs everything, then runs the lint and the tests
# Both work on a fresh Debian machine with Python 3.11, pip and apt.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl
# Debian packages for headless rendering through EGL (Mesa's software renderer).
SYSTEM_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0

.PHONY: install system-deps quick full pixels lint test test-fast bench clean

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages for headless rendering: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: a CPU build; a looser requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test,cluster,zoo]"
	touch $@

install: system-deps $(VENV)/.installed

quick: install
	$(PY) -m banana_grasp.agents.cli compare --preset quick

full: install
	$(PY) -m banana_grasp.agents.cli compare --preset full

pixels: install
	$(PY) -m banana_grasp.agents.cli compare --preset pixels

# pytest-xdist spreads the tests over every core (a module that builds a run or a cluster once
# keeps its tests on one worker: xdist_group); test-fast leaves out the tests marked slow.
# The lint first (ruff's rules and format, pyproject.toml): a style slip fails fast.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -n auto --dist loadgroup -q

test-fast: lint
	$(PY) -m pytest -n auto --dist loadgroup -q -m "not slow"

bench: install
	$(PY) scripts/bench_env.py

clean:
	rm -rf $(VENV) build *.egg-info
