# Set-up from nothing, then the main job and the tests. `make report` and `make test` are all a user needs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What pip installs for torch, before anything else (see README, "Torch on other machines"). On these machines
# the pin takes a CPU build from local wheels. Elsewhere a plain pin pulls the default (CUDA) build from PyPI:
#   CPU only:  make setup TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
#   CUDA:      make setup TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cuXYZ"
# (cuXYZ: a CUDA version that release is built for, listed by pytorch.org's install selector). An existing
# .venv keeps its torch: `make clean setup TORCH_SPEC=...` to switch.
TORCH_SPEC ?= torch==2.13.0
KERNEL := workbench
# JupyterLab refuses to start as root without --allow-root; as anyone it serves on loopback only.
LAB_FLAGS := --ServerApp.ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_ARGS ?=
# No environment variables are exported here on purpose: a notebook must produce the same outputs under
# `make test` (nbval), `make report` (papermill) and JupyterLab, so kernels see the same environment.
PROFILE ?= quick
PYTEST_ARGS ?=

.PHONY: setup setup-system report test lab bench clean help
help:
	@echo "make report   set up if needed, execute every notebook headlessly into reports/"
	@echo "make test     set up if needed, run every test (unit, property, notebooks, runner, browser, database)"
	@echo "make lab      open JupyterLab on notebooks/ (as root too; LAB_ARGS='--port 8899' passes options)"
	@echo "make setup    only set up .venv; TORCH_SPEC='torch==2.13.0 --index-url URL' picks the torch build"
	@echo "make bench    run the benchmarks side by side with their peers into reports/benchmarks/"

# Set-up says what it is doing at each step: the pip steps are quiet and take minutes.
$(BIN)/python:
	@echo "setup 1/4: creating the virtual environment $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools

# torch first: the pin takes a CPU build here; afterwards no range in our dependencies pulls another.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	@echo "setup 2/4: installing $(TORCH_SPEC) (about a minute from local wheels; a CUDA build downloads GBs)"
	$(BIN)/pip install -q $(TORCH_SPEC)
	@echo "setup 3/4: installing the workbench and its dependencies: pip install -e .[dev] (a few minutes)"
	$(BIN)/pip install -q -e ".[dev]"
	@echo "setup 4/4: registering the Jupyter kernel '$(KERNEL)' inside $(VENV)"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (workbench)" >/dev/null
	@echo "setup done: $(VENV) is ready"
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	@echo "setup: installing the benchmark peers: pip install -e .[dev,bench]"
	$(BIN)/pip install -q -e ".[dev,bench]"
	# pyctcdecode pins numpy<2 but decodes correctly on numpy 2; installing its deps would break zarr 3.
	$(BIN)/pip install -q --no-deps pyctcdecode==0.5.0
	touch $@

setup: $(VENV)/.installed

# Debian packages the browser and database tests need, and MathJax for reports that render math offline; installed once when missing.
setup-system:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	[ -x /usr/lib/postgresql/15/bin/initdb ] || missing="$$missing postgresql"; \
	[ -f /usr/share/javascript/mathjax/MathJax.js ] || missing="$$missing libjs-mathjax fonts-mathjax"; \
	[ -f /usr/share/dict/american-english ] || missing="$$missing wamerican"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  echo "setup: installing Debian packages (browser and database tests, offline math in reports):$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

report: setup setup-system
	$(BIN)/workbench run --profile $(PROFILE)

test: setup setup-system
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lab: setup
	$(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_ARGS) notebooks/

# Every benchmark runs even when one fails (the failure is remembered), then one summary table is written.
bench: $(VENV)/.installed-bench
	@rc=0; for b in benchmarks/*.py; do case $$b in benchmarks/_*|benchmarks/summary.py) continue;; esac; \
	  echo "== $$b"; $(BIN)/python $$b || rc=1; done; \
	$(BIN)/python benchmarks/summary.py; exit $$rc

clean:
	rm -rf $(VENV) reports/*/ .pytest_cache

# Fonts, ImageMagick (the evaluation sets' renderer) and Tesseract (the benchmark's peer) for training and
# evaluating the CRNN (issue 13); installed once when missing. Then: see datasets/models/README.md.
CRNN_TRAIN_PACKAGES := fonts-liberation fonts-noto-core fonts-texgyre fonts-urw-base35 fonts-freefont-ttf \
  fonts-crosextra-carlito fonts-crosextra-caladea fonts-linuxlibertine fonts-ebgaramond fonts-roboto fonts-lato \
  fonts-open-sans fonts-cantarell fonts-hack fonts-inconsolata fonts-dejavu-extra fonts-sil-charis fonts-sil-gentium \
  fonts-cmu fonts-adf-accanthis fonts-adf-baskervald fonts-adf-gillius fonts-quattrocento \
  fonts-cardo fonts-vollkorn fonts-oldstandard fonts-fanwood fonts-junction fonts-cabin fonts-inter fonts-paratype \
  fonts-clear-sans fonts-oxygen fonts-go fonts-karla fonts-adf-berenis fonts-adf-libris fonts-adf-romande \
  fonts-adf-switzera fonts-adf-verana fonts-adf-universalis fonts-elstob fonts-jetbrains-mono fonts-courier-prime \
  fonts-goudybookletter fonts-tuffy fonts-b612 fonts-manrope fonts-quicksand fonts-prociono fonts-gfs-didot \
  fonts-sora fonts-play imagemagick tesseract-ocr tesseract-ocr-eng
.PHONY: setup-train
setup-train: setup
	@missing=""; \
	for p in $(CRNN_TRAIN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  echo "installing system packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
