# Rapport: the two commands are `make run` and `make test`.

CARGO ?= cargo
# PostgreSQL leg of the tests and benchmarks: a server reachable with this
# admin URL. When it is unreachable the PostgreSQL tests are skipped and
# counted at the end as SKIPPED, unless RAPPORT_TEST_REQUIRE_POSTGRES=1 (CI),
# which makes them fail.
RAPPORT_TEST_POSTGRES ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: run build test lint fmt openapi bench dist help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run: ## Build (release) and start the server on the embedded SQLite database
	$(CARGO) build --release -p rapport-server --bin rapport
	./target/release/rapport serve

build: ## Build the release binary at target/release/rapport
	$(CARGO) build --release -p rapport-server --bin rapport

test: ## Run every test: unit, and end-to-end on SQLite and PostgreSQL
	@mkdir -p target && rm -f target/test-skips.log
	RAPPORT_TEST_SKIPS=$(CURDIR)/target/test-skips.log RAPPORT_TEST_POSTGRES=$(RAPPORT_TEST_POSTGRES) $(CARGO) test --workspace
	@if [ -s target/test-skips.log ]; then \
		echo "SKIPPED, not passed: $$(wc -l < target/test-skips.log) tests left parts out (target/test-skips.log):"; \
		cut -d: -f2- target/test-skips.log | sort | uniq -c; \
	fi

lint: ## Formatting check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

bench: ## Benchmarks (release build), each against a baseline from the same run; see docs/benchmarks.md
	RAPPORT_TEST_POSTGRES=$(RAPPORT_TEST_POSTGRES) $(CARGO) bench -p rapport-tests --bench audit --bench auth --bench cases --bench chat --bench mail --bench bundle --bench reports

openapi: ## Regenerate docs/openapi.json from the code
	$(CARGO) run -q -p rapport-server --bin rapport -- openapi > docs/openapi.json

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
DIST := rapport-$(VERSION)-$(shell uname -m)-linux

# What `make dist` packs: the release build, unless BIN names another
# binary (the test suite packs its debug build to check the tarball).
BIN ?=
DIST_DIR ?= target/dist

dist: ## Release tarball at target/dist/: the binary, default config, docs, systemd unit, container and proxy examples
	$(if $(BIN),,$(MAKE) build)
	rm -rf $(DIST_DIR)/$(DIST) && mkdir -p $(DIST_DIR)/$(DIST)/bin
	cp $(if $(BIN),$(BIN),target/release/rapport) $(DIST_DIR)/$(DIST)/bin/rapport
	cp -r config docs packaging README.md $(DIST_DIR)/$(DIST)/
	tar -C $(DIST_DIR) -czf $(DIST_DIR)/$(DIST).tar.gz $(DIST)
	@echo "$(DIST_DIR)/$(DIST).tar.gz"
