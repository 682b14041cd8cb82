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

# secs CMD: "wall cpu" seconds of one run of a shell command line; cpu is
# the task-clock of every process and thread in it (io-wq workers
# included), from perf stat, or user + system from time(1) without perf
secs() {
	local t0=$EPOCHREALTIME
	if command -v perf >/dev/null; then
		perf stat -x, -o "$dir/perf" -e task-clock timeout "$T" bash -c "$1" ||
			{ echo "failed: $1" >&2; exit 1; }
		echo "$(echo "$EPOCHREALTIME - $t0" | bc -l)" \
			"$(awk -F, '/task-clock/ {printf "%.4f", $1 / 1000}' "$dir/perf")"
	else
		/usr/bin/time -f '%e %U %S' -o "$dir/time" timeout "$T" bash -c "$1" ||
			{ echo "failed: $1" >&2; exit 1; }
		awk '{printf "%s %.3f\n", $1, $2 + $3}' "$dir/time"
	fi
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

# compare NAME BASELINE CANDIDATE: alternating runs, medians, ratios
compare() {
	local name=$1 base=$2 cand=$3 i
	: >"$dir/base"; : >"$dir/cand"
	secs "$base" >/dev/null; secs "$cand" >/dev/null    # warm-up
	for i in $(seq "$RUNS"); do
		secs "$base" >>"$dir/base"
		secs "$cand" >>"$dir/cand"
	done
	local bw cw bc cc
	bw=$(cut -d' ' -f1 "$dir/base" | median); cw=$(cut -d' ' -f1 "$dir/cand" | median)
	bc=$(cut -d' ' -f2 "$dir/base" | median); cc=$(cut -d' ' -f2 "$dir/cand" | median)
	printf '| %s | %.3f | %.3f | **%.2f** | %.3f | %.3f | %.2f | %s / %s | %s |\n' "$name" \
		"$bw" "$cw" "$(echo "$cw / $bw" | bc -l)" "$bc" "$cc" "$(echo "$cc / $bc" | bc -l)" \
		"$(calls "$base")" "$(calls "$cand")" "$(punts "$cand")"
	{
		printf '02-liburing-cat\t%s: cat\twall_s\t%s\n' "$name" "$bw"
		printf '02-liburing-cat\t%s: uring-cat\twall_s\t%s\n' "$name" "$cw"
		printf '02-liburing-cat\t%s\twall_ratio\t%s\n' "$name" "$(echo "$cw / $bw" | bc -l)"
		printf '02-liburing-cat\t%s: cat\tcpu_s\t%s\n' "$name" "$bc"
		printf '02-liburing-cat\t%s: uring-cat\tcpu_s\t%s\n' "$name" "$cc"
	} >>bench.tsv
}

printf '### 02-liburing-cat: uring-cat vs cat, %d MiB file\n\n' "$MIB"
printf '%s, Linux %s, %d vCPUs shared with other work; median of %d alternating runs,\n' \
	"$(date -u +%Y-%m-%d)" "$(uname -r)" "$(nproc)" "$RUNS"
printf 'each program pinned with taskset; cpu = task-clock of every process and thread; syscalls\n'
printf 'from strace -f -c (including the shell); punts = io_uring:io_uring_queue_async_work\n\n'
printf '| case | cat wall s | uring-cat wall s | wall ratio | cat cpu s | uring-cat cpu s | cpu ratio | syscalls cat / uring-cat | io-wq punts |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
compare "tmpfs to /dev/null" \
	"taskset -c 1 cat $src >/dev/null" \
	"taskset -c 1 ./uring-cat $src >/dev/null"
compare "tmpfs through a pipe" \
	"taskset -c 0 cat $src | taskset -c 1 cat >/dev/null" \
	"taskset -c 0 ./uring-cat $src | taskset -c 1 cat >/dev/null"
compare "pipe in, /dev/null out" \
	"taskset -c 0 cat $src | taskset -c 1 cat >/dev/null" \
	"taskset -c 0 cat $src | taskset -c 1 ./uring-cat >/dev/null"
# The same file in ext4's page cache: reads complete inline, no worker.
disk=$(mktemp -d /var/tmp/uring-cat-bench.XXXXXX)
trap 'rm -rf "$dir" "$disk"' EXIT
cp "$src" "$disk/src" && cat "$disk/src" >/dev/null
compare "ext4 page cache to /dev/null" \
	"taskset -c 1 cat $disk/src >/dev/null" \
	"taskset -c 1 ./uring-cat $disk/src >/dev/null"
rm -rf "$disk"

[ "$SWEEP" = 1 ] || exit 0
head -c $((256 * 1024 * 1024)) "$src" >"$dir/sweep.src"
rm -f "$src"
printf '\n#### uring-cat, 256 MiB from tmpfs to /dev/null, by -q and -b: median of 5 runs, wall s / cpu s\n\n'
blocks="16k 64k 128k 512k 1m"
printf '| -q \\ -b |'; for b in $blocks; do printf ' %s |' "$b"; done; printf '\n|---|'
for b in $blocks; do printf -- '---|'; done; printf '\n'
sweep_cell() {
	: >"$dir/sweep"
	for i in 1 2 3 4 5; do secs "$1" >>"$dir/sweep"; done
	w=$(cut -d' ' -f1 "$dir/sweep" | median); c=$(cut -d' ' -f2 "$dir/sweep" | median)
}
for q in 1 2 4 8 16 32; do
	printf '| %s |' "$q"
	for b in $blocks; do
		sweep_cell "taskset -c 1 ./uring-cat -q $q -b $b $dir/sweep.src >/dev/null"
		printf ' %.3f / %.3f |' "$w" "$c"
		printf '02-liburing-cat\tsweep q%s b%s\twall_s\t%s\n' "$q" "$b" "$w" >>bench.tsv
		printf '02-liburing-cat\tsweep q%s b%s\tcpu_s\t%s\n' "$q" "$b" "$c" >>bench.tsv
	done
	printf '\n'
done
sweep_cell "taskset -c 1 cat $dir/sweep.src >/dev/null"
printf '\ncat on the same file: %.3f / %.3f\n' "$w" "$c"
