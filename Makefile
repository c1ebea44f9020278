# traffic-hooks: the README's first two commands are `make demo` and `make test`.
# Everything the tests need is installed here: Python tools into ./.venv (gitignored).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TOOLS := .tools
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/$(TOOLS)/bin:$(PATH)
# One feature set for every build, so demo, tests and cargo-lambda share target/.
CARGO_BUILD := cargo build --workspace --bins --quiet

LOGS := target/test-logs
LAMBDAS := traffic-hook demo-function

.PHONY: demo test lint unit validate invoke invoke-check build package deploy bench bench-smoke bench-tools venv clean help \
	fuzz fuzz-smoke fuzz-tools mutants

help:
	@echo "make demo     three simulated deployments of template.yaml (traffic-sim, real hooks; no AWS account)"
	@echo "make test     fmt check, clippy -D warnings, docs, all tests, cargo-lambda invoke"
	@echo "make lint     fmt check, clippy -D warnings, cargo doc -D warnings"
	@echo "make invoke   cargo lambda watch + cargo lambda invoke against the fakes"
	@echo "make validate cfn-lint and aws-sam-translator tests of template.yaml, shared-hooks/ and examples/fleet/"
	@echo "make build    cargo lambda build --release --arm64: zips for the hook and the demo function"
	@echo "make package  dist/traffic-hook-{arm64,x86_64}.zip and dist/SHA256SUMS for shared-hooks/template.yaml"
	@echo "make deploy   sam build + sam deploy --guided (needs the SAM CLI and an AWS account)"
	@echo "make bench    load vs wrk and hey, cold start vs a bare hello world, size, RSS, overhead (docs/performance.md)"
	@echo "make venv     Python tools (cargo-lambda, boto3, moto, cfn-lint, SAM translator) into .venv"
	@echo "make fuzz     each fuzz target for FUZZ_SECONDS (default 600); make fuzz-smoke: 20 s each"
	@echo "make mutants  cargo-mutants on the never-hang path (hook, report, bounded readers)"

demo:
	$(CARGO_BUILD)
	target/debug/demo template.yaml

# Each step logs to $(LOGS); the last line of `make test` counts every test that ran.
test: venv lint unit validate invoke-check fuzz-smoke bench-smoke
	@bash scripts/test-summary.sh $(LOGS)/unit.log $(LOGS)/validate.log

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
	python3 scripts/module-cycles.py hooks/src

unit: venv
	@mkdir -p $(LOGS)
	cargo test --workspace 2>&1 | tee $(LOGS)/unit.log

validate: venv
	@mkdir -p $(LOGS)
	$(CARGO_BUILD)
	cfn-lint template.yaml shared-hooks/template.yaml examples/fleet/template.yaml
	$(PY) tests/sam_template.py 2>&1 | tee $(LOGS)/validate.log
	$(PY) tests/fleet_templates.py 2>&1 | tee -a $(LOGS)/validate.log
	$(PY) tests/check_build.py 2>&1 | tee -a $(LOGS)/validate.log

invoke: venv
	bash scripts/invoke.sh

invoke-check: venv
	bash scripts/invoke.sh --check

# Release builds link at a fixed address (non-PIE): 1.2 MB less of relocations, which
# the loader would otherwise apply at every cold start. Set per target, and only on
# commands that pass --target (cargo-lambda does), so build scripts and proc macros,
# which must stay position-independent, are untouched.
STATIC := CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C relocation-model=static" \
	CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C relocation-model=static"

build: venv
	rustup target add aarch64-unknown-linux-gnu
	$(STATIC) cargo lambda build --release --arm64 --output-format zip $(addprefix --bin ,$(LAMBDAS))
	$(PY) scripts/check-build.py $(LAMBDAS)

# The shared hooks' code (shared-hooks/template.yaml): release zips for both
# architectures, checked, with checksums to publish beside them.
ARCHS := arm64 x86_64
package: venv
	rustup target add aarch64-unknown-linux-gnu x86_64-unknown-linux-gnu
	rm -rf dist && mkdir -p dist
	for arch in $(ARCHS); do \
	  flag=$$([ $$arch = arm64 ] && echo --arm64 || echo --x86-64); \
	  $(STATIC) cargo lambda build --release $$flag --output-format zip --bin traffic-hook \
	    --lambda-dir target/lambda-$$arch || exit 1; \
	  cp target/lambda-$$arch/traffic-hook/bootstrap.zip dist/traffic-hook-$$arch.zip; \
	done
	cd dist && sha256sum traffic-hook-*.zip > SHA256SUMS
	$(PY) scripts/check-build.py $(foreach a,$(ARCHS),dist/traffic-hook-$(a).zip=$(a))
	cd dist && sha256sum --check SHA256SUMS

