# traffic-hooks: the README's first two commands are `make demo` and `make test`.
# Everything the tests need is installed here: Python tools into ./.venv (gitignored).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# One feature set for every build, so demo, tests and cargo-lambda share target/.
CARGO_BUILD := cargo build --workspace --bins --quiet

LOGS := target/test-logs
LAMBDAS := traffic-hook demo-function

.PHONY: demo test lint unit validate invoke invoke-check build deploy bench venv clean help

help:
	@echo "make demo     two deployment verifications against local fakes (no AWS account)"
	@echo "make test     fmt check, clippy -D warnings, docs, all tests, cargo-lambda invoke"
	@echo "make lint     fmt check, clippy -D warnings, cargo doc -D warnings"
	@echo "make invoke   cargo lambda watch + cargo lambda invoke against the fakes"
	@echo "make validate cfn-lint on template.yaml and the aws-sam-translator test"
	@echo "make build    cargo lambda build --release --arm64: zips for the hook and the demo function"
	@echo "make deploy   sam build + sam deploy --guided (needs the SAM CLI and an AWS account)"
	@echo "make bench    cold start, overhead and load accuracy of the release hook (docs/performance.md)"
	@echo "make venv     Python tools (cargo-lambda, boto3, moto, cfn-lint, SAM translator) into .venv"

demo:
	$(CARGO_BUILD)
	target/debug/demo target/debug/traffic-hook

# Each step logs to $(LOGS); the last line of `make test` counts every test that ran.
test: venv lint unit validate invoke-check
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
	cfn-lint template.yaml
	$(PY) tests/sam_template.py 2>&1 | tee $(LOGS)/validate.log

invoke: venv
	bash scripts/invoke.sh

invoke-check: venv
	bash scripts/invoke.sh --check

build: venv
	rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --arm64 --output-format zip $(addprefix --bin ,$(LAMBDAS))
	$(PY) scripts/check-build.py $(LAMBDAS)

# Not run here (no AWS account). The SAM CLI builds the Rust functions with cargo-lambda
# (BuildMethod: rust-cargolambda, a beta feature), then deploys with a guided prompt.
deploy:
	@command -v sam >/dev/null || { echo "the SAM CLI is missing: pip install aws-sam-cli (see docs/deploying.md)"; exit 2; }
	sam build --beta-features
	sam deploy --guided --capabilities CAPABILITY_IAM

bench:
	cargo build --release --workspace --bins --quiet
	target/release/bench target/release/traffic-hook 10

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

clean:
	cargo clean
	rm -rf $(VENV)
