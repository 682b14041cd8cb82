#!/bin/bash
# make demo: uring-cat -v on sample inputs, narrated. -v prints, per file,
# the reads and writes submitted, the CQEs that came back and the bytes.
set -eu
cd "$(dirname "$0")"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
head -c $((1024 * 1024 + 100)) /dev/urandom >"$dir/1MiB"

say() { printf '\n# %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; bash -c "$*" 2>&1 | sed "s|$dir/||g"; }
cd "$dir"
PATH=$OLDPWD:$OLDPWD/tests:$PATH

say "A 1 MiB file, 128 KiB per read, 4 reads in flight: 9 full reads, one that finds EOF."
show "uring-cat -v 1MiB >/dev/null"
say "The same at depth 1: one read at a time, so more io_uring_enter calls for the same SQEs."
show "uring-cat -v -q 1 1MiB >/dev/null"
say "A pipe whose writer is slow: each read returns what is there (a short read), in order."
show "{ printf 'one '; sleep 0.2; printf 'two\n'; } | uring-cat -v"
say "--nowait asks for -EAGAIN instead of waiting: a POLL_ADD, then the read again."
show "{ sleep 0.2; printf 'late\n'; } | uring-cat -v --nowait"
say "A busy ring (-EBUSY, as 5.5-5.12 say while the CQ overflows), forced by tests/busy-enter: reap, submit again."
show "busy-enter -n 2 uring-cat -v 1MiB >/dev/null"
say "Errors come back in the CQE as -errno; a write error ends the run, exit 1."
show "uring-cat missing 1MiB >/dev/full; echo exit \$?"
