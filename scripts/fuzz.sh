#!/usr/bin/env bash
# Run the cargo-fuzz targets one after the other (not part of CI): the .npy reader and the
# safetensors loader on arbitrary bytes.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 300 s, every target)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). The fuzz
# crate builds into fuzz/target with its own (sanitizer) flags; the growing corpora live in
# fuzz/corpus/<target> (seeded from fuzz/seeds), crashes in fuzz/artifacts/<target>. Turn a
# crash into a regression unit test, fix it, then rerun: `scripts/fuzz.sh 60 <target>`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-300}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npy_header safetensors_load)

cargo +nightly fuzz build -O -a
for t in "${targets[@]}"; do
  case "$t" in
    npy_header) seeds=seeds/npy dict=npy.dict ;;
    safetensors_load) seeds=seeds/safetensors dict=safetensors.dict ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
  esac
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== $t: ${secs}s"
  # one job (the machine has 2 cores); -rss_limit_mb catches allocations a lying header asks for
  cargo +nightly fuzz run -O -a "$t" "corpus/$t" "$seeds" -- \
    -max_total_time="$secs" -dict="$dict" -rss_limit_mb=2048 -max_len=4096 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1
done
