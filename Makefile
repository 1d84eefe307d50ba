# `make run` and `make test` install what they need first (venv, Python packages, Debian packages).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEBS    := sip-tester baresip espeak-ng libspandsp2 sox kamailio ghostscript
SIP     ?= 127.0.0.1:5060
HTTP    ?= 127.0.0.1:8080
DATA    ?= ./data

.PHONY: install debs run test bench lint clean

install: debs $(STAMP)

# apt-get only when a package is missing, so a warm `make install` takes well under a second.
debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  systemctl disable --now kamailio >/dev/null 2>&1 || true; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

run: install
	$(BIN)/telephony serve --sip $(SIP) --http $(HTTP) --data $(DATA)

# the layers are part of the tests: a violation fails `make test`, and so CI.
# Most tests wait on peers and timers, not the CPU: files run on TEST_WORKERS workers (a file's
# tests stay together, in order, on one worker, so module fixtures start once).
TEST_WORKERS ?= 4
test: install lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The bench also needs Kamailio and wrk (Debian) and pyVoIP (the `bench` extra); the venv's
# own packages come from `install`. BENCH_ARGS: e.g. --quick, --only a,c, --no-refs.
BENCH_DEBS := kamailio wrk
bench: install
	@missing=""; for p in $(BENCH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  systemctl disable --now kamailio >/dev/null 2>&1 || true; \
	fi
	@# the bench starts its own Kamailio on a free port; the packaged service would hold 5060
	@$(BIN)/python -c 'import pyVoIP, httpx' 2>/dev/null || $(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# ruff (pyflakes, blocking calls in coroutines) and the import contracts in pyproject.toml
lint: install
	$(BIN)/ruff check -q telephony ivr tests bench
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) data
