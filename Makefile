# QMS Trail — the two commands: `make run` (the whole pipeline with the demo province)
# and `make test` (everything CI checks). Both set up what they need.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv run up test test-unit test-integration test-e2e lint format schemas lock k8s kafka-start kafka-stop bench clean

help:
	@echo "make run               start Kafka, intake, CAPA, metrics and the demo; print the summary; stop"
	@echo "make up                the same, but keep everything running until Ctrl-C"
	@echo "make test              venv, local Kafka, ruff, mypy, import contracts, every test"
	@echo "make test-unit | test-integration | test-e2e   one layer (unit needs no broker)"
	@echo "make lint | format | schemas | lock | k8s | bench | kafka-start | kafka-stop | clean"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/qms run

up: venv
	$(BIN)/qms run --keep-running

test: venv
	bash scripts/test.sh

test-unit: venv
	$(BIN)/pytest -m unit

test-integration: venv
	bash scripts/test.sh --layer integration

test-e2e: venv
	bash scripts/test.sh --layer e2e

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schemas: venv
	$(BIN)/qms schemas generate

# The image's pinned, hashed dependencies (requirements.lock) and the generated Kafka
# resources of deploy/k8s, after a change to pyproject.toml, topics.yaml or an overlay.
lock: venv
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
		--python-platform linux -o requirements.lock

k8s: venv
	$(BIN)/python deploy/k8s/build_kafka.py

kafka-start: venv
	bash deploy/kafka/kafka.sh start

kafka-stop:
	bash deploy/kafka/kafka.sh stop

bench: venv
	bash scripts/with-kafka.sh $(BIN)/python bench/intake.py
	bash scripts/with-kafka.sh $(BIN)/python bench/metrics.py

clean:
	-bash deploy/kafka/kafka.sh stop
	rm -rf var .mypy_cache .ruff_cache .pytest_cache
