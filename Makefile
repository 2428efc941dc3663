# Usage:
#   make demo    # set up .venv (+ Debian TTS packages when missing), then prepare, train, evaluate, transcribe
#   make test    # same set-up, then the import layers (lint-imports) and the test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test setup sysdeps clean

demo: setup
	$(BIN)/asr demo --out exp/demo

test: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

setup: sysdeps $(STAMP)

# Re-installs only when pyproject.toml changes; the editable install picks up code changes by itself.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

sysdeps:
	@bash tools/install_system_deps.sh

clean:
	rm -rf $(VENV) exp
