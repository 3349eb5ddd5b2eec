# The two set-up commands: `make demo` and `make test`. Both create and reuse .venv/.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/shipyard demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/model_load.py
	$(BIN)/python bench/server.py
	$(BIN)/python bench/batch_scoring.py
	$(BIN)/python bench/serving/run.py
	$(BIN)/python bench/monitoring.py
	$(BIN)/python bench/features.py
	$(BIN)/python bench/ui.py

clean:
	rm -rf $(VENV) .shipyard .pytest_cache .mypy_cache .ruff_cache
