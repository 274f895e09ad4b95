# Tasker for Django. `make run` and `make test` need only python3 (3.11+).
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.requirements-installed

.PHONY: run test lint format venv migrate sync seed clean bench

$(STAMP): requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

migrate: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable

sync: migrate
	$(PY) manage.py sync_workflows

seed: sync
	$(PY) manage.py seed_demo

## Migrate, sync workflows, seed demo data, then run web + worker + beat.
run: seed
	bin/run-dev

## The whole test suite (SQLite + filesystem broker unless DATABASE_URL and
## CELERY_BROKER_URL point elsewhere), with real Celery worker processes.
test: venv
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## Style, the import layers (.importlinter) and types (mypy, pyproject.toml).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var

## Benchmarks against raw Celery (PostgreSQL + Redis); writes docs/benchmarks.md.
bench: venv
	$(PY) -m bench.run
