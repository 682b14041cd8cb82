#!/bin/bash
# bench.sh: cp-linked side by side with its baselines (what `make bench` runs).
#
#   ./bench.sh          the three comparisons, then the depth x block sweep
#   ./bench.sh compare  only the comparisons      ./bench.sh sweep  only the sweep
#
# Environment: SIZE_MB (default 512), RUNS (default 7), SWEEP_RUNS (3),
# SHM_DIR (/dev/shm), DISK_DIR (/tmp, must be a disk file system for O_DIRECT).
#
# Method (see ../../shared notes on this machine): commands run in turn,
# A B A B ..., after one warm-up run each, so noise from the other tenants
# of this 2-vCPU VM hits both sides alike; the table shows medians. Every
# run overwrites a DST that already exists, as cp-linked truncates it first:
# that keeps the cost of fresh page-cache pages (about 11 us a page here)
# out of the comparison. CPU is user+sys of all threads, io-wq workers too.
set -euo pipefail
cd "$(dirname "$0")"

SIZE_MB=${SIZE_MB:-512}
RUNS=${RUNS:-7}
SWEEP_RUNS=${SWEEP_RUNS:-3}
SHM=${SHM_DIR:-/dev/shm}/cp-linked-bench.$$
DISK=${DISK_DIR:-/tmp}/cp-linked-bench.$$
CL=${CL:-$PWD/cp-linked}
TSV=$PWD/bench.tsv
WHAT=${1:-all}

cleanup() { rm -rf "$SHM" "$DISK"; }
trap cleanup EXIT
mkdir -p "$SHM" "$DISK"

# median: the middle value of the numbers on stdin.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# once CMD: run it, print "wall cpu" in seconds; a failed run aborts the bench.
once() {
	/usr/bin/time -o "$SHM/time" -f '%e %U %S' timeout 300 "$@" >/dev/null
	awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$SHM/time"
}

# pair N LABEL_A CMD_A -- LABEL_B CMD_B: N alternating runs after a warm-up
# of each; sets A_WALL A_CPU B_WALL B_CPU (medians) and RATIO (median of
# the per-pair ratios A/B, wall).
pair() {
	local n=$1 la=$2; shift 2
	local a=() b=() i wa wb ca cb
	while [ "$1" != "--" ]; do a+=("$1"); shift; done
	shift
	local lb=$1; shift
	b=("$@")
	: >"$SHM/a" ; : >"$SHM/b"; : >"$SHM/r"
	once "${a[@]}" >/dev/null; once "${b[@]}" >/dev/null
	for ((i = 0; i < n; i++)); do
		read -r wa ca < <(once "${a[@]}")
		read -r wb cb < <(once "${b[@]}")
		echo "$wa $ca" >>"$SHM/a"; echo "$wb $cb" >>"$SHM/b"
		awk -v x="$wa" -v y="$wb" 'BEGIN { printf "%.3f\n", (y > 0 ? x / y : 0) }' >>"$SHM/r"
	done
	A_WALL=$(cut -d' ' -f1 "$SHM/a" | median); A_CPU=$(cut -d' ' -f2 "$SHM/a" | median)
	B_WALL=$(cut -d' ' -f1 "$SHM/b" | median); B_CPU=$(cut -d' ' -f2 "$SHM/b" | median)
	RATIO=$(median <"$SHM/r")
	A_LABEL=$la; B_LABEL=$lb
}

mbs() { awk -v s="$1" -v m="$SIZE_MB" 'BEGIN { printf "%.0f", (s > 0 ? m * 1.048576 / s : 0) }'; }

row() {	# row CASE TARGET: one markdown row and bench.tsv lines for the last pair
	printf '| %s | `%s` %s s (%s MB/s, cpu %s s) | `%s` %s s (%s MB/s, cpu %s s) | **%s** | %s |\n' \
		"$1" "$A_LABEL" "$A_WALL" "$(mbs "$A_WALL")" "$A_CPU" \
		"$B_LABEL" "$B_WALL" "$(mbs "$B_WALL")" "$B_CPU" "$RATIO" "$2"
	printf '03-cp-linked\t%s\twall_s\t%s\n03-cp-linked\t%s\tbaseline_wall_s\t%s\n03-cp-linked\t%s\tratio\t%s\n' \
		"$1" "$A_WALL" "$1" "$B_WALL" "$1" "$RATIO" >>"$TSV"
}

make_src() {	# make_src DIR: SIZE_MB of random bytes, read once so it is cached
	dd if=/dev/urandom of="$1/src" bs=1M count="$SIZE_MB" status=none
	cat "$1/src" >/dev/null
}

