# Quick start:  make demo   (set up, then train a small text generator and print its text)
#               make test   (set up with the test extras, then lint and run the test suite)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.apps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[apps,fast]'
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[apps,fast,test]'
	touch $@

demo: $(VENV)/.apps
	$(BIN)/rnnkit demo

test: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(VENV)/.test
	$(BIN)/ruff check .

bench: $(VENV)/.test
	$(BIN)/python bench/speed.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
