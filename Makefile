# The two commands: `make demo` (the main job on the bundled example) and `make test`.
# Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean node pythons

# Node.js (when node is on PATH): the runtime client aws-lambda-ric into fdscope's cache
# (fdscope setup node; no-op when current) and the packages of each Node example and test
# fixture with a lock file (examples/*, tests/fixtures/*: npm ci, stamped by
# node_modules/.fdscope-stamp, redone when its lock file changes).
# Without node: one line, and the Node tests skip (with CI=true they fail).
node: $(STAMP)
	@if command -v node >/dev/null 2>&1; then \
	  $(VENV)/bin/fdscope setup node || exit 1; \
	  for lock in examples/*/package-lock.json tests/fixtures/*/package-lock.json; do \
	    [ -f "$$lock" ] || continue; d=$$(dirname "$$lock"); \
	    if [ ! -f "$$d/node_modules/.fdscope-stamp" ] || [ "$$lock" -nt "$$d/node_modules/.fdscope-stamp" ]; then \
	      echo "npm ci in $$d"; \
	      (cd "$$d" && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	      mkdir -p "$$d/node_modules" && touch "$$d/node_modules/.fdscope-stamp"; \
	    fi; \
	  done; \
	else echo "node not found: the Node.js runtime tests and demo are skipped"; fi

# Every Lambda Python (3.10-3.13) this machine has (PATH, pyenv, uv): a venv each under
# .venv/pythons/3.X with the real awslambdaric (stamped; redone when it changes), for
# tests/versions. A missing version is one line here and a failing test with CI=true.
pythons: $(STAMP)
	$(PY) tests/versions/pythons.py

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP) node
	$(PY) examples/demo.py

test: $(STAMP) node pythons
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(PY) -m pytest -q -n 2 --dist loadgroup

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples

bench: $(STAMP)
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist src/*.egg-info
