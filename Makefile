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

.PHONY: demo test lint unit invoke venv clean help

help:
	@echo "make demo     two deployment verifications against local fakes (no AWS account)"
	@echo "make test     fmt check, clippy -D warnings, docs, all tests, cargo-lambda invoke"
	@echo "make lint     fmt check, clippy -D warnings, cargo doc -D warnings"
	@echo "make invoke   cargo lambda watch + cargo lambda invoke against the fakes"
	@echo "make venv     Python tools (cargo-lambda, boto3, moto, cfn-lint, SAM translator) into .venv"

demo:
	$(CARGO_BUILD)
	target/debug/demo target/debug/traffic-hook

test: venv lint unit invoke-check

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

unit: venv
	cargo test --workspace

invoke: venv
	bash scripts/invoke.sh

invoke-check: venv
	bash scripts/invoke.sh --check

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

clean:
	cargo clean
	rm -rf $(VENV)
