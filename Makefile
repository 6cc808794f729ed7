# gptlab: the two commands that matter are `make book` and `make test`.
# Each creates the virtual environment in .venv (with pinned versions) if it is missing.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gptlab-installed
export HF_HUB_OFFLINE ?= 1
export PIP_DISABLE_PIP_VERSION_CHECK = 1

# ruff (lint, then formatting) over the code, then pytest over the unit tests (which also
# build the site and check it in Chromium) and nbval over every notebook (a cell that raises
# fails the run). Settings for ruff are in pyproject.toml.
LINT_CMD = $(BIN)/ruff check . && $(BIN)/ruff format --check gptlab tools tests conftest.py book/images
TEST_CMD = $(BIN)/python -m pytest tests notebooks \
	--nbval-lax --nbval-cell-timeout=600 --nbval-sanitize-with nbval_sanitize.cfg

.PHONY: help venv book test lint test-unit test-notebooks lab learner execute data doctor constraints clean

help:
	@echo "make book     build the website into _build/html (creates .venv if needed)"
	@echo "make test     run every test: ruff, unit tests, site build + browser check, all notebooks"
	@echo "make lint     ruff check on the whole tree, ruff format --check on the code"
	@echo "make lab      open JupyterLab on the notebooks"
	@echo "make learner  learner edition (no solutions) in learner/ and its website in _build/learner-html"
	@echo "make data     download and verify the Shakespeare corpus"
	@echo "make doctor   check this machine for the course"
	@echo "make execute NB=notebooks/01_language_models.ipynb   re-run one notebook, store its outputs and run time"

$(STAMP): pyproject.toml constraints.txt
	@echo "==> Setting up the virtual environment in $(VENV) (first time: about 2 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "==> Installing PyTorch (CPU build unless your platform's default wheel has CUDA/MPS)"
	$(BIN)/python -m pip install --quiet -c constraints.txt torch
	@echo "==> Installing gptlab and the book/test tools"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)
	@echo "==> Environment ready: $(VENV)"

venv: $(STAMP)

book: $(STAMP)
	@echo "==> Building the website (warnings are errors)"
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "==> Done: open _build/html/index.html"

test: $(STAMP)
	@echo "==> Running every test (ruff, unit tests, site build and browser check, notebooks)"
	$(LINT_CMD)
	$(TEST_CMD)

lint: $(STAMP)
	$(LINT_CMD)

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests

test-notebooks: $(STAMP)
	$(BIN)/python -m pytest notebooks --nbval-lax --nbval-cell-timeout=600 --nbval-sanitize-with nbval_sanitize.cfg

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/00_setup.ipynb

# Workshop: the learner edition (notebooks without solutions, outputs cleared) in learner/,
# and a website built from it with solutions hidden in _build/learner-html.
# LEARNER_FLAGS=--force replaces notebooks already in learner/ (learners' answers included).
learner: $(STAMP)
	@echo "==> Writing the learner edition into learner/"
	$(BIN)/python tools/workshop.py learner --src notebooks --dest learner $(LEARNER_FLAGS)
	@echo "==> Building the learner website (solutions hidden)"
	$(BIN)/python tools/workshop.py learner-site --out _build/learner-html
	@echo "==> Done: learner/ and _build/learner-html/index.html"

execute: $(STAMP)
	@test -n "$(NB)" || (echo "usage: make execute NB=notebooks/NN_slug.ipynb" && exit 2)
	$(BIN)/python tools/execute.py $(NB)

data: $(STAMP)
	$(BIN)/gptlab data fetch

doctor: $(STAMP)
	$(BIN)/gptlab doctor

constraints: $(STAMP)
	@{ echo "# Pinned versions for a fast, repeatable install (make venv installs with -c constraints.txt)."; \
	   echo "# Regenerate after changing dependencies: make constraints"; \
	   $(BIN)/python -m pip freeze --all --exclude-editable | grep -vE '^(gptlab|pip)==' | sed -E 's/^torch==([0-9.]+)\+.*/torch==\1/'; } > constraints.txt

clean:
	rm -rf _build learner .pytest_cache
