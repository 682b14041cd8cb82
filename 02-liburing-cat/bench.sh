#!/bin/bash
# make bench: uring-cat against coreutils cat on a file in tmpfs, to
# /dev/null and through a pipe; then a queue depth x block size sweep.
# Wall time is the median of RUNS alternating runs (cat, uring-cat, cat, ...),
# each pinned with taskset. Prints markdown on stdout, writes bench.tsv.
#   RUNS=7 MIB=512 SWEEP=1 ./bench.sh
set -eu
cd "$(dirname "$0")"
RUNS=${RUNS:-7}
MIB=${MIB:-512}
SWEEP=${SWEEP:-1}
T=${T:-60}
dir=/dev/shm/uring-cat-bench.$$
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
src=$dir/src
head -c $((MIB * 1024 * 1024)) /dev/urandom >"$src"
cat "$src" >/dev/null
: >bench.tsv

# secs CMD...: wall seconds of one run of a shell command line
secs() {
	local t0=$EPOCHREALTIME
	timeout "$T" bash -c "$1" || { echo "failed: $1" >&2; exit 1; }
	echo "$EPOCHREALTIME - $t0" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# calls CMD: system calls of the whole command line, every process and thread
calls() {
	strace -f -c -o "$dir/strace" bash -c "$1" >/dev/null 2>&1
	awk '$NF=="total" {print $4}' "$dir/strace"
}
# punts CMD: requests io_uring handed to an io-wq worker thread
punts() {
	perf stat -x, -e io_uring:io_uring_queue_async_work bash -c "$1" 2>&1 >/dev/null |
		awk -F, '/queue_async_work/ {print $1}'
}

# compare NAME BASELINE CANDIDATE: alternating runs, medians, ratio
compare() {
	local name=$1 base=$2 cand=$3 i
	: >"$dir/base"; : >"$dir/cand"
	secs "$base" >/dev/null; secs "$cand" >/dev/null    # warm-up
	for i in $(seq "$RUNS"); do
		secs "$base" >>"$dir/base"
		secs "$cand" >>"$dir/cand"
	done
	local b c
	b=$(median <"$dir/base"); c=$(median <"$dir/cand")
	printf '| %s | %.3f (%.3f-%.3f) | %.3f (%.3f-%.3f) | **%.2f** | %s / %s | %s |\n' "$name" \
		"$b" "$(sort -g "$dir/base" | head -1)" "$(sort -g "$dir/base" | tail -1)" \
		"$c" "$(sort -g "$dir/cand" | head -1)" "$(sort -g "$dir/cand" | tail -1)" \
		"$(echo "$c / $b" | bc -l)" "$(calls "$base")" "$(calls "$cand")" "$(punts "$cand")"
	printf '02-liburing-cat\t%s cat\twall_s\t%s\n02-liburing-cat\t%s uring-cat\twall_s\t%s\n02-liburing-cat\t%s\tratio\t%s\n' \
		"$name" "$b" "$name" "$c" "$name" "$(echo "$c / $b" | bc -l)" >>bench.tsv
}

printf '### 02-liburing-cat: uring-cat vs cat, %d MiB file in tmpfs\n\n' "$MIB"
printf '%s, %s, %d vCPUs; median (min-max) of %d alternating runs\n\n' \
	"$(date -u +%Y-%m-%d)" "$(uname -r)" "$(nproc)" "$RUNS"
printf '| case | cat s | uring-cat s | ratio | syscalls cat / uring-cat | io-wq punts |\n'
printf '|---|---|---|---|---|---|\n'
compare "to /dev/null" \
	"taskset -c 1 cat $src >/dev/null" \
	"taskset -c 1 ./uring-cat $src >/dev/null"
compare "through a pipe" \
	"taskset -c 0 cat $src | taskset -c 1 cat >/dev/null" \
	"taskset -c 0 ./uring-cat $src | taskset -c 1 cat >/dev/null"
compare "pipe in, /dev/null out" \
	"taskset -c 0 cat $src | taskset -c 1 cat >/dev/null" \
	"taskset -c 0 cat $src | taskset -c 1 ./uring-cat >/dev/null"

[ "$SWEEP" = 1 ] || exit 0
printf '\n#### uring-cat to /dev/null: median seconds of 3 runs, by queue depth (-q) and block size (-b)\n\n'
blocks="16k 64k 128k 512k 1m"
printf '| -q \\ -b |'; for b in $blocks; do printf ' %s |' "$b"; done; printf '\n|---|'
for b in $blocks; do printf -- '---|'; done; printf '\n'
for q in 1 2 4 8 16 32; do
	printf '| %s |' "$q"
	for b in $blocks; do
		: >"$dir/sweep"
		for i in 1 2 3; do secs "taskset -c 1 ./uring-cat -q $q -b $b $src >/dev/null" >>"$dir/sweep"; done
		m=$(median <"$dir/sweep")
		printf ' %.3f |' "$m"
		printf '02-liburing-cat\tsweep q%s b%s\twall_s\t%s\n' "$q" "$b" "$m" >>bench.tsv
	done
	printf '\n'
done