compare() {
	echo "## cp-linked vs baselines: $SIZE_MB MiB, $RUNS alternating runs, medians ($(date -u '+%F %H:%M'), $(nproc) vCPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg))"
	echo
	echo "| case | cp-linked | baseline | time ratio (cp-linked/baseline) | target |"
	echo "|---|---|---|---|---|"
	make_src "$SHM"
	pair "$RUNS" "cp-linked" "$CL" "$SHM/src" "$SHM/d1" -- \
		"dd bs=128k" dd if="$SHM/src" of="$SHM/d2" bs=128k status=none
	row "tmpfs read/write vs dd" "<= 1.2"
	pair "$RUNS" "cp-linked --splice" "$CL" --splice -b 1M "$SHM/src" "$SHM/d3" -- \
		"cp" cp "$SHM/src" "$SHM/d4"
	row "tmpfs splice vs cp" "<= 1.2"
	cmp "$SHM/src" "$SHM/d1" && cmp "$SHM/src" "$SHM/d3"
	rm -f "$SHM"/*

	make_src "$DISK"
	pair "$RUNS" "cp-linked --direct -b 1M" "$CL" --direct -b 1M "$DISK/src" "$DISK/d1" -- \
		"dd direct bs=1M" dd if="$DISK/src" of="$DISK/d2" bs=1M iflag=direct oflag=direct status=none
	row "ext4 O_DIRECT 1M vs dd" "<= 0.5 (2x throughput)"
	pair "$RUNS" "cp-linked --direct -b 128k" "$CL" --direct -b 128k "$DISK/src" "$DISK/d1" -- \
		"dd direct bs=128k" dd if="$DISK/src" of="$DISK/d2" bs=128k iflag=direct oflag=direct status=none
	row "ext4 O_DIRECT 128k vs dd" "<= 0.5 (2x throughput)"
	cmp "$DISK/src" "$DISK/d1"
	rm -f "$DISK"/*
	echo
}

# The why: syscalls, context switches and io-wq punts of one run each.
why() {
	local f=$1; shift
	perf stat -x, -e syscalls:sys_enter_io_uring_enter,raw_syscalls:sys_enter,context-switches,io_uring:io_uring_queue_async_work,task-clock \
		-o "$SHM/perf" "$@" >/dev/null 2>&1 || { echo "| \`$f\` | (perf stat failed) |"; return; }
	awk -F, -v f="$f" '
		$3 ~ /io_uring_enter/ { e = $1 } $3 ~ /raw_syscalls/ { s = $1 }
		$3 ~ /context-switches/ { c = $1 } $3 ~ /queue_async_work/ { q = $1 } $3 ~ /task-clock/ { t = $1 }
		END { printf "| `%s` | %s | %s | %s | %s | %.0f |\n", f, s, e, q, c, t }' "$SHM/perf"
}

explain() {
	command -v perf >/dev/null || { echo "(perf not installed: no syscall table)"; return; }
	echo "## Where the time goes: one run each, perf stat ($SIZE_MB MiB on tmpfs)"
	echo
	echo "| command | syscalls | io_uring_enter | io-wq punts | context switches | task-clock ms |"
	echo "|---|---|---|---|---|---|"
	make_src "$SHM"
	why "dd bs=128k" dd if="$SHM/src" of="$SHM/d" bs=128k status=none
	why "cp" cp "$SHM/src" "$SHM/d"
	why "cp-linked" "$CL" "$SHM/src" "$SHM/d"
	why "cp-linked -q 1" "$CL" -q 1 "$SHM/src" "$SHM/d"
	why "cp-linked --splice -b 1M" "$CL" --splice -b 1M "$SHM/src" "$SHM/d"
	rm -f "$SHM"/*
	echo
}

sweep() {
	local q b
	echo "## Queue depth x block size: median wall s of $SWEEP_RUNS runs ($SIZE_MB MiB)"
	echo
	make_src "$SHM"
	echo "read/write on tmpfs (dd bs=128k for scale: see above)"
	echo
	echo "| -q \\ -b | 16k | 128k | 1M |"
	echo "|---|---|---|---|"
	for q in 1 4 16 64; do
		printf '| %s |' "$q"
		for b in 16k 128k 1M; do
			printf ' %s |' "$(for ((i = 0; i < SWEEP_RUNS; i++)); do once "$CL" -q "$q" -b "$b" "$SHM/src" "$SHM/d"; done | cut -d' ' -f1 | median)"
		done
		echo
	done
	rm -f "$SHM"/*
	echo
	make_src "$DISK"
	echo "--direct on ext4 (/tmp)"
	echo
	echo "| -q \\ -b | 128k | 1M | 4M |"
	echo "|---|---|---|---|"
	for q in 1 4 16; do
		printf '| %s |' "$q"
		for b in 128k 1M 4M; do
			printf ' %s |' "$(for ((i = 0; i < SWEEP_RUNS; i++)); do once "$CL" --direct -q "$q" -b "$b" "$DISK/src" "$DISK/d"; done | cut -d' ' -f1 | median)"
		done
		echo
	done
	rm -f "$DISK"/*
	echo
}

: >"$TSV"
case $WHAT in
all) compare; explain; sweep ;;
compare) compare ;;
why) explain ;;
sweep) sweep ;;
*) echo "usage: $0 [all|compare|why|sweep]" >&2; exit 2 ;;
esac
