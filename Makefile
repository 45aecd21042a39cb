# Workflows: one command per job. `make help` lists them.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: kafka chaos chaos-short multihost dashboard-assets help install test test-unit test-integration test-cluster test-e2e lint format contracts demo bench bench-quick clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml workflows/testing/kafka_dist/pom.xml examples/workers/node/package-lock.json services/trigger/editor-src/package-lock.json examples/workers/go/go.sum examples/workers/java/pom.xml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	if command -v npm >/dev/null; then npm ci --prefix examples/workers/node --no-audit --no-fund; fi
	if command -v npm >/dev/null; then npm ci --prefix services/trigger/editor-src --no-audit --no-fund; fi
	if command -v go >/dev/null; then go -C examples/workers/go mod download; fi  # the Go worker's modules
	if command -v mvn >/dev/null; then mvn -q -B -f examples/workers/java/pom.xml package -DskipTests; fi  # the Java worker's jar
	$(PY) -m workflows.testing.apache_kafka fetch  # Apache Kafka's jars into ~/.cache/workflows (once)
	if command -v go >/dev/null && command -v mvn >/dev/null; then $(PY) -m tests.support.trace_backends; fi  # the trace tests' Jaeger, OTLP-to-Zipkin bridge (Go builds, minutes) and Zipkin jar, once: a test's 120 s timeout cannot build them
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev extras (idempotent)

dashboard-assets: ## rebuild the dashboard editor's bundle (CodeMirror 6, committed) from services/trigger/editor-src
	npm ci --prefix services/trigger/editor-src --no-audit --no-fund
	npm run --prefix services/trigger/editor-src build

test: $(STAMP) ## the whole suite: unit, integration (real Apache Kafka + Redis) and end-to-end
	$(PY) -m pytest tests -q

test-unit: $(STAMP) ## fast tests, no broker
	$(PY) -m pytest tests/unit -q

test-integration: $(STAMP) ## against the real broker and Redis
	$(PY) -m pytest tests/integration -q

test-cluster: $(STAMP) ## the integration suite against a local Redis Cluster (3 masters + 3 replicas)
	WORKFLOWS_TEST_REDIS=cluster $(PY) -m pytest tests/integration -q

test-e2e: $(STAMP) ## services as separate OS processes
	$(PY) -m pytest tests/e2e -q

lint: $(STAMP) ## ruff (lint + format check) and mypy strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

contracts: $(STAMP) ## regenerate contracts/schemas, contracts/asyncapi.yaml and contracts/golden from the models
	$(PY) -m workflows.contracts.generate

demo: $(STAMP) ## run the seed workflow end to end on an embedded broker
	$(PY) -m workflows.demo

chaos: $(STAMP) ## chaos suite: 500 executions under kill -9, a Redis and a broker restart (tests/chaos/README.md)
	$(PY) -m tests.chaos.run

chaos-short: $(STAMP) ## the CI form of the chaos suite (~1-2 min; also part of make test)
	$(PY) -m tests.chaos.run --short

multihost: $(STAMP) ## services on 9 hosts (network namespaces, needs root): cut one off, kill another (docs/scaling.md)
	$(PY) -m tests.multihost.run

bench: $(STAMP) ## benchmarks (bench/README.md)
	$(PY) -m bench

bench-quick: $(STAMP) ## the short form of the benchmarks (CI runs it)
	$(PY) -m bench --quick

kafka: $(STAMP) ## run one Apache Kafka broker on 127.0.0.1:9092 in the foreground
	$(PY) -m workflows.testing.apache_kafka run 9092

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