# Not run here (no AWS account). The SAM CLI builds the Rust functions with cargo-lambda
# (BuildMethod: rust-cargolambda, a beta feature), then deploys with a guided prompt.
deploy:
	@command -v sam >/dev/null || { echo "the SAM CLI is missing: pip install aws-sam-cli (see docs/deploying.md)"; exit 2; }
	sam build --beta-features
	sam deploy --guided --capabilities CAPABILITY_IAM

# Every figure of docs/performance.md in one run, each beside its reference: the
# release hook from `make package`, a bare lambda_runtime hello world built the same
# way, wrk, hey and nginx (from the system's packages).
bench: package bench-tools
	$(STATIC) cargo lambda build --release --x86-64 --bin bare-lambda
	cargo build --release --quiet -p traffic-hooks-testkit --bin bench
	target/release/bench --hook target/x86_64-unknown-linux-gnu/release/traffic-hook \
	  --hello target/lambda/bare-lambda/bootstrap \
	  --size-of target/aarch64-unknown-linux-gnu/release/traffic-hook

# In `make test`: the whole harness, briefly, on the debug builds; no goals judged.
bench-smoke: bench-tools
	$(CARGO_BUILD)
	target/debug/bench --smoke --hook target/debug/traffic-hook --hello target/debug/bare-lambda \
	  --rates 1000 --seconds 1 --rounds 1 --starts 3 --invocations 10

# wrk, hey and nginx from Debian's packages, where missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
bench-tools:
	@missing=""; \
	for t in wrk hey nginx; do command -v $$t >/dev/null || [ -x /usr/sbin/$$t ] || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $(SUDO) apt-get update -q >/dev/null; \
	  pkgs=$$(echo $$missing | sed 's/nginx/nginx-light/'); \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$pkgs >/dev/null || \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$(echo $$missing) >/dev/null; \
	fi

# Fuzzing: cargo-fuzz (crates.io, into .tools) on the machine's stable toolchain,
# whose nightly features RUSTC_BOOTSTRAP=1 unlocks (no other toolchain can be fetched).
FUZZ_TARGETS := event config expect template wire
FUZZ_SECONDS ?= 600
CARGO_FUZZ := RUSTC_BOOTSTRAP=1 cargo fuzz

fuzz-tools:
	@command -v cargo-fuzz >/dev/null || cargo install --quiet --locked --root $(TOOLS) cargo-fuzz --version 0.13.2

# The build's errors are printed with the disk and memory left, since a failed link
# is most often one of those; then it is tried once more on one job (less memory at
# once), and if that fails too its errors are printed last (CI shows the tail).
FUZZ_LOG := target/fuzz-build.log
FUZZ_BUILD_ERRORS := grep -E -A 25 '^error' $(FUZZ_LOG) | head -n 120; df -h . | tail -n 1; free -m | head -n 2

fuzz: fuzz-tools
	@mkdir -p target; echo "cargo fuzz build -O (its log: $(FUZZ_LOG))"; \
	(cd fuzz && $(CARGO_FUZZ) build -O) >$(FUZZ_LOG) 2>&1 || { \
	  echo "--- the fuzz build failed; its errors:"; $(FUZZ_BUILD_ERRORS); \
	  echo "--- once more, on one job"; \
	  (cd fuzz && CARGO_BUILD_JOBS=1 $(CARGO_FUZZ) build -O) >$(FUZZ_LOG) 2>&1 || { \
	    tail -n 5 $(FUZZ_LOG); echo "--- the fuzz build failed again; its errors:"; \
	    $(FUZZ_BUILD_ERRORS); exit 1; }; }
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t; \
	  (cd fuzz && $(CARGO_FUZZ) run -O $$t corpus/$$t seeds/$$t regressions -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) || exit 1; \
	done

# In `make test`: every target briefly, from the seeds and the regressions.
fuzz-smoke:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=20

# Mutation testing of the never-hang path: every viable mutant must be caught.
MUTATED := hooks/src/hook.rs hooks/src/report.rs hooks/src/bounded.rs
mutants: venv
	@command -v cargo-mutants >/dev/null || cargo install --quiet --locked --root $(TOOLS) cargo-mutants
	cargo mutants --package traffic-hooks $(addprefix --file ,$(MUTATED)) \
	  --timeout 300 --output target/mutants

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

clean:
	cargo clean
	rm -rf $(VENV)
