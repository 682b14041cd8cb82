#!/bin/bash
# make bench: raw-cat against coreutils cat, to /dev/null, on the same file
# in tmpfs and in the page cache of the disk's file system (ext4 on Debian):
# wall time (median of RUNS alternating runs), system calls, and the reads
# io_uring handed to a kernel worker thread, with the context switches that
# hand-off costs.
set -eu
cd "$(dirname "$0")"
RUNS=${RUNS:-7}
MIB=${MIB:-256}
shm=$(mktemp -d /dev/shm/iou-bench-01.XXXXXX)
disk=$(mktemp -d /var/tmp/iou-bench-01.XXXXXX)
trap 'rm -rf "$shm" "$disk"' EXIT
head -c $((MIB * 1024 * 1024)) /dev/urandom >"$shm/src"
cp "$shm/src" "$disk/src"

now() { date +%s.%N; }
run_once() {   # seconds one run of "$@" takes, output to /dev/null
	local t0 t1
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
syscalls() {   # total system calls made by "$@"
	strace -f -c -o "$shm/strace" "$@" >/dev/null
	awk '$NF=="total" {print $4}' "$shm/strace"
}
# handoffs CMD...: "punts switches": requests io_uring gave an io-wq worker
# (tracepoint io_uring:io_uring_queue_async_work) and context switches of
# the program and its threads, workers included; "- -" without perf
handoffs() {
	if ! perf stat -x, -o "$shm/perf" \
		-e io_uring:io_uring_queue_async_work,context-switches "$@" >/dev/null 2>&1; then
		echo "- -"
		return
	fi
	awk -F, '/queue_async_work/ {p = $1} /context-switches/ {c = $1}
		END {print p, c}' "$shm/perf"
}

# measure LABEL FILE: the rows of one file, and its ratio line
measure() {
	local label=$1 src=$2 raw cat_t raw_sys cat_sys p
	cat "$src" >/dev/null   # into the page cache, for both programs alike
	: >"$shm/raw"; : >"$shm/cat"
	run_once ./raw-cat "$src" >/dev/null; run_once cat "$src" >/dev/null   # warm-up
	for _ in $(seq "$RUNS"); do
		run_once ./raw-cat "$src" >>"$shm/raw"
		run_once cat "$src" >>"$shm/cat"
	done
	raw=$(median <"$shm/raw")
	cat_t=$(median <"$shm/cat")
	raw_sys=$(syscalls ./raw-cat "$src")
	cat_sys=$(syscalls cat "$src")
	for p in raw-cat cat; do
		local t=$raw s=$raw_sys cmd=./raw-cat
		[ $p = cat ] && { t=$cat_t; s=$cat_sys; cmd=cat; }
		printf '| %s | %s | %.3f | %.0f | %s | %s | %s |\n' "$label" $p "$t" \
			"$(echo "$MIB * 1.048576 / $t" | bc -l)" "$s" $(handoffs $cmd "$src")
		printf '01-raw-syscalls\t%s: %s\twall_s\t%s\n' "$label" $p "$t" >>bench.tsv
		printf '01-raw-syscalls\t%s: %s\tsyscalls\t%s\n' "$label" $p "$s" >>bench.tsv
	done
	printf '%s: wall %.2f, system calls %.2f\n' "$label" \
		"$(echo "$raw / $cat_t" | bc -l)" "$(echo "$raw_sys / $cat_sys" | bc -l)" >>"$shm/ratios"
}

: >bench.tsv; : >"$shm/ratios"
disk_fs=$(findmnt -n -o FSTYPE -T "$disk" || stat -f -c %T "$disk")
printf '### 01-raw-syscalls: raw-cat vs cat, %d MiB to /dev/null, median of %d runs\n\n' "$MIB" "$RUNS"
printf 'io-wq punts: reads io_uring handed to a kernel worker thread (io_uring:io_uring_queue_async_work); context switches: of the program and its threads, workers included (perf stat)\n\n'
printf '| file in | program | wall s | MB/s | system calls | io-wq punts | context switches |\n'
printf '|---|---|---|---|---|---|---|\n'
measure tmpfs "$shm/src"
measure "$disk_fs page cache" "$disk/src"
printf '\nratio raw-cat/cat:\n\n'
sed 's/^/- /' "$shm/ratios"
