# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo lint typecheck unit bench mutation clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "exportdsl needs Python >= 3.11 (found: $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check exportdsl tests bench
	$(BIN)/ruff format --check exportdsl tests bench
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy --strict

unit: $(STAMP)
	$(BIN)/pytest

# A real export of the bundled sample chat to a receiver on 127.0.0.1, then the example connectors' check.
demo: $(STAMP)
	$(BIN)/exportdsl demo
	$(BIN)/exportdsl check connectors

# Mutation testing of the security core (escaping, placement, values); not part of `make test`.
# Fresh each time (mutmut reuses old verdicts when only the tests changed); ~2 minutes.
mutation: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run > mutants.log 2>&1 || { tail -c 3000 mutants.log; exit 1; }
	$(BIN)/python tests/mutation_report.py

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis build dist mutants mutants.log
