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
# it: for tmpfs the same comparison pinned to one CPU, the copy without
# IOSQE_ASYNC on its reads (--async-reads=never, the path before it), and
# dd's own spread (how much this machine moves a run that does not change);
# for the direct copy fio on the same disk in the same run: reading alone,
# writing alone, and reading and writing at once, which is a copy's work
# without the wait of each write for its read: the disk's limit for a copy.
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
	B_MIN=$(cut -d' ' -f1 "$SHM/b" | sort -g | head -n 1)
	B_MAX=$(cut -d' ' -f1 "$SHM/b" | sort -g | tail -n 1)
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

# fio_secs DIR read|write|both: seconds fio takes, with the io_uring engine,
# O_DIRECT, 1 MiB blocks, 16 in flight, to read SIZE_MB of DIR/src, to
# write as much to DIR/fio, or to do both at the same time (two jobs; the
# time is the slower job's). fio's terse format: field 9 is a job's read
# time in ms, field 50 its write time.
fio_secs() {
	local jobs=()
	[ "$2" = write ] || jobs+=(--name=read --rw=read --filename="$1/src")
	[ "$2" = read ] || jobs+=(--name=write --rw=write --filename="$1/fio")
	timeout 300 fio --output-format=terse --terse-version=3 --ioengine=io_uring --direct=1 \
		--bs=1M --iodepth=16 --size="${SIZE_MB}M" "${jobs[@]}" 2>/dev/null |
		awk -F';' '{ t = $9 > $50 ? $9 : $50; if (t > m) m = t } END { printf "%.3f\n", m / 1000 }'
	rm -f "$1/fio"
}

# fio_limits DIR: FIO_READ FIO_WRITE FIO_BOTH, medians of 3 rounds of the
# three fio runs.
fio_limits() {
	local i w
	: >"$SHM/fr"; : >"$SHM/fw"; : >"$SHM/fb"
	for ((i = 0; i < 3; i++)); do
		for w in read write both; do
			fio_secs "$1" $w >>"$SHM/f${w:0:1}"
		done
	done
	FIO_READ=$(median <"$SHM/fr"); FIO_WRITE=$(median <"$SHM/fw"); FIO_BOTH=$(median <"$SHM/fb")
}

# x A B: A / B to two places.
x() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

make_src() {	# make_src DIR: SIZE_MB of random bytes, read once so it is cached
	dd if=/dev/urandom of="$1/src" bs=1M count="$SIZE_MB" status=none
	cat "$1/src" >/dev/null
}

