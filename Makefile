# Two commands on a fresh machine: `make run` and `make test`.
# The interpreter: PYTHON=... overrides; otherwise the first of python3.13, python3.12, python3
# that runs and is >= 3.12, then pyenv's installed 3.12+/3.13+ interpreters.
SHELL := /bin/bash
VENV := .venv
VPY := $(VENV)/bin/python
CONSTRAINTS := constraints.txt

define find_python
for c in "$(PYTHON)" python3.13 python3.12 python3 \
         $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python 2>/dev/null | sort -rV); do \
  [ -n "$$c" ] || continue; \
  if "$$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then \
    command -v "$$c" 2>/dev/null || echo "$$c"; exit 0; fi; \
done; exit 1
endef
export find_python


.PHONY: run test bench bench-full lint format clean calibrate golden docs

$(VENV)/.created:
	@py=$$(bash -c "$$find_python") || { \
	  echo "error: need Python >= 3.12 (arviz 1.x and jax 0.12 require it)."; \
	  echo "Install one (e.g. 'pyenv install 3.12' or your OS package python3.12) or pass PYTHON=/path/to/python3.12"; \
	  exit 1; }; \
	echo "using $$py ($$($$py --version))"; \
	"$$py" -m venv $(VENV) && touch $@

$(VENV)/.installed: $(VENV)/.created pyproject.toml $(CONSTRAINTS)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(VPY) -m pip install -q -c $(CONSTRAINTS) -e ".[dev]"
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/jp2040

test: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VPY) -m pytest -q

# CPU benchmarks at 1e5 and 1e6 paths (a few minutes); bench-full adds 1e7 (about half an hour here)
$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(VPY) -m pip install -q -c $(CONSTRAINTS) -e ".[dev,bench]"
	touch $@

bench: $(VENV)/.installed-bench
	$(VPY) bench/distributions.py
	$(VPY) bench/engine.py --quick

bench-full: $(VENV)/.installed-bench
	$(VPY) bench/distributions.py
	$(VPY) bench/engine.py

calibrate: $(VENV)/.installed
	$(VENV)/bin/jp2040 mode=calibrate

# Regenerate docs/model.md, docs/calibration.csv and the README's calibration table from a
# 40k-path calibration run (seed 1). The documents are written either way; the target fails
# (exit status of `jp2040 mode=calibrate`) when a calibration check fails.
docs: $(VENV)/.installed
	rm -rf outputs/docs-calibration
	status=0; $(VENV)/bin/jp2040 mode=calibrate engine.n_paths=40000 engine.seed=1 \
	  hydra.run.dir=outputs/docs-calibration || status=$$?; \
	test -f outputs/docs-calibration/calibration.csv || exit 1; \
	cp outputs/docs-calibration/calibration.csv docs/calibration.csv && \
	$(VPY) -m jp2040.docs && exit $$status

golden: $(VENV)/.installed-dev
	$(VPY) -m tests.golden --write

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
