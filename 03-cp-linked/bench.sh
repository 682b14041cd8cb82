#!/bin/bash
# bench.sh: cp-linked side by side with its baselines (what `make bench` runs).
#
#   ./bench.sh          the comparisons, where the time goes, the sweep
#   ./bench.sh compare  only the comparisons      ./bench.sh sweep  only the sweep
#
# Environment: SIZE_MB (default 512), RUNS (default 7), SWEEP_RUNS (3),
# SHM_DIR (/dev/shm), DISK_DIR (/tmp, must be a disk file system for O_DIRECT).
#
# Method: the two commands of a comparison run in turn, A B A B ..., after
# one warm-up run each, so noise from other jobs on the machine hits both
# alike; the tables show medians, and the ratio is the median of the
# per-pair time ratios. Every run writes over the DST of the previous run;
# all the programs here truncate it first (dd and cp open it with O_TRUNC,
# cp-linked calls ftruncate), so each run frees the old copy's pages and
# fills fresh ones: the same work for every command. CPU is user+sys of all
# threads, io-wq workers included. Each comparison prints its limit beside
# it: the same comparison pinned to one CPU for tmpfs (no cross-CPU wake-up
# of the io-wq worker), fio's O_DIRECT read bandwidth, measured in the same
# run, for the direct copy.
set -euo pipefail
cd "$(dirname "$0")"

SIZE_MB=${SIZE_MB:-512}
RUNS=${RUNS:-7}
SWEEP_RUNS=${SWEEP_RUNS:-3}
SHM=${SHM_DIR:-/dev/shm}/cp-linked-bench.$$
DISK=${DISK_DIR:-/tmp}/cp-linked-bench.$$
DISK_DIR_SHOWN=${DISK_DIR:-/tmp}
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
	A_MIN=$(cut -d' ' -f1 "$SHM/a" | sort -g | head -n 1)
	A_MAX=$(cut -d' ' -f1 "$SHM/a" | sort -g | tail -n 1)
	B_WALL=$(cut -d' ' -f1 "$SHM/b" | median); B_CPU=$(cut -d' ' -f2 "$SHM/b" | median)
	RATIO=$(median <"$SHM/r")
	A_LABEL=$la; B_LABEL=$lb
}

mbs() { awk -v s="$1" -v m="$SIZE_MB" 'BEGIN { printf "%.0f", (s > 0 ? m * 1.048576 / s : 0) }'; }

# times R WHO: a time ratio in words that say which way it goes.
times() {
	awk -v r="$1" -v who="$2" 'BEGIN {
		way = "the same"
		if (r < 0.995) way = "faster"
		if (r > 1.005) way = "slower"
		printf "%.2f x %s time (%s)", r, who, way }'
}

# row CASE LIMIT GOAL: one markdown row and bench.tsv lines for the last pair.
row() {
	printf '| %s | `%s` %s s (%s MB/s, cpu %s s) | `%s` %s s (%s MB/s, cpu %s s) | **%s** | %s | %s |\n' \
		"$1" "$A_LABEL" "$A_WALL" "$(mbs "$A_WALL")" "$A_CPU" \
		"$B_LABEL" "$B_WALL" "$(mbs "$B_WALL")" "$B_CPU" "$(times "$RATIO" "$B_LABEL's")" "$2" "$3"
	tsv "$1" wall_s "$A_WALL"
	tsv "$1" baseline_wall_s "$B_WALL"
	tsv "$1" ratio "$RATIO"
}

tsv() {	# tsv CASE METRIC VALUE
	printf '03-cp-linked\t%s\t%s\t%s\n' "$1" "$2" "$3" >>"$TSV"
}

# fio_mbs RW DIR: fio's O_DIRECT bandwidth in MB/s with the io_uring engine,
# 1 MiB blocks, 16 in flight, SIZE_MB of DIR/src (read) or DIR/fio (write).
fio_mbs() {
	local file=$2/src
	[ "$1" = read ] || file=$2/fio
	timeout 300 fio --name=limit --filename="$file" --rw="$1" --bs=1M --direct=1 \
		--ioengine=io_uring --iodepth=16 --size="${SIZE_MB}M" --output-format=json 2>/dev/null |
		awk -v rw="\"$1\"" '$1 == rw && $2 == ":" { inside = 1 } inside && $1 == "\"bw_bytes\"" {
			gsub(/,/, "", $3); printf "%.0f\n", $3 / 1e6; exit }'
	rm -f "$2/fio"
}

make_src() {	# make_src DIR: SIZE_MB of random bytes, read once so it is cached
	dd if=/dev/urandom of="$1/src" bs=1M count="$SIZE_MB" status=none
	cat "$1/src" >/dev/null
}