compare() {
	local pin_ratio dd_spread spread frac
	echo "## cp-linked vs baselines: $SIZE_MB MiB, $RUNS alternating runs, medians ($(date -u '+%F %H:%M'), $(nproc) vCPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg))"
	echo
	echo "| case | cp-linked | baseline | cp-linked's time as a multiple of the baseline's | limit | goal |"
	echo "|---|---|---|---|---|---|"
	make_src "$SHM"
	# tmpfs: first pinned to one CPU (the limit: nothing runs side by
	# side), then the two ways the program ran before its default, then the
	# default, as a reader runs it.
	pair "$RUNS" "cp-linked" taskset -c 0 "$CL" "$SHM/src" "$SHM/d1" -- \
		"dd bs=128k" taskset -c 0 dd if="$SHM/src" of="$SHM/d2" bs=128k status=none
	pin_ratio=$RATIO
	tsv "tmpfs read/write vs dd, pinned" ratio "$pin_ratio"
	tsv "tmpfs read/write vs dd, pinned" wall_s "$A_WALL"
	pair "$RUNS" "cp-linked --async-reads=never" "$CL" --async-reads=never "$SHM/src" "$SHM/d1" -- \
		"dd bs=128k" dd if="$SHM/src" of="$SHM/d2" bs=128k status=none
	row "tmpfs read/write, reads tried inline first, vs dd" "slowest of $RUNS runs $(x "$A_MAX" "$A_MIN") x the fastest" "(one io-wq worker does every read and write)"
	tsv "tmpfs read/write, reads tried inline first, vs dd" spread "$(x "$A_MAX" "$A_MIN")"
	pair "$RUNS" "cp-linked --no-defer-taskrun" "$CL" --no-defer-taskrun "$SHM/src" "$SHM/d1" -- \
		"dd bs=128k" dd if="$SHM/src" of="$SHM/d2" bs=128k status=none
	row "tmpfs read/write, IOSQE_ASYNC reads on a plain ring, vs dd" "slowest of $RUNS runs $(x "$A_MAX" "$A_MIN") x the fastest" "(reads side by side; so are the writes, on one lock)"
	tsv "tmpfs read/write, IOSQE_ASYNC reads on a plain ring, vs dd" spread "$(x "$A_MAX" "$A_MIN")"
	pair "$RUNS" "cp-linked" "$CL" "$SHM/src" "$SHM/d1" -- \
		"dd bs=128k" dd if="$SHM/src" of="$SHM/d2" bs=128k status=none
	spread=$(x "$A_MAX" "$A_MIN")
	dd_spread=$(x "$B_MAX" "$B_MIN")
	row "tmpfs read/write vs dd" "pinned to one CPU: $(times "$pin_ratio" "dd's"); slowest of $RUNS unpinned runs $spread x the fastest, dd's own $dd_spread x" \
		"<= 1.2 x dd's time; slowest <= 1.3 x fastest"
	tsv "tmpfs read/write vs dd" spread "$spread"
	tsv "tmpfs read/write vs dd" dd_spread "$dd_spread"
	pair "$RUNS" "cp-linked --splice" "$CL" --splice -b 1M "$SHM/src" "$SHM/d3" -- \
		"cp" cp "$SHM/src" "$SHM/d4"
	row "tmpfs splice vs cp" "-" "<= 1.2 x cp's time"
	cmp "$SHM/src" "$SHM/d1" && cmp "$SHM/src" "$SHM/d3"
	rm -f "$SHM"/*

	make_src "$DISK"
	fio_limits "$DISK"
	tsv "ext4 O_DIRECT limit" fio_read_s "$FIO_READ"
	tsv "ext4 O_DIRECT limit" fio_write_s "$FIO_WRITE"
	tsv "ext4 O_DIRECT limit" fio_both_s "$FIO_BOTH"
	pair "$RUNS" "cp-linked --direct" "$CL" --direct "$DISK/src" "$DISK/d1" -- \
		"dd direct bs=1M" dd if="$DISK/src" of="$DISK/d2" bs=1M iflag=direct oflag=direct status=none
	frac=$(x "$(mbs "$A_WALL")" "$(mbs "$FIO_READ")")
	row "ext4 O_DIRECT vs dd 1M" "fio: read alone $FIO_READ s ($(mbs "$FIO_READ") MB/s), write alone $FIO_WRITE s, both at once $FIO_BOTH s; the copy moves $frac x fio's read rate and takes $(x "$A_WALL" "$FIO_BOTH") x both at once, dd $(x "$B_WALL" "$FIO_BOTH") x" \
		">= 0.85 x fio's read rate; <= 0.75 x dd's time"
	tsv "ext4 O_DIRECT vs dd 1M" fraction_of_fio_read "$frac"
	tsv "ext4 O_DIRECT vs dd 1M" x_fio_both "$(x "$A_WALL" "$FIO_BOTH")"
	tsv "ext4 O_DIRECT vs dd 1M" dd_x_fio_both "$(x "$B_WALL" "$FIO_BOTH")"
	pair "$RUNS" "cp-linked --direct -b 128k" "$CL" --direct -b 128k "$DISK/src" "$DISK/d1" -- \
		"dd direct bs=128k" dd if="$DISK/src" of="$DISK/d2" bs=128k iflag=direct oflag=direct status=none
	row "ext4 O_DIRECT 128k vs dd 128k" "-" "(the block size dd is weakest at)"
	cmp "$DISK/src" "$DISK/d1"
	rm -f "$DISK"/*
	echo
	echo "fio: io_uring engine, O_DIRECT, 1 MiB blocks, 16 in flight, $SIZE_MB MiB, on the file system of $DISK_DIR_SHOWN; medians of 3 rounds. \"Both at once\" reads the source and writes another file in two jobs at the same time: a copy's reads and writes without the wait of each write for its read."
	echo
}

# spinning CMD...: the share of CMD's CPU samples, in percent, in
# rwsem_spin_on_owner: threads waiting for a lock held by another thread
# that is running (here DST's inode lock, taken by every write).
spinning() {
	perf record -q -o "$SHM/rec" -- "$@" >/dev/null 2>&1 || { echo "-"; return; }
	perf report -i "$SHM/rec" --no-children --sort sym --stdio -q 2>/dev/null |
		awk '$NF == "rwsem_spin_on_owner" { sub(/%/, "", $1); s += $1 } END { printf "%.0f\n", s }'
	rm -f "$SHM/rec"
}

# The why: system calls, io-wq punts and workers, context switches and CPU
# of each command, perf stat's means of 3 runs, and one more run's lock
# spinning.
why() {
	local f=$1 spin; shift
	spin=$(spinning "$@")
	perf stat -r 3 -x, -e syscalls:sys_enter_io_uring_enter,raw_syscalls:sys_enter,context-switches \
		-e io_uring:io_uring_queue_async_work,task:task_newtask,task-clock,duration_time \
		-o "$SHM/perf" "$@" >/dev/null 2>&1 || { echo "| \`$f\` | (perf stat failed) |"; return; }
	awk -F, -v f="$f" '
		$3 ~ /io_uring_enter/ { e = $1 } $3 ~ /raw_syscalls/ { s = $1 }
		$3 ~ /context-switches/ { c = $1 } $3 ~ /queue_async_work/ { q = $1 }
		$3 ~ /task_newtask/ { w = $1 } $3 ~ /task-clock/ { t = $1 } $3 ~ /duration_time/ { d = $1 / 1e6 }
		END { printf "| `%s` | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %s |\n",
			f, s, e, q, w, c, t, d, (d > 0 ? t / d : 0), spin }' spin="$spin" "$SHM/perf"
}

explain() {
	command -v perf >/dev/null || { echo "(perf not installed: no syscall table)"; return; }
	echo "## Where the time goes: perf stat, means of 3 runs ($SIZE_MB MiB on tmpfs)"
	echo
	echo "| command | syscalls | io_uring_enter | io-wq punts | threads started (io-wq workers) | context switches | CPU ms | wall ms | CPUs busy | % of CPU spinning on a lock |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	make_src "$SHM"
	why "dd bs=128k" dd if="$SHM/src" of="$SHM/d" bs=128k status=none
	why "cp" cp "$SHM/src" "$SHM/d"
	why "cp-linked" "$CL" "$SHM/src" "$SHM/d"
	why "cp-linked --no-defer-taskrun" "$CL" --no-defer-taskrun "$SHM/src" "$SHM/d"
	why "cp-linked --async-reads=never" "$CL" --async-reads=never "$SHM/src" "$SHM/d"
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
