# Tally: the two commands a newcomer needs are `make run` and `make test`.
# Everything they need is installed here when missing (Debian packages, as root or through sudo).

SWIFT ?= swift
HOST ?= 127.0.0.1
PORT ?= 8080
DATABASE ?= tally.sqlite

# The system libraries the product links (see Package.swift).
PRODUCT_PACKAGES := libsqlite3-dev libssl-dev libopenblas-dev pkg-config
# What the tests drive besides the product: curl and openssl for the TLS tests, Chromium for the
# browser test.
TEST_PACKAGES := curl openssl python3 python3-venv chromium chromium-driver
# What the benchmarks drive.
BENCH_PACKAGES := wrk python3 python3-venv

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run build test bench bench-http bench-train bench-submit install-product-packages install-test-packages install-bench-packages clean

## Build in release mode, migrate, load the demo, and serve on http://$(HOST):$(PORT)/.
run: build
	.build/release/tally migrate --database $(DATABASE)
	.build/release/tally demo --database $(DATABASE)
	.build/release/tally serve --database $(DATABASE) --host $(HOST) --port $(PORT)

build: install-product-packages
	$(SWIFT) build -c release --product tally

## Build and run the whole test suite: the Swift suites, then the browser test.
test: install-product-packages install-test-packages .build-python/test/installed
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	.build-python/test/bin/python Tests/Browser/test_labeling.py

# The test tools' Python environment, pinned in Tests/requirements.txt; remade when that changes.
.build-python/test/installed: Tests/requirements.txt
	python3 -m venv .build-python/test
	.build-python/test/bin/pip install --quiet -r Tests/requirements.txt
	touch $@

## Every benchmark.
bench: bench-http bench-train bench-submit

## Durable ranking submissions over HTTP beside raw SQLite's one-row-per-transaction ceiling.
bench-submit: install-product-packages install-bench-packages
	$(SWIFT) build -c release --product tally
	python3 Benchmarks/submit/bench_submit.py

## The transformer core beside a JAX peer on the CPU; writes Benchmarks/results/train.md.
bench-train: install-product-packages install-bench-packages .build-python/bench/bin/python
	$(SWIFT) build -c release --product TrainBenchmark
	python3 Benchmarks/train/bench_train.py

# The benchmark's own Python environment with the JAX peer (CPU), pinned.
.build-python/bench/bin/python:
	python3 -m venv .build-python/bench
	.build-python/bench/bin/pip install --quiet jax==0.10.2 jaxlib==0.10.2

## The HTTP server beside a Hummingbird 2 peer under wrk; writes Benchmarks/results/http.md.
bench-http: install-product-packages install-bench-packages
	$(SWIFT) build -c release --product tally
	$(SWIFT) build -c release --package-path Benchmarks/HummingbirdPeer
	python3 Benchmarks/http/bench_http.py

install-product-packages:
	@$(call install_missing,$(PRODUCT_PACKAGES))

install-test-packages:
	@$(call install_missing,$(TEST_PACKAGES))

install-bench-packages:
	@$(call install_missing,$(BENCH_PACKAGES))

clean:
	rm -rf .build .build-python Benchmarks/HummingbirdPeer/.build Benchmarks/results

# Installs the Debian packages of $(1) that are not installed yet; quiet when none is missing.
define install_missing
missing=""; for package in $(1); do dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "ok installed" || missing="$$missing $$package"; done; \
if [ -n "$$missing" ]; then \
	echo "Installing Debian packages:$$missing"; \
	$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
fi
endef
