# reelflow: `make demo` and `make test` install what they need (uv included) and run.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
RUN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: demo test test-fast test-stack bench lint sync sample up clean prefect-yaml

demo: sync
	$(RUN)/reelflow process tests/data/sample.mp4 --out demo-output

# Three test processes on two cores, one file each at a time: the stack tests spend much of
# their time waiting (a server starting, a worker's heartbeats running out), and a third process
# works while they wait. Measured on 2 cores: 853 s with three against 956 s with two (CPU busy
# 171% against 156%); an hour later, on a slower host, 1069 s against 1054 s. Four were worse
# (1031 s). Files go out in collection order, the stack tests (a few long tests per file)
# first: xdist's default hands out the files with most tests first, which left the longest
# single-test files running alone at the end.
# A test process that crashes ends the run, reported as a failure: xdist replacing it under
# loadfile can hang for ever (pytest-xdist#784), which is how CI once ran out its 90 minutes.
TEST_PROCESSES ?= 3
XDIST := -n $(TEST_PROCESSES) --dist loadfile --no-loadscope-reorder --max-worker-restart=0

test: sync
	$(RUN)/pytest -q -ra --durations=15 $(XDIST)

# Unit tests without the slow end-to-end runs: a few minutes.
test-fast: sync
	$(RUN)/pytest -q -ra -m "not slow" $(XDIST) tests/unit

# The service as a whole: Prefect server, worker and API started on free ports of 127.0.0.1.
test-stack: sync
	$(RUN)/pytest -q -ra --durations=10 tests/stack

# prefect.yaml is generated from deployments/definitions.py (a unit test checks they agree).
prefect-yaml: sync
	$(RUN)/python -m deployments.definitions > prefect.yaml

bench: sync
	$(RUN)/python scripts/bench.py
	$(RUN)/python scripts/bench_length.py
	$(RUN)/python scripts/bench_api.py
	$(RUN)/python scripts/bench_reframe.py
	$(RUN)/python scripts/bench_languages.py

# Prefect server (UI on :4200) + worker + API on :8000; Ctrl-C or SIGTERM stops them all.
# REELFLOW_DB=postgres: the Prefect server on a PostgreSQL cluster in data/postgres.
up: sync
	$(RUN)/python -m deployments.stack

lint: sync
	$(RUN)/ruff check . && $(RUN)/ruff format --check .

sample: sync
	$(RUN)/python scripts/make_sample_video.py

sync: $(VENV)/.synced $(VENV)/.db-template

# Bytecode compiled at install: every command then starts without compiling ~1,300 modules
# (seconds per command where .pyc files cannot be written, e.g. PYTHONDONTWRITEBYTECODE=1).
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

# Also once per install: the Prefect database a new local server starts from (migrated, blocks
# registered; kept in ~/.cache/reelflow/prefect-db). A command's first server in a fresh Prefect
# home then skips Prefect's migrations (reelflow/prefect_db.py). Its own stamp: a checkout
# synced before this step existed gets it too.
$(VENV)/.db-template: $(VENV)/.synced
	$(RUN)/python -m reelflow.prefect_db
	@touch $@

# No uv on PATH: install it from PyPI into a private folder, no root needed.
.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

clean:
	rm -rf demo-output .pytest_cache
