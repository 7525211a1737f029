# MedTower: `make run` serves the demo control tower, `make test` runs the tests (`make test-spark` the Spark build).
# Sign-in: no default password. The first `make run` (medtower demo) creates the user `admin` with a random
# one-time password printed in the terminal, changed at the first sign-in; `medtower users reset admin` makes
# a new one.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export MEDTOWER_DATA_DIR ?= data
DEMO_DIR  ?= $(MEDTOWER_DATA_DIR)/demo-feed
DEMO_SCALE ?= 1
# `make bench` measures issue 10's figures at these scales (BENCH_SCALE=100 for a plant's year; ~1 hour)
BENCH_SCALE ?= 1 10
# make test runs the suite in this many pytest-xdist processes, each folder of tests in one (2: faster, more load)
TEST_WORKERS ?= 1

.PHONY: install run demo pipeline serve test test-spark lint bench clean

$(BIN)/medtower: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "MedTower needs Python >= 3.11; this is " + sys.version.split()[0])'
	@$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian/Ubuntu run 'sudo apt-get install python3-venv' and retry"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/medtower

# --ports: purchase orders, recent ASNs / invoices, lot consumption and scans come through the source
# connectors (ERP SQLite, EDI X12, EPCIS, scanner log in $(DEMO_DIR)/_ports), pulled by medtower run
demo: install
	$(BIN)/medtower demo --out $(DEMO_DIR) --scale $(DEMO_SCALE) --ports

pipeline serve: export MEDTOWER_SOURCES ?= $(DEMO_DIR)/_ports/sources.yaml
pipeline: demo
	$(BIN)/medtower run $(DEMO_DIR)

# waitress on MEDTOWER_HOST:MEDTOWER_PORT (127.0.0.1:8050); every page asks for a signed-in user
serve: install
	$(BIN)/medtower serve

run: pipeline serve

test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=30

# dbt build --target spark in a local Spark session, marts and KPIs compared with DuckDB's (5-10 min)
test-spark: install
	$(BIN)/python -m pytest -m spark tests/dbt/test_spark_build.py

# ruff, mypy, and the import layers (settings/warehouse < ingest | alerts | dashboards < pipeline/scheduler/cli).
lint: install
	$(BIN)/ruff check medtower ingest alerts dashboards tests app.py
	$(BIN)/ruff format --check medtower ingest alerts dashboards tests app.py
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/core/test_import_layers.py

bench: install
	$(BIN)/python tests/benchmarks/bench_demo.py
	$(BIN)/python tests/benchmarks/bench_ingest.py 1000000
	$(BIN)/python tests/benchmarks/bench_connectors.py
	$(BIN)/python tests/benchmarks/bench_incremental.py
	$(BIN)/python tests/benchmarks/bench_publish.py
	$(BIN)/python tests/benchmarks/bench_alerts.py
	$(BIN)/python tests/benchmarks/bench_pages.py
	$(BIN)/python tests/benchmarks/bench_scale.py --scale $(BENCH_SCALE)

clean:
	rm -rf $(MEDTOWER_DATA_DIR)/build $(MEDTOWER_DATA_DIR)/dbt dbt_project/target dbt_project/logs
