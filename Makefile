# haven: `make demo` and `make test` work on a fresh Debian machine with Python 3.11.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: demo test bench sysdeps clean

sysdeps:
	@PY=$(PY) scripts/sysdeps.sh

$(BIN)/python: | sysdeps
	$(PY) -m venv $(VENV)
	$(PIP) install --upgrade pip wheel setuptools

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/haven demo --out demo-out

test: $(VENV)/.installed-test
	@for s in scripts/test-deps.sh scripts/victimid-deps.sh scripts/browser-deps.sh scripts/spark-deps.sh; do [ ! -x $$s ] || $$s; done
	$(BIN)/pytest -q

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) demo-out bench/out
