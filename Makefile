# gptlab: the two commands that matter are `make book` and `make test`.
# Each creates the virtual environment in .venv (with pinned versions) if it is missing.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gptlab-installed
export HF_HUB_OFFLINE ?= 1
export PIP_DISABLE_PIP_VERSION_CHECK = 1

# PyTorch. On Linux, the package index's default torch wheel is the multi-gigabyte CUDA build,
# so the CPU build comes from PyTorch's CPU wheel index. TORCH_INDEX is the one setting that
# changes this: another index (a CUDA one, e.g. https://download.pytorch.org/whl/cu128), or
# nothing (`make test TORCH_INDEX=`, or TORCH_INDEX= in the environment) to take torch from the
# same package index as everything else. On macOS and Windows that index's wheel is already the
# right one (CPU, and Apple's GPU through MPS), so TORCH_INDEX is empty there.
OS_NAME := $(shell uname -s 2>/dev/null)
ifeq ($(OS_NAME),Linux)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
endif
ifneq ($(strip $(TORCH_INDEX)),)
TORCH_FROM := --no-deps --index-url $(TORCH_INDEX)
TORCH_SAYS := from $(TORCH_INDEX) (TORCH_INDEX= takes it from your package index)
else
TORCH_FROM :=
TORCH_SAYS := from the package index
endif
PIP_INSTALL = $(BIN)/python -m pip install --quiet -c constraints.txt

# Each environment is torch first (so nothing pulls another build of it), then gptlab with an
# extra: `lab` (the learner's JupyterLab), `book` (the website's tools) or `dev` (everything:
# lab, book and the test tools). The full environment's stamp, $(STAMP), serves every target.
define install_env
	@echo "==> Setting up the virtual environment in $(VENV) (first time: about 2 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "==> Installing PyTorch $(TORCH_SAYS)"
	$(PIP_INSTALL) $(TORCH_FROM) torch
	@echo "==> Installing gptlab with the '$(1)' extra"
	$(PIP_INSTALL) -e ".[$(1)]"
	@touch $@
	@echo "==> Environment ready: $(VENV)"
endef
env_for = $(if $(wildcard $(STAMP)),$(STAMP),$(VENV)/.gptlab-$(1))

# ruff (lint, then formatting) over the code, then pytest over the unit tests (which also
# build the site and check it in Chromium) and nbval over every notebook (a cell that raises
# fails the run). Settings for ruff are in pyproject.toml.
LINT_CMD = $(BIN)/ruff check . && $(BIN)/ruff format --check gptlab tools tests conftest.py book/images book/_ext
TEST_CMD = $(BIN)/python -m pytest tests notebooks \
	--nbval-lax --nbval-cell-timeout=600 --nbval-sanitize-with nbval_sanitize.cfg

.PHONY: help venv book book-zh notebooks-zh lab-zh site slides test lint test-unit test-notebooks lab learner execute data doctor constraints clean

help:
	@echo "make book     build the website into _build/html (creates .venv if needed)"
	@echo "make slides   a reveal.js deck per chapter in _build/slides (offline; S shows speaker notes)"
	@echo "make book-zh  build the Chinese edition of the website into _build/html-zh"
	@echo "make notebooks-zh  the notebooks with Chinese prose (notebooks-zh/, learner-zh/)"
	@echo "make lab-zh   JupyterLab on the Chinese notebooks, gptlab's messages in Chinese"
	@echo "make site     both editions side by side in _build/site, as GitHub Pages publishes them"
	@echo "make test     run every test: ruff, unit tests, site build + browser check, all notebooks"
	@echo "make lint     ruff check on the whole tree, ruff format --check on the code"
	@echo "make lab      open JupyterLab on the notebooks"
	@echo "make learner  learner edition (no solutions) in learner/ and its website in _build/learner-html"
	@echo "make data     download and verify the Shakespeare corpus"
	@echo "make doctor   check this machine for the course"
	@echo "make execute NB=notebooks/01_language_models.ipynb   re-run one notebook, store its outputs and run time"
	@echo "On Linux, torch is the CPU build from $(if $(TORCH_INDEX),$(TORCH_INDEX),the package index); TORCH_INDEX=<url> or TORCH_INDEX= (empty: the package index) changes that"

$(VENV)/.gptlab-lab: pyproject.toml constraints.txt
	$(call install_env,lab)

$(VENV)/.gptlab-book: pyproject.toml constraints.txt
	$(call install_env,book)

$(STAMP): pyproject.toml constraints.txt
	$(call install_env,dev)

venv: $(STAMP)

book: $(call env_for,book)
	@echo "==> Building the website (warnings are errors)"
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "==> Adding the slide decks to the website (_build/html/slides)"
	$(BIN)/python tools/slides.py build --out _build/html/slides
	@echo "==> Done: open _build/html/index.html"

# The Chinese edition (中文版): the same sources with the translations in locales/zh_CN
# (gettext catalogs); tools/zh.py builds it with warnings as errors.
book-zh: $(call env_for,book)
	@echo "==> Building the Chinese website into _build/html-zh (warnings are errors)"
	$(BIN)/python tools/zh.py site --out _build/html-zh
	@echo "==> Done: open _build/html-zh/index.html"

# The Chinese notebooks (same code and outputs, Chinese prose) and their learner edition.
notebooks-zh: $(STAMP)
	$(BIN)/python tools/zh.py notebooks --dest notebooks-zh --learner learner-zh

# JupyterLab on the Chinese notebooks, with gptlab's own messages in Chinese (GPTLAB_LANG).
lab-zh: notebooks-zh $(call env_for,lab)
	GPTLAB_LANG=zh_CN $(BIN)/jupyter lab notebooks-zh/00_setup.ipynb

# The published website (GitHub Pages): both editions side by side, as they are built (their
# pages link to each other by relative paths), and a front page that opens the English one.
site: book book-zh
	rm -rf _build/site && mkdir -p _build/site
	cp -r _build/html _build/html-zh _build/site/
	printf '%s\n' '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=html/index.html"><a href="html/index.html">gptlab</a>' > _build/site/index.html
	@echo "==> Done: _build/site (html/ and html-zh/)"

# Slides: a reveal.js deck per chapter from the notebooks' slide marks (python tools/slides.py
# mark stores them), with reveal.js and MathJax copied from their Python packages: no internet.
slides: $(STAMP)
	@echo "==> Building the slide decks into _build/slides"
	$(BIN)/python tools/slides.py build --out _build/slides
	@echo "==> Done: open _build/slides/index.html"

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

lab: $(call env_for,lab)
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

data: $(call env_for,lab)
	$(BIN)/gptlab data fetch

doctor: $(call env_for,lab)
	$(BIN)/gptlab doctor

constraints: $(STAMP)
	@{ echo "# Pinned versions for a fast, repeatable install (make venv installs with -c constraints.txt)."; \
	   echo "# Regenerate after changing dependencies: make constraints"; \
	   $(BIN)/python -m pip freeze --all --exclude-editable | grep -vE '^(gptlab|pip)==' | sed -E 's/^torch==([0-9.]+)\+.*/torch==\1/'; } > constraints.txt

clean:
	rm -rf _build learner .pytest_cache
