# The README's two commands: `make book` and `make test`. Both create the virtual
# environment on first use (Python 3.11 + pip is all a fresh machine needs).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test test-fast lint format env clean-book clean-results chapter batch pretrain bench lab browser-test

# Idle OpenMP threads sleep instead of spinning: on a CPU shared with other jobs spinning
# threads made training steps several times slower (README, Performance). No result changes.
export OMP_WAIT_POLICY ?= PASSIVE

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

# Unit tests only (no chapter runs): the quick loop while changing the library.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser"

# ruff's lint rules and formatting, over the library, tests and chapters.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/nbstripout book/*.ipynb

# Rebuild the tiny pre-trained checkpoints (tiny mBERT, tiny wav2vec2) shipped in
# mlcl_core/data/checkpoints/ from the repository's data: the text pool is read from
# ../shared/data/sib200-pretrain (POOL=...), speech is synthesised with espeak. ARGS adds
# flags of `python -m mlcl_core.pretrain --help`, e.g. ARGS="--threads 1" on a busy machine.
POOL ?= ../shared/data/sib200-pretrain
pretrain: $(STAMP)
	$(BIN)/python -m mlcl_core.pretrain all --pool $(POOL) $(ARGS)

# Speed benchmarks, timings printed as ratios and never asserted (run them on an idle
# machine): every benchmarks/*_speed.py in turn (each prints its own table and
# ratios; mlcl_speed.py, issue 8: the naive MLCL step against the project's path, tiny
# profile on the CPU). One script with arguments:
# make bench BENCH=benchmarks/mlcl_speed.py ARGS="--profile paper --device cuda"
BENCH ?= $(sort $(wildcard benchmarks/*_speed.py))
bench: $(STAMP)
	for b in $(BENCH); do $(BIN)/python $$b $(ARGS) || exit 1; done

# Rerun one chapter in batch: make chapter NB=book/01_data_synthesis.ipynb ARGS="-p subset 50"
chapter: $(STAMP)
	mkdir -p _build/papermill
	$(BIN)/papermill $(NB) _build/papermill/$(notdir $(NB)) $(ARGS)

# Rerun every chapter in batch with one profile, then render the executed notebooks as HTML:
#   make batch PROFILE=paper DEVICE=cuda PARAMS=my-params.yml ARGS="-y 'seeds: [0, 1, 2]'"
# Executed notebooks and html/ land in _build/batch/<profile>/. Chapters finished earlier with
# the same parameters are skipped (FORCE=1 reruns them); a failing chapter stops the batch.
PROFILE ?= tiny
batch: $(STAMP)
	$(BIN)/python -m mlcl_core.batch --profile $(PROFILE) $(if $(DEVICE),--device $(DEVICE)) \
	  $(if $(PARAMS),-f $(PARAMS)) $(if $(FORCE),--force) $(ARGS)

clean-book:
	rm -rf _build

# The results store (every run's record and the search trials); chapters retrain.
clean-results:
	rm -rf results
