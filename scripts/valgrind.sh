#!/usr/bin/env bash
# Run the Python sharing tests under valgrind memcheck (PYTHONMALLOC=malloc so every Python
# allocation is visible). Fails on any invalid read/write or use of freed memory in the
# process (scripts/valgrind_check.py says which reports count). The long stress tests (100k round trips, 4 threads x 20k) are deselected: under
# valgrind they take hours and add no new code paths.
#   make valgrind      (after `make wheel`)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
    else
        echo "valgrind is not installed (apt-get install valgrind)"; exit 1
    fi
fi
LOG=$(pwd)/target/valgrind.log
mkdir -p target
tests=(tests/test_sharing.py tests/test_tensor.py)
[ -f bindings/python/tests/test_dlpack.py ] && tests+=(tests/test_dlpack.py)
cd bindings/python
PYTHONMALLOC=malloc valgrind --tool=memcheck --leak-check=no --track-origins=no --num-callers=40 \
    --log-file="$LOG" "../../$PY" -m pytest -q -p no:cacheprovider "${tests[@]}" \
    -k "not 100k and not 20k" "$@"
cd ../..
"$PY" scripts/valgrind_check.py "$LOG"
