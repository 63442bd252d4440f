# exporter — the two commands: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= demo-out

.PHONY: demo test lint format bench clean distclean install

install: $(STAMP)

# (Re)build the virtualenv only when pyproject.toml changed.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m exporter.demo --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check exporter tests bench
	$(BIN)/ruff format --check exporter tests bench

format: $(STAMP)
	$(BIN)/ruff format exporter tests bench
	$(BIN)/ruff check --fix exporter tests bench

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)
