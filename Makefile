# candle-numpy: the two commands of the README.
#   make demo   build and run the showcase (Rust example + Python showcase)
#   make test   every check and test (what CI runs)

VENV ?= .venv
VENV_NP1 ?= .venv-numpy1
PY := $(VENV)/bin/python
PY_NP1 := $(VENV_NP1)/bin/python
NPY_OUT := target/npy-roundtrip
WHEELS := target/wheels
REQ := bindings/python/requirements-test.txt
REQ_NP1 := bindings/python/requirements-test-numpy1.txt

.PHONY: demo test interop-test venv-interop mpi-deps mpi-test venv venv-numpy1 lint rust-test npy-check wheel py-test py-test-numpy1 example-extension bench py-bench valgrind clean-venv venv-bench bench-peers

demo: venv wheel
	cargo run --release --example showcase
	$(PY) examples/python/showcase.py

test: lint rust-test mpi-test npy-check py-test py-test-numpy1 interop-test example-extension valgrind

# Python packages the tests need, installed into project venvs (pinned): NumPy 2.x, and a
# second venv with NumPy 1.26 that runs the same abi3 wheel.
venv: $(VENV)/.installed
$(VENV)/.installed: $(REQ)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQ)
	touch $@
venv-numpy1: $(VENV_NP1)/.installed
$(VENV_NP1)/.installed: $(REQ_NP1)
	python3 -m venv $(VENV_NP1)
	$(VENV_NP1)/bin/pip install --quiet --disable-pip-version-check -r $(REQ_NP1)
	touch $@

lint: venv
	cargo fmt --all --check
	cargo clippy --all-targets --features s3 -- -D warnings
	cargo clippy -p candle-numpy-python -p candle-numpy-example-model --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features s3
	$(PY) -m ruff check --config bindings/python/pyproject.toml bindings/python/python bindings/python/tests bindings/python/tests_interop bindings/python/benches examples/python examples/python-extension/tests scripts

# Unit, integration, property and doc tests (with the optional `s3` module, which the Python
# package ships); benches run once each in test mode. The .npy
# files written by the crate are kept for the NumPy cross-check below.
rust-test:
	rm -rf $(NPY_OUT)
	CANDLE_NUMPY_NPY_OUT=$(abspath $(NPY_OUT)) cargo test --all-targets --features s3
	cargo test --doc --features s3

# Open MPI and libclang (the mpi crate generates its bindings with it), from Debian's
# packages, installed only when missing.
MPI_PKGS := libopenmpi-dev openmpi-bin libclang-dev
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
mpi-deps:
	@dpkg -s $(MPI_PKGS) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(MPI_PKGS); }

# Data-parallel training on 2 MPI ranks (feature `mpi`): `mpirun -np 2` of the
# data_parallel example must match one process.
mpi-test: mpi-deps
	cargo clippy --features mpi --all-targets -- -D warnings
	cargo build --features mpi --example data_parallel
	cargo test --features mpi --test mpi -- --nocapture

# NumPy itself must read what the crate writes.
npy-check: venv rust-test
	$(PY) scripts/check_npy_roundtrip.py $(NPY_OUT)

# One abi3 wheel (release build), installed into both venvs.
wheel: venv
	rm -rf $(WHEELS)
	maturin build --release --quiet -m bindings/python/Cargo.toml -o $(WHEELS)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps $(WHEELS)/*.whl

py-test: wheel
	$(PY) scripts/check_stubs.py
	cd bindings/python && ../../$(PY) -m pytest -q tests

# The example extension (examples/python-extension) built and tested like a user's would be.
example-extension: venv
	maturin build --release --quiet -m examples/python-extension/Cargo.toml -o target/example-wheels
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps target/example-wheels/*.whl
	rm -rf target/example-wheels
	cd examples/python-extension && ../../$(PY) -m pytest -q tests

# The interop lane: the same wheel beside the real torch and TensorFlow (CPU) in one process:
# how processes end with both loaded (tests/test_exit.py, no column skipped), DLPack both ways,
# the seeds' snippets against the frameworks themselves. Its own venv, installed only when
# missing (torch's PyPI wheel pulls the CUDA runtime wheels, several GB; pip's cache serves
# repeat runs).
VENV_INTEROP ?= .venv-interop
REQ_INTEROP := bindings/python/requirements-interop.txt
venv-interop: $(VENV_INTEROP)/.installed
$(VENV_INTEROP)/.installed: $(REQ_INTEROP)
	python3 -m venv $(VENV_INTEROP)
	$(VENV_INTEROP)/bin/pip install --quiet --disable-pip-version-check -r $(REQ_INTEROP)
	touch $@

interop-test: wheel venv-interop
	$(VENV_INTEROP)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps $(WHEELS)/*.whl
	cd bindings/python && CANDLE_NUMPY_INTEROP_LANE=1 ../../$(VENV_INTEROP)/bin/python -m pytest -q tests/test_exit.py
	# torch and TensorFlow each in their own process: together, tensorflow-cpu 2.21 and
	# torch 2.15 abort in torch.optim (both register LLVM's command-line options), without us
	cd bindings/python && ../../$(VENV_INTEROP)/bin/python -m pytest -q tests_interop/test_torch_interop.py tests_interop/test_torch_layers_interop.py tests_interop/test_dataloader_vs_torch.py
	# PyTorch's own tests (numpy interop, DLPack CPU, DataLoader CPU), ported, against torch and
	# cn.torch; what cn.torch still fails is listed in tests_interop/upstream/known_gaps.py
	cd bindings/python && ../../$(VENV_INTEROP)/bin/python -m pytest -q -p no:cacheprovider tests_interop/upstream
	# torch's type promotion and reductions, table by table against torch itself
	cd bindings/python && ../../$(VENV_INTEROP)/bin/python -m pytest -q tests/test_promotion.py
	cd bindings/python && ../../$(VENV_INTEROP)/bin/python -m pytest -q tests_interop/test_tf_interop.py

py-test-numpy1: wheel venv-numpy1
	$(VENV_NP1)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps $(WHEELS)/*.whl
	cd bindings/python && ../../$(PY_NP1) -m pytest -q tests

bench:
	cargo bench --bench copy
	python3 scripts/bench_report.py

py-bench: wheel
	$(PY) bindings/python/benches/bench_convert.py

valgrind: wheel
	scripts/valgrind.sh

clean-venv:
	rm -rf $(VENV) $(VENV_NP1)

# A venv with the peers the side-by-side benchmarks compare against (torch, tensorflow-cpu,
# scipy, safetensors) plus this package; not needed by the tests.
VENV_BENCH ?= .venv-bench
venv-bench: $(VENV_BENCH)/.installed
$(VENV_BENCH)/.installed: bindings/python/requirements-bench.txt
	python3 -m venv $(VENV_BENCH)
	$(VENV_BENCH)/bin/pip install --quiet --disable-pip-version-check -r bindings/python/requirements-bench.txt
	touch $@

bench-peers: wheel venv-bench
	$(VENV_BENCH)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps $(WHEELS)/*.whl
	$(VENV_BENCH)/bin/python bindings/python/benches/bench_data.py
