# The README's two commands: `make book` and `make test`. Both create the virtual
# environment on first use (Python 3.11 + pip is all a fresh machine needs).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test env clean-book chapter batch lab browser-test

env: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# Build the whole book with the embedded default (tiny profile, SIB-200), executing
# every chapter; a warning fails the build. HTML lands in _build/html.
book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

# Unit tests, then the chapter smoke runs (papermill, smallest parameters). The browser
# test of the built pages runs apart (make browser-test, after make book).
test: $(STAMP)
	$(BIN)/python -m pytest -m "not browser"

# Open every built page in headless Chromium (.ci/browser-deps.sh installs it); screenshots
# land in _build/screenshots. Skips with a message when the book or the browser is missing.
browser-test: $(STAMP)
	$(BIN)/python -m pytest -m browser tests/test_browser.py

# Explore the chapters in JupyterLab; kernels run in the project's venv (python3 kernel), so
# mlcl_core and the widgets work. Extra options: make lab LAB_ARGS="--no-browser --port 8899"
# (Jupyter refuses to run as root without --allow-root: containers and CI often are root.)
LAB_ARGS ?=
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/book \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Rerun one chapter in batch: make chapter NB=book/01_data_synthesis.ipynb ARGS="-p subset 50"
chapter: $(STAMP)
	mkdir -p _build/papermill
	$(BIN)/papermill $(NB) _build/papermill/$(notdir $(NB)) $(ARGS)

# Rerun every chapter in batch with one profile: make batch PROFILE=paper
PROFILE ?= tiny
batch: $(STAMP)
	mkdir -p _build/batch/$(PROFILE)
	for nb in book/[0-9]*.ipynb; do \
	  $(BIN)/papermill --cwd book $$nb _build/batch/$(PROFILE)/$$(basename $$nb) -p profile $(PROFILE) $(ARGS) || exit 1; \
	done

clean-book:
	rm -rf _build
