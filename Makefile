# The README's two commands: `make book` and `make test`. Both create the virtual
# environment on first use (Python 3.11 + pip is all a fresh machine needs).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test env clean-book chapter batch bench

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

# Unit tests, then the chapter smoke runs (papermill, smallest parameters).
test: $(STAMP)
	$(BIN)/python -m pytest

# Speed benchmarks: every benchmarks/*_speed.py in turn (each prints its own table and
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

# Rerun every chapter in batch with one profile: make batch PROFILE=paper
PROFILE ?= tiny
batch: $(STAMP)
	mkdir -p _build/batch/$(PROFILE)
	for nb in book/[0-9]*.ipynb; do \
	  $(BIN)/papermill --cwd book $$nb _build/batch/$(PROFILE)/$$(basename $$nb) -p profile $(PROFILE) $(ARGS) || exit 1; \
	done

clean-book:
	rm -rf _build
