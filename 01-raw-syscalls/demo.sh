#!/bin/bash
# make demo: one narrated run of raw-cat.
set -e
cd "$(dirname "$0")"
sample=$(mktemp)
trap 'rm -f "$sample"' EXIT
head -c 300000 /dev/urandom >"$sample"

echo "raw-cat maps the rings by hand and reads 8 chunks of 32 KiB per io_uring_enter."
echo "A 300000-byte file, to /dev/null:"
echo "\$ ./raw-cat --stats FILE >/dev/null"
# (stderr to the terminal, stdout thrown away: the order is meant)
# shellcheck disable=SC2069
./raw-cat --stats "$sample" 2>&1 >/dev/null
echo "  = batch 1: 8 reads in one io_uring_enter, then one WRITEV of the 8 chunks;"
echo "    batch 2: a full chunk and a short one (the file ends), and their WRITEV;"
echo "    batch 3: after a short read, a single read: 0 bytes, the end of the file."
echo "    19 SQEs, 300000 bytes, in 5 io_uring_enter calls."
echo
echo "The first io_uring_enter, drawn by --trace (# = a slot in use):"
echo "\$ ./raw-cat --trace FILE 2>&1 >/dev/null | head -n 9"
./raw-cat --trace "$sample" 2>&1 >/dev/null | head -n 9