compare() {
	local pin_ratio spread fio_r fio_w frac
	echo "## cp-linked vs baselines: $SIZE_MB MiB, $RUNS alternating runs, medians ($(date -u '+%F %H:%M'), $(nproc) vCPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg))"
	echo
	echo "| case | cp-linked | baseline | cp-linked's time as a multiple of the baseline's | limit | goal |"
	echo "|---|---|---|---|---|---|"
	make_src "$SHM"
	# tmpfs: first pinned to one CPU (the limit), then as a reader runs it.
	pair "$RUNS" "cp-linked" taskset -c 0 "$CL" "$SHM/src" "$SHM/d1" -- \
		"dd bs=128k" taskset -c 0 dd if="$SHM/src" of="$SHM/d2" bs=128k status=none
	pin_ratio=$RATIO
	tsv "tmpfs read/write vs dd, pinned" ratio "$pin_ratio"
	tsv "tmpfs read/write vs dd, pinned" wall_s "$A_WALL"
	pair "$RUNS" "cp-linked" "$CL" "$SHM/src" "$SHM/d1" -- \
		"dd bs=128k" dd if="$SHM/src" of="$SHM/d2" bs=128k status=none
	spread=$(awk -v a="$A_MIN" -v b="$A_MAX" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')
	row "tmpfs read/write vs dd" "pinned to one CPU: $(times "$pin_ratio" "dd's"); slowest of $RUNS unpinned runs $spread x the fastest" \
		"<= 1.2 x dd's time; slowest <= 1.3 x fastest"
	tsv "tmpfs read/write vs dd" spread "$spread"
	pair "$RUNS" "cp-linked -b 1M" "$CL" -b 1M "$SHM/src" "$SHM/d1" -- \
		"dd bs=128k" dd if="$SHM/src" of="$SHM/d2" bs=128k status=none
	spread=$(awk -v a="$A_MIN" -v b="$A_MAX" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')
	row "tmpfs read/write -b 1M vs dd" "slowest of $RUNS runs $spread x the fastest" "(a remedy tried: 8 x fewer punted writes)"
	tsv "tmpfs read/write -b 1M vs dd" spread "$spread"
	pair "$RUNS" "cp-linked --splice" "$CL" --splice -b 1M "$SHM/src" "$SHM/d3" -- \
		"cp" cp "$SHM/src" "$SHM/d4"
	row "tmpfs splice vs cp" "-" "<= 1.2 x cp's time"
	cmp "$SHM/src" "$SHM/d1" && cmp "$SHM/src" "$SHM/d3"
	rm -f "$SHM"/*

	make_src "$DISK"
	fio_r=$(fio_mbs read "$DISK"); fio_w=$(fio_mbs write "$DISK")
	tsv "ext4 O_DIRECT limit" fio_read_mbs "$fio_r"
	tsv "ext4 O_DIRECT limit" fio_write_mbs "$fio_w"
	pair "$RUNS" "cp-linked --direct" "$CL" --direct "$DISK/src" "$DISK/d1" -- \
		"dd direct bs=1M" dd if="$DISK/src" of="$DISK/d2" bs=1M iflag=direct oflag=direct status=none
	frac=$(awk -v m="$(mbs "$A_WALL")" -v f="$fio_r" 'BEGIN { printf "%.2f", (f > 0 ? m / f : 0) }')
	row "ext4 O_DIRECT vs dd 1M" "fio O_DIRECT read $fio_r MB/s, write $fio_w MB/s: the copy moves $frac x fio's read rate" \
		">= 0.85 x fio's read rate; <= 0.75 x dd's time"
	tsv "ext4 O_DIRECT vs dd 1M" fraction_of_fio_read "$frac"
	pair "$RUNS" "cp-linked --direct -b 128k" "$CL" --direct -b 128k "$DISK/src" "$DISK/d1" -- \
		"dd direct bs=128k" dd if="$DISK/src" of="$DISK/d2" bs=128k iflag=direct oflag=direct status=none
	row "ext4 O_DIRECT 128k vs dd 128k" "-" "(the block size dd is weakest at)"
	cmp "$DISK/src" "$DISK/d1"
	rm -f "$DISK"/*
	echo
	echo "fio: io_uring engine, O_DIRECT, 1 MiB blocks, 16 in flight, on the file system of $DISK_DIR_SHOWN."
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
	echo "--direct on ext4 ($DISK_DIR_SHOWN; the default is -q 16 -b 1M): every cell once per round, $SWEEP_RUNS rounds, so load hits all cells alike"
	echo
	local qs="1 2 4 16" bs="128k 1M 4M 8M" r
	for ((r = 0; r < SWEEP_RUNS; r++)); do
		for q in $qs; do
			for b in $bs; do
				once "$CL" --direct -q "$q" -b "$b" "$DISK/src" "$DISK/d" | cut -d' ' -f1 >>"$SHM/sweep.$q.$b"
			done
		done
	done
	echo "| -q \\ -b | 128k | 1M | 4M | 8M |"
	echo "|---|---|---|---|---|"
	for q in $qs; do
		printf '| %s |' "$q"
		for b in $bs; do
			printf ' %s |' "$(median <"$SHM/sweep.$q.$b")"
		done
		echo
	done
	rm -f "$SHM"/sweep.*
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
