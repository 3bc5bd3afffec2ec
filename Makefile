# symlie developer commands. Everything runs inside a local virtualenv (.venv) that `make venv` creates.
# Needs only Python 3.11 (or newer) and make: `make test` and `make demo` install everything else themselves.
PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := torch,sindy,sklearn,units,dask,bench,dev
# Extra pip options, e.g. PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu" for a CPU-only torch.
PIP_ARGS ?=

.PHONY: venv test demo bench lint clean

venv: $(STAMP)

# Re-installs only when pyproject.toml changes (the install is editable, so source edits need nothing).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
		echo "error: '$(PYTHON) -m venv' failed; install Python 3.11 with venv support or run make PYTHON=..."; \
		rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_ARGS) -e ".[$(EXTRAS)]"
	touch $(STAMP)

# pytest exits with 5 when it collects no tests; that is not a failure.
test: venv
	$(BIN)/python -m pytest; status=$$?; if [ $$status -eq 5 ]; then status=0; fi; exit $$status

# One BLAS thread: the demo's solves are many small factorisations, which multi-threaded OpenBLAS slows down
# badly on a busy machine (the benchmarks pin one thread for the same reason).
demo: venv
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/symlie demo

bench: venv
	$(BIN)/symlie bench enforce --out benchmarks/enforce.json

lint: venv
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis
