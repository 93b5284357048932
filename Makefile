# The two commands of the README: `make demo` and `make test`. Everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-spark prerequisites demo test test-spark test-times lint format lock bench bench-reader bench-ingest bench-dbt bench-datasette bench-hourly clean

install: $(BIN)/twap

# uv installs the lock in seconds; where it cannot be installed, pip installs the same lock, slower.
# Both compile the bytecode at install: where PYTHONDONTWRITEBYTECODE is set, every `twap` process
# would otherwise compile ~1,200 modules (1.4 s of a 2.8 s run with nothing new).
UV_PIN := $(shell grep -m1 '^uv==' requirements.lock)
QUIET_PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

$(BIN)/twap: pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if $(QUIET_PIP) $(UV_PIN) 2>/dev/null \
		&& $(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock \
		&& $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .; then \
		echo "installed requirements.lock into $(VENV) with $(UV_PIN)"; \
	else \
		echo "uv unavailable: installing requirements.lock with pip (about a minute)"; \
		$(QUIET_PIP) -r requirements.lock && $(QUIET_PIP) --no-deps -e .; \
	fi
	@touch $@

# The Spark extra (dbt-spark, pyspark; Java 17 from the system) for `--warehouse spark` and its
# test: requirements-spark.lock into the same venv, on top of requirements.lock.
SPARK_STAMP := $(VENV)/.spark-installed

install-spark: $(SPARK_STAMP)

$(SPARK_STAMP): $(BIN)/twap requirements-spark.lock
	@if $(BIN)/uv --version >/dev/null 2>&1; then \
		$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -r requirements-spark.lock; \
	else \
		$(QUIET_PIP) --no-deps -r requirements-spark.lock; \
	fi
	@echo "installed requirements-spark.lock into $(VENV)"
	@touch $@

# `make demo PORT=8002` serves on another port.
PORT ?= 8001
demo: install
	$(BIN)/twap demo --port $(PORT)

# The system programs the tests drive (Chromium, faketime, promtool, Java, lz4: Debian packages,
# tests/prerequisites.py): apt-get installs the missing ones as root or through passwordless sudo;
# else their tests are skipped with one line saying what to install (under CI=true they fail).
prerequisites:
	@$(PYTHON) -m tests.prerequisites

# One worker per core, each given the next test (longest files first: conftest.py) when it is
# free: --maxschedchunk 1, else xdist hands each worker a quarter of its share up front, and one
# gets all the fault tests. Not one file a worker (--dist loadfile) for the same reason.
# Times per test land in target/junit-*.xml.
PYTEST := $(BIN)/pytest --numprocesses auto --dist load --maxschedchunk 1

# Everything but the Spark suites, which `make test-spark` runs (with the Spark extra).
# Where PYTHONDONTWRITEBYTECODE is set (as here), each of the suite's ~250 `twap` processes would
# compile the project's own modules again: compiled once first (only what changed since).
test: install prerequisites lint
	$(BIN)/python -m compileall -q twap dlt_pipelines
	$(PYTEST) -m "not spark" --junitxml=target/junit-test.xml

test-spark: install install-spark prerequisites
	$(PYTEST) -m spark --junitxml=target/junit-test-spark.xml

# Seconds per test file of the last `make test` and `make test-spark` (or of JUNIT=path.xml).
JUNIT ?= target/junit-test.xml $(wildcard target/junit-test-spark.xml)

test-times:
	@$(PYTHON) -m tests.junit_times $(JUNIT)

# sqlfluff's dbt templater compiles the models, and is_incremental() asks the database: it gets
# TWAP_DATABASE_URL's, or an embedded server of its own under target/ (stopped afterwards).
LINT_HOME := target/sqlfluff

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	mkdir -p $(LINT_HOME)
	cp profiles.yml.example $(LINT_HOME)/profiles.yml
	$(BIN)/twap --home $(LINT_HOME) env > $(LINT_HOME)/env.sh
	. ./$(LINT_HOME)/env.sh && DBT_PROFILES_DIR=$(LINT_HOME) $(BIN)/sqlfluff lint models dbt_project; \
	status=$$?; $(BIN)/twap --home $(LINT_HOME) stop; exit $$status

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Speed figures as side-by-side ratios (several minutes each): benchmarks/README.md.
bench: bench-reader bench-ingest bench-dbt bench-datasette bench-hourly

bench-reader: install
	$(BIN)/python -m benchmarks.bench_reader

bench-ingest: install
	$(BIN)/python -m benchmarks.bench_ingest

bench-dbt: install
	$(BIN)/python -m benchmarks.bench_dbt

bench-hourly: install
	$(BIN)/python -m benchmarks.bench_hourly

bench-datasette: install
	$(BIN)/python -m benchmarks.bench_datasette

# Re-lock after changing pyproject.toml: keeps the two header lines, pins everything installed
# but the Spark extra (requirements-spark.lock).
lock: install
	{ head -n 2 requirements.lock; $(BIN)/python -m pip freeze --exclude-editable \
		| grep -v -x -F -f requirements-spark.lock; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf .twap target logs .pytest_cache .ruff_cache

# The fills reader against `lz4 -dc | grep`, and the hourly run's added cost (benchmarks/README.md).
.PHONY: bench-fills
bench: bench-fills
bench-fills: install
	$(BIN)/python -m benchmarks.bench_fills
