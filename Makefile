# Set-up from nothing, then the main job and the tests. `make report` and `make test` are all a user needs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0
KERNEL := workbench
# No environment variables are exported here on purpose: a notebook must produce the same outputs under
# `make test` (nbval), `make report` (papermill) and JupyterLab, so kernels see the same environment.
PROFILE ?= quick
PYTEST_ARGS ?=

.PHONY: setup setup-system report test lab bench clean help
help:
	@echo "make report   set up if needed, execute every notebook headlessly into reports/"
	@echo "make test     set up if needed, run every test (unit, property, notebooks, runner, browser, database)"
	@echo "make lab      open JupyterLab on notebooks/"
	@echo "make bench    run the benchmarks side by side with their peers into reports/benchmarks/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools

# torch first: the pin takes a CPU build here; afterwards no range in our dependencies pulls another.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (workbench)" >/dev/null
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev,bench]"
	# pyctcdecode pins numpy<2 but decodes correctly on numpy 2; installing its deps would break zarr 3.
	$(BIN)/pip install -q --no-deps pyctcdecode==0.5.0
	touch $@

setup: $(VENV)/.installed

# Debian packages the browser and database tests need; installed once when missing.
setup-system:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	[ -x /usr/lib/postgresql/15/bin/initdb ] || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  echo "installing system packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

report: setup
	$(BIN)/workbench run --profile $(PROFILE)

test: setup setup-system
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lab: setup
	$(BIN)/jupyter lab notebooks/

bench: $(VENV)/.installed-bench
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) reports/*/ .pytest_cache

# Fonts, ImageMagick (the evaluation sets' renderer) and Tesseract (the benchmark's peer) for training and
# evaluating the CRNN (issue 13); installed once when missing. Then: see datasets/models/README.md.
CRNN_TRAIN_PACKAGES := fonts-liberation fonts-noto-core fonts-texgyre fonts-urw-base35 fonts-freefont-ttf \
  fonts-crosextra-carlito fonts-crosextra-caladea fonts-linuxlibertine fonts-ebgaramond fonts-roboto fonts-lato \
  fonts-open-sans fonts-cantarell fonts-hack fonts-inconsolata fonts-dejavu-extra imagemagick tesseract-ocr \
  tesseract-ocr-eng
.PHONY: setup-train
setup-train: setup
	@missing=""; \
	for p in $(CRNN_TRAIN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  echo "installing system packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
