# Two entry points on a fresh machine: `make book` and `make test`.
# Each builds the project's virtual environment from the lock (requirements.lock) when it is missing
# or the lock changed, and reuses it otherwise. `make lock` refreshes the lock on purpose;
# `make test-latest` runs the tests against the newest releases pyproject.toml allows.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
# The lock is resolved for this interpreter and platform (the machines of this project and CI).
LOCK_PYTHON := 3.11
LOCK_PLATFORM := x86_64-manylinux_2_28
# torch is locked to its CPU build, which is not on PyPI: a folder holding
# torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl (here it lies in /opt/wheels).
TORCH_WHEELS ?= /opt/wheels
export TORCH_WHEELS
STAMP := $(VENV)/.revs-installed
LATEST := .venv-latest

# Refuses, before anything is built, an interpreter or platform the lock was not made for, and a
# missing torch wheel.
define CHECK_PYTHON
import glob, platform, sys
want, have = "$(LOCK_PYTHON)", "%d.%d" % sys.version_info[:2]
if have != want or sys.platform != "linux" or platform.machine() != "x86_64":
    sys.exit(f"make: requirements.lock was made for CPython {want} on x86-64 Linux, but "
             f"{sys.executable} is Python {have} on {sys.platform} {platform.machine()}: run "
             f"make PYTHON=python{want} (and remove $(VENV) if another Python made it)")
torch = next(line.split()[0] for line in open("requirements.lock") if line.startswith("torch=="))
wheel = torch.replace("==", "-")
if not glob.glob("$(TORCH_WHEELS)/" + wheel + "-*.whl"):
    sys.exit(f"make: no {wheel} wheel in $(TORCH_WHEELS): download the CPU build of {torch} "
             "from the PyTorch wheel index into a folder and run make TORCH_WHEELS=that-folder")
endef
export CHECK_PYTHON

.PHONY: venv test test-latest lint lock book lab clean reproduce

venv: $(STAMP)

# One recipe in one shell: any failure removes the half-built venv, so the next make starts clean.
# The lock itself carries uv (installed first by pip, hash-checked), which then installs the rest.
$(STAMP): requirements.lock pyproject.toml Makefile
	@$(PYTHON) -c "$$CHECK_PYTHON"
	@test ! -x $(BIN)/python || $(BIN)/python -c "$$CHECK_PYTHON"
	@set -e; trap 'echo "make: building $(VENV) failed; removed it" >&2; rm -rf $(VENV)' ERR; \
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	sed -n '/^uv==/,/# via/p' requirements.lock > $(VENV)/uv.txt; \
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r $(VENV)/uv.txt; \
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes --find-links "$(TORCH_WHEELS)" \
		requirements.lock; \
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .; \
	touch $@

# Resolve pyproject.toml's dependencies (every extra) and requirements.in's pins anew, with hashes.
lock: $(STAMP)
	$(UV) pip compile pyproject.toml requirements.in --all-extras --generate-hashes \
		--python-version $(LOCK_PYTHON) --python-platform $(LOCK_PLATFORM) \
		--find-links "$(TORCH_WHEELS)" --upgrade --quiet -o requirements.lock
	@echo "requirements.lock refreshed: run make test, then commit it"

lint: $(STAMP)
	$(BIN)/ruff check revs tests benchmarks book

# The unit and integration tests, then the notebooks in smoke mode under nbval (exceptions and
# the cells marked NBVAL_CHECK_OUTPUT fail), then the smoke book with warnings as errors.
test: $(STAMP) lint
	$(BIN)/python -m pytest
	REVS_SMOKE=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks
	$(BIN)/python book/build.py --smoke

# Tomorrow's breakage today (not part of CI): a separate venv with the newest release of every
# dependency that pyproject.toml's ranges allow (torch stays the locked CPU build: a newer one is a
# CUDA download of gigabytes), then the unit and integration tests. If they pass, `make lock`
# moves the lock forward on purpose.
test-latest: $(STAMP)
	@set -e; trap 'rm -rf $(LATEST)' ERR; \
	test -x $(LATEST)/bin/python || $(UV) venv --quiet --python $(BIN)/python $(LATEST); \
	$(UV) pip install --quiet --python $(LATEST)/bin/python --upgrade --find-links "$(TORCH_WHEELS)" \
		-r requirements.in -e ".[all]"
	@echo "versions newer than the lock:"; \
	$(UV) pip freeze --python $(LATEST)/bin/python | grep -v '^-e' | sort > $(LATEST)/freeze.txt; \
	grep -E '^[a-z0-9]' requirements.lock | cut -d' ' -f1 | sort | comm -13 - $(LATEST)/freeze.txt
	$(LATEST)/bin/python -m pytest

# Executes every notebook with its full settings (papermill; unchanged ones are skipped) and
# builds the book into _build/html.
book: $(STAMP)
	$(BIN)/python book/build.py

# The stored comparison (data/results/), recomputed: every method on the three testbeds, seeds
# 0-2. Runs go through the per-run cache (~/.cache/revs/results) and a store meant to be committed
# (data/results/runs/comparison), so an interrupted rebuild resumes where it stopped, also in a
# later session; hours on a 2-core CPU (benchmarks/bench_evaluate.py times one run).
# First every method's sweep on each dataset's validation testbed (a current stored one is kept,
# so an interrupted run resumes), then the comparison on the test testbeds.
reproduce: $(STAMP)
	$(BIN)/revs sweep --method revs ft-l memit npo-kl rmu head-projection max-entropy \
		--dataset ssn emails urls --skip-current
	$(BIN)/revs evaluate --method unedited revs ft-l memit npo-kl rmu head-projection max-entropy \
		random-neurons --dataset ssn emails urls --seeds 0 1 2 --wide \
		--store data/results/runs/comparison --out data/results/comparison-smollm2-135m.json

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf _build
