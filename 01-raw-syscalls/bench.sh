#!/bin/bash
# make bench: raw-cat against coreutils cat, to /dev/null, on a file in
# tmpfs: wall time (median of RUNS alternating runs) and system calls.
set -eu
cd "$(dirname "$0")"
RUNS=${RUNS:-7}
MIB=${MIB:-256}
dir=/dev/shm/iou-bench-01.$$
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
head -c $((MIB * 1024 * 1024)) /dev/urandom >"$dir/src"
cat "$dir/src" >/dev/null

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
	strace -f -c -o "$dir/strace" "$@" >/dev/null
	awk '$NF=="total" {print $4}' "$dir/strace"
}

: >"$dir/raw"; : >"$dir/cat"
run_once ./raw-cat "$dir/src" >/dev/null; run_once cat "$dir/src" >/dev/null   # warm-up
for _ in $(seq "$RUNS"); do
	run_once ./raw-cat "$dir/src" >>"$dir/raw"
	run_once cat "$dir/src" >>"$dir/cat"
done
raw=$(median <"$dir/raw")
cat_t=$(median <"$dir/cat")
raw_sys=$(syscalls ./raw-cat "$dir/src")
cat_sys=$(syscalls cat "$dir/src")

printf '### 01-raw-syscalls: raw-cat vs cat, %d MiB from tmpfs to /dev/null, median of %d runs\n\n' "$MIB" "$RUNS"
printf '| program | wall s | MB/s | system calls |\n|---|---|---|---|\n'
for p in raw-cat cat; do
	t=$raw; s=$raw_sys
	[ $p = cat ] && { t=$cat_t; s=$cat_sys; }
	printf '| %s | %.3f | %.0f | %s |\n' $p "$t" "$(echo "$MIB * 1.048576 / $t" | bc -l)" "$s"
done
printf '\nratio raw-cat/cat: wall %.2f, system calls %.2f\n' \
	"$(echo "$raw / $cat_t" | bc -l)" "$(echo "$raw_sys / $cat_sys" | bc -l)"
{
	printf '01-raw-syscalls\traw-cat\twall_s\t%s\n' "$raw"
	printf '01-raw-syscalls\tcat\twall_s\t%s\n' "$cat_t"
	printf '01-raw-syscalls\traw-cat\tsyscalls\t%s\n' "$raw_sys"
	printf '01-raw-syscalls\tcat\tsyscalls\t%s\n' "$cat_sys"
} >bench.tsv
