# The two commands a new user needs (README "Set up"); both are idempotent.
.PHONY: setup demo test bench lint docs

VENV ?= .venv
QUESTION ?= ¿Qué porcentaje de los tokens enmascara BERT durante el preentrenamiento?

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/promptkit ask "$(QUESTION)"

test: setup
	$(VENV)/bin/python -m pytest -q

bench: setup
	$(VENV)/bin/python bench/run_all.py

lint: setup
	$(VENV)/bin/ruff check promptkit tests bench scripts

docs: setup
	$(VENV)/bin/mkdocs build --strict
