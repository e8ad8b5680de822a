# candle-numpy: the two commands of the README.
#   make demo   build and run the showcase
#   make test   every check and test (what CI runs)

VENV ?= .venv
PY := $(VENV)/bin/python
NPY_OUT := target/npy-roundtrip

.PHONY: demo test venv lint rust-test npy-check bench clean-venv

demo:
	cargo run --release --example showcase

test: lint rust-test npy-check

# Python packages the tests need, installed into a project venv (pinned).
venv: $(VENV)/.installed
$(VENV)/.installed: scripts/requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-dev.txt
	touch $@

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps

# Unit, integration, property and doc tests; benches run once each in test mode. The .npy
# files written by the crate are kept for the NumPy cross-check below.
rust-test:
	rm -rf $(NPY_OUT)
	CANDLE_NUMPY_NPY_OUT=$(abspath $(NPY_OUT)) cargo test --all-targets
	cargo test --doc

# NumPy itself must read what the crate writes.
npy-check: venv rust-test
	$(PY) scripts/check_npy_roundtrip.py $(NPY_OUT)

bench:
	cargo bench --bench copy

clean-venv:
	rm -rf $(VENV)
