# exporter — the two commands: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= demo-out

.PHONY: demo test test-fast lint format bench corpus clean distclean install

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

# What to run while working: everything but the TensorFlow-heavy, corpus and subprocess batteries.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check exporter tests bench
	$(BIN)/ruff format --check exporter tests bench
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format exporter tests bench
	$(BIN)/ruff check --fix exporter tests bench

# Whole corpora (every keras.applications constructor, every scikit-learn estimator): pass tables.
corpus: $(STAMP)
	$(BIN)/python bench/sklearn_convert_corpus.py
	test ! -f bench/keras_corpus.py || $(BIN)/python bench/keras_corpus.py

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run.py

# ---------------------------------------------------------------- pipeline pattern rules
# make weights/NAME.npz (.json .csv .safetensors .onnx) from models/NAME.keras|.h5|.skops.
# Rebuilt only when the model changed; safe under make -j (each output is written to its own
# temporary name and renamed into place). Override the folders: make MODELS_DIR=m WEIGHTS_DIR=w ...
MODELS_DIR   ?= models
WEIGHTS_DIR  ?= weights
EXPORTER     ?= $(BIN)/exporter
EXPORTER_DEP ?= $(STAMP)
EXPORT_FLAGS ?= --quiet

define export_rule
$(WEIGHTS_DIR)/%.$(2): $(MODELS_DIR)/%.$(1) | $(EXPORTER_DEP)
	@mkdir -p $$(@D)
	$(EXPORTER) $(EXPORT_FLAGS) export $$< -o $$@ --format $(2) --force
endef
define convert_rule
$(WEIGHTS_DIR)/%.onnx: $(MODELS_DIR)/%.$(1) | $(EXPORTER_DEP)
	@mkdir -p $$(@D)
	$(EXPORTER) $(EXPORT_FLAGS) convert $$< -o $$@ --force
endef
$(foreach model,keras h5 skops,\
  $(foreach format,npz json csv safetensors,$(eval $(call export_rule,$(model),$(format))))\
  $(eval $(call convert_rule,$(model))))

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)
