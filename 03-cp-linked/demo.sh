#!/bin/bash
# demo.sh: a narrated run of cp-linked (what `make demo` shows).
set -euo pipefail
cl=$(cd "$(dirname "$0")" && pwd)/cp-linked
dir=$(mktemp -d /dev/shm/cp-linked-demo.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

say() { echo; printf '# %s\n' "$@"; }
run() { printf '$ %s\n' "$*"; "$@" 2>&1; }
cp-linked() { "$cl" "$@"; }

head -c 1000000 /dev/urandom >src

say "1 MB in 128 KiB blocks, 4 linked read->write pairs in flight: no chain breaks." \
    "The one read 'at end of file' checks that the file did not grow."
run cp-linked -v -q 4 src dst
cmp src dst && echo "cmp: identical"

say "A FIFO fed one word at a time: each read is short, so the kernel cancels" \
    "its linked write (-ECANCELED); the rest of the block is read and submitted again."
mkfifo fifo
(for w in io_uring links a read to its write; do printf '%s ' "$w"; sleep 0.05; done >fifo) &
run cp-linked -v fifo out
wait
echo "out: $(cat out)"

say "--splice: SRC -> pipe -> DST with two linked splices; the bytes never enter the process."
run cp-linked -v --splice -q 4 src dst2
cmp src dst2 && echo "cmp: identical"

say "Onto itself through a symlink: refused before anything is truncated."
ln -s src link
run cp-linked src link || true
cmp src dst && echo "cmp: src still whole"
