# The README's commands. Each creates .venv on first use and installs the project into it.
#   make install  the library and its runtime dependencies only (no test or reference extras)
#   make run      train the main job (GPT-tiny on the embedded pydoc_topics corpus)
#   make test     lint + format check + the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/gpt_tiny
# pip arguments that install PyTorch for the parity tests and benchmark peers (before the
# `reference` extra, which then finds it satisfied). The default matches the CPU wheel this
# project's CI machines carry; elsewhere, for a small CPU-only build:
#   make test TORCH_PIP_ARGS="torch --index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?= torch==2.13.0

.PHONY: install run test lint format bench clean-venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS)
	$(PY) -m pip install --quiet -e ".[test,reference]"
	touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) -m experiments.train_lm --config=experiments/configs/lm/gpt_tiny.py --workdir=$(WORKDIR)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=30

bench: $(VENV)/.installed-test
	$(PY) -m experiments.benchmarks.train_step

clean-venv:
	rm -rf $(VENV)
