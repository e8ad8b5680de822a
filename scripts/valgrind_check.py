#!/usr/bin/env python3
"""Classify a valgrind memcheck log of the Python tests; exit 1 if any error is ours.

An error counts when
- any frame of its stack is in our code (the candle_numpy extension, the example extension or
  the candle crates), whatever its kind; or
- it is an invalid read/write/free anywhere except in two known sources of false positives
  on this platform: the dynamic loader (ld.so's strncmp over-reads while parsing rpaths) and
  glibc's AVX2 string compares called by CPython's unicode comparison (word-sized over-reads
  that valgrind does not intercept).
Uninitialised-value reports inside CPython alone (its small-int cache tricks) are listed but
do not count: CPython is not built with valgrind support here.
"""
import re
import sys

OURS = re.compile(r"_native|tiny_model|candle_numpy|candle_core|candle_nn")
LOADER = re.compile(r"ld-linux|dl-load\.c|dl-open\.c|dl-deps\.c|_dl_")
STRCMP = re.compile(r"__w?mem(cmp|chr)_avx2|__strn?cmp_|__memrchr")
INVALID = re.compile(r"Invalid (read|write|free)|Mismatched free|Source and destination overlap|Jump to the invalid")

text = open(sys.argv[1]).read()
blocks = re.split(r"\n==\d+== \n", text)
counted, ignored = [], []
for b in blocks:
    lines = [ln for ln in b.splitlines() if re.match(r"==\d+== ", ln)]
    if not lines:
        continue
    head = re.sub(r"^==\d+== ", "", lines[0])
    if not (INVALID.search(head) or "uninitialised" in head or "Syscall param" in head):
        continue
    frames = [re.sub(r"^==\d+==\s+", "", ln) for ln in lines[1:] if re.search(r"(at|by) 0x", ln)]
    if any(OURS.search(f) for f in frames):
        counted.append(b)
    elif INVALID.search(head) and not (any(LOADER.search(f) for f in frames) or (frames and STRCMP.search(frames[0]))):
        counted.append(b)
    else:
        ignored.append(head)

summary = re.findall(r"ERROR SUMMARY: .*", text)
print(f"valgrind: {len(counted)} error(s) attributed to us; {len(ignored)} CPython/loader reports ignored")
print(summary[-1] if summary else "no ERROR SUMMARY line (did valgrind finish?)")
for b in counted[:10]:
    print("\n" + b)
sys.exit(1 if counted or not summary else 0)
