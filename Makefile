# Two commands matter: `make run` (the demo dashboard) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export METERBOARD_MODE ?= dev

.PHONY: run test install lint bench worker screenshots
BENCH_ROWS ?= 10000000

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# The FOCUS validator (test-only) in an environment of its own: its pins (pandas < 3,
# numpy < 2) would otherwise downgrade the project's.
FOCUS_VENV := .venv-focus
# pandera 0.17 (its pin) imports multimethod.overload, which multimethod 2 removed.
FOCUS_VALIDATOR := focus-validator==1.0.0 "multimethod<2"

$(FOCUS_VENV)/.installed:
	test -x $(FOCUS_VENV)/bin/python || $(PYTHON) -m venv $(FOCUS_VENV)
	$(FOCUS_VENV)/bin/python -m pip install --quiet $(FOCUS_VALIDATOR)
	touch $@

install: $(VENV)/.installed

run: install
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py runserver 127.0.0.1:8000

test: install $(FOCUS_VENV)/.installed
	$(BIN)/ruff check --quiet .
	$(BIN)/ruff format --check --quiet .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

worker: install
	$(BIN)/celery -A console worker --beat --loglevel=info

# Needs PostgreSQL and Redis (BENCH_DATABASE_URL, BENCH_BROKER_URL; defaults on localhost).
bench: install
	$(BIN)/python -m bench.run --rows $(BENCH_ROWS)

# The README's pictures (docs/screenshots/): the demo in a throwaway SQLite database, the
# dev server, Chromium at 1280 and 390 px, light and dark. Not part of `make test`.
screenshots: install
	$(BIN)/python docs/screenshots.py
