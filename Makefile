# Canvas: `make run` serves on the embedded defaults, `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test demo bench soak clean clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/canvas serve

test: $(STAMP)
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-$(if $(CI),ci,dev)} $(BIN)/python -m pytest -q 

demo: $(STAMP)
	$(BIN)/canvas demo

bench: $(STAMP)
	$(BIN)/python tests/bench/bench_market.py

# 30 simulated days of 50 live series against a real server (about 40 minutes here).
soak: $(STAMP)
	$(BIN)/python tests/bench/bench_soak.py

# Removes the virtual environment and build leftovers; never the ledgers in data/.
clean:
	rm -rf $(VENV) build dist *.egg-info

# Deletes data/: every stored candle, factor and replay package of a local `make run`/`make demo`.
clean-data:
	@echo "deleting data/ (all local ledgers)"
	rm -rf data
