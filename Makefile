# Two entry points: `make demo` and `make test` (`make test-slow` runs the slow tests).
# Each creates .venv and installs what it needs.
# torch is pinned to the local CPU build first: a plain `torch` requirement would pull a
# multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# threads per test worker (two workers on two cores); `OMP_NUM_THREADS=2 make test` overrides
OMP_NUM_THREADS ?= 1

.PHONY: demo test test-slow lint bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# torchattacks is a test-only peer; its torchvision requirement would replace torch.
	$(PY) -m pip install -q --no-deps torchattacks==3.5.1
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spikedecode demo

# `test`: lint, the tests not marked slow, the doctests. `test-slow`: only the slow tests
# (CI runs both, see .ci/run).
test: $(STAMP)
	$(VENV)/bin/ruff check spikedecode tests benchmarks tutorials
	$(VENV)/bin/mypy
	OMP_NUM_THREADS=$(OMP_NUM_THREADS) MPLBACKEND=Agg $(PY) -m pytest -n 2 --dist loadfile -q -m "not slow"

# exit code 5 = no test carries the marker: nothing to run is not a failure
test-slow: $(STAMP)
	OMP_NUM_THREADS=$(OMP_NUM_THREADS) MPLBACKEND=Agg $(PY) -m pytest -n 2 --dist loadfile -q -m slow \
		|| [ $$? -eq 5 ]

lint: $(STAMP)
	$(VENV)/bin/ruff check spikedecode tests benchmarks tutorials

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
