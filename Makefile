# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Tools that pull in `rich` live apart: httpx imports its own CLI (and so rich) when rich is
# installed, which would slow every cold start we measure to ~30 ms beyond what users get.
TOOLS       := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
MUTATION    := .venv-mutation
MUT_STAMP   := $(MUTATION)/.installed
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: test demo lint typecheck unit bench mutation clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "exportdsl needs Python >= 3.11 (found: $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python $(PIP_INSTALL) -e '.[dev]'
	touch $(STAMP)

# import-linter reads the source; it needs none of the project's dependencies.
$(TOOLS_STAMP): pyproject.toml constraints.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python $(PIP_INSTALL) 'import-linter>=2.1'
	touch $(TOOLS_STAMP)

$(MUT_STAMP): pyproject.toml constraints.txt
	test -x $(MUTATION)/bin/python || $(PYTHON) -m venv $(MUTATION)
	$(MUTATION)/bin/python $(PIP_INSTALL) -e '.[dev,mutation]'
	touch $(MUT_STAMP)

test: lint typecheck unit

lint: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/ruff check exportdsl tests bench
	$(BIN)/ruff format --check exportdsl tests bench
	PYTHONPATH=$(CURDIR) $(TOOLS)/bin/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy --strict

unit: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/pytest

# A real export of the bundled sample chat to a receiver on 127.0.0.1, then the example connectors' check.
demo: $(STAMP)
	$(BIN)/exportdsl demo
	$(BIN)/exportdsl check connectors

# Mutation testing of the security core (escaping, placement, values); not part of `make test`.
# Fresh each time (mutmut reuses old verdicts when only the tests changed); ~2 minutes.
mutation: $(MUT_STAMP)
	rm -rf mutants
	$(MUTATION)/bin/mutmut run > mutants.log 2>&1 || { tail -c 3000 mutants.log; exit 1; }
	$(MUTATION)/bin/python tests/mutation_report.py

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) $(MUTATION) .mypy_cache .pytest_cache .ruff_cache .hypothesis build dist \
		mutants mutants.log
