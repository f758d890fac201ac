# canardstack build, run and test entry points. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
DUCKDB_VERSION := v1.5.5
EXT_VERSION := v$(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
VENV := .venv
VENV_STAMP := $(VENV)/.installed
REPOSITORY := build/repository
PORT ?= 4318
GRPC_PORT ?= 4317
# make demo: user requests per second, a bound in seconds (empty: until Ctrl-C), more flags for scripts/demo.py
DEMO_RATE ?= 5
DEMO_SECONDS ?=
DEMO_ARGS ?=
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: all release debug venv test-services test run demo clean

all: release

release:
	cargo build --release
	@mkdir -p build/release
	$(PYTHON) scripts/append_metadata.py $(TARGET_DIR)/release/libcanardstack.so build/release/canardstack.duckdb_extension \
		--extension-version $(EXT_VERSION) --duckdb-version $(DUCKDB_VERSION) --repository $(REPOSITORY)

debug:
	cargo build
	@mkdir -p build/debug
	$(PYTHON) scripts/append_metadata.py $(TARGET_DIR)/debug/libcanardstack.so build/debug/canardstack.duckdb_extension \
		--extension-version $(EXT_VERSION) --duckdb-version $(DUCKDB_VERSION)

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt scripts/install_ducklake.py
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/python scripts/install_ducklake.py > $(VENV)/ducklake_extension_path
	touch $@

test-services:
	bash scripts/install_test_services.sh

test: release venv test-services
	bash scripts/test.sh

run: release venv
	$(VENV)/bin/duckdb -unsigned -cmd "INSTALL canardstack FROM '$(REPOSITORY)'; LOAD canardstack; SELECT canardstack_version() AS canardstack_version; CALL otlp_serve($(PORT), grpc_port := $(GRPC_PORT));"

demo: release venv
	$(VENV)/bin/python scripts/demo.py --port $(PORT) --rate $(DEMO_RATE) \
		$(if $(DEMO_SECONDS),--seconds $(DEMO_SECONDS)) $(DEMO_ARGS)

clean:
	cargo clean
	rm -rf build $(VENV)
