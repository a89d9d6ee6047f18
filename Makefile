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

DOCS_STAMP := $(VENV)/.docs-installed-stamp
# Sphinx processes; the tutorials of the gallery run one after the other in any case
DOCS_JOBS ?= 2

.PHONY: demo test test-slow lint bench clean docs docs-check docs-clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	# bench: the peers that benchmark tests compare against (mne, neural-decoding, pynapple, …)
	$(PY) -m pip install -q -e '.[dev,bench]'
	# torchattacks is a test-only peer; its torchvision requirement would replace torch.
	$(PY) -m pip install -q --no-deps torchattacks==3.5.1
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spikedecode demo

# `test`: lint, the tests not marked slow, the doctests. `test-slow`: only the slow tests
# (CI runs both, see .ci/run).
test: $(STAMP)
	$(VENV)/bin/ruff check conftest.py spikedecode tests benchmarks tutorials docs
	$(VENV)/bin/mypy
	OMP_NUM_THREADS=$(OMP_NUM_THREADS) SPIKEDECODE_NUM_THREADS=1 MPLBACKEND=Agg $(PY) -m pytest -n 2 --dist loadfile -q -m "not slow"

# exit code 5 = no test carries the marker: nothing to run is not a failure
test-slow: $(STAMP)
	OMP_NUM_THREADS=$(OMP_NUM_THREADS) SPIKEDECODE_NUM_THREADS=1 MPLBACKEND=Agg $(PY) -m pytest -n 2 --dist loadfile -q -m slow \
		|| [ $$? -eq 5 ]

lint: $(STAMP)
	$(VENV)/bin/ruff check conftest.py spikedecode tests benchmarks tutorials docs

# `docs`: the site in docs/_build/html, warnings as errors, offline (docs/conf.py).
# `docs-check`: headless Chromium opens it (docs/check_site.py); screenshots in
# docs/_build/screenshots. CI runs both after the tests (see .ci/run).
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	OMP_NUM_THREADS=1 MPLBACKEND=Agg $(PY) -m sphinx -b html -W --keep-going -j $(DOCS_JOBS) \
		docs docs/_build/html

docs-check: $(DOCS_STAMP)
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -q chromium chromium-driver \
				|| { apt-get update -q && apt-get install -y -q chromium chromium-driver; }; \
		else \
			echo "docs-check needs Debian's chromium and chromium-driver:" \
				"sudo apt-get install -y chromium chromium-driver" >&2; exit 1; \
		fi; \
	fi
	@test -f docs/_build/html/index.html || { echo "no site: run 'make docs' first" >&2; exit 1; }
	$(PY) docs/check_site.py docs/_build/html docs/_build/screenshots

docs-clean:
	rm -rf docs/_build docs/api docs/tutorials docs/_gallery_src docs/sg_execution_times.rst

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
