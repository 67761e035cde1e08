# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
OUT    ?= demo-out

.PHONY: install demo test clean

$(VENV)/.installed: pyproject.toml constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	# torch first, from the CPU constraints, so nothing pulls CUDA wheels; DeepSpeed builds
	# from source and imports torch while building, hence --no-build-isolation.
	$(PIP) install -q -c constraints-cpu.txt torch
	$(PIP) install -q --no-build-isolation -c constraints-cpu.txt -e '.[all]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m trainer demo --out $(OUT)

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(OUT)
