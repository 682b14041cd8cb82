#!/bin/bash
# make bench: raw-cat against coreutils cat (and dd reading raw-cat's 32 KiB
# at a time), to /dev/null, on the same file in tmpfs and in the page cache
# of the disk's file system (ext4 on Debian):
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

# The programs, by the name the table gives them: raw-cat; cat, which
# reads 128 KiB at a time; and dd reading 32 KiB at a time, raw-cat's read
# size, with read(2) and write(2).
NAMES=(raw-cat cat "dd bs=32k")
# cmd NAME FILE: the command line of that program on FILE, in CMD
cmd() {
	case $1 in
	raw-cat) CMD=(./raw-cat "$2") ;;
	cat) CMD=(cat "$2") ;;
	"dd bs=32k") CMD=(dd if="$2" bs=32k status=none) ;;
	esac
}

# measure LABEL FILE: the rows of one file, and its ratio line
measure() {
	local label=$1 src=$2 n i t
	local -a wall calls
	cat "$src" >/dev/null   # into the page cache, for all alike
	for i in "${!NAMES[@]}"; do
		: >"$shm/times.$i"
		cmd "${NAMES[$i]}" "$src"
		run_once "${CMD[@]}" >/dev/null   # warm-up
	done
	for _ in $(seq "$RUNS"); do
		for i in "${!NAMES[@]}"; do
			cmd "${NAMES[$i]}" "$src"
			run_once "${CMD[@]}" >>"$shm/times.$i"
		done
	done
	for i in "${!NAMES[@]}"; do
		n=${NAMES[$i]}
		wall[i]=$(median <"$shm/times.$i")
		cmd "$n" "$src"
		calls[i]=$(syscalls "${CMD[@]}")
		t=${wall[i]}
		printf '| %s | %s | %.3f | %.0f | %s | %s | %s |\n' "$label" "$n" "$t" \
			"$(echo "$MIB * 1.048576 / $t" | bc -l)" "${calls[i]}" $(handoffs "${CMD[@]}")
		printf '01-raw-syscalls\t%s: %s\twall_s\t%s\n' "$label" "$n" "$t" >>bench.tsv
		printf '01-raw-syscalls\t%s: %s\tsyscalls\t%s\n' "$label" "$n" "${calls[i]}" >>bench.tsv
	done
	printf '%s: raw-cat/cat wall %.2f, system calls %.2f; dd bs=32k/cat wall %.2f\n' "$label" \
		"$(echo "${wall[0]} / ${wall[1]}" | bc -l)" "$(echo "${calls[0]} / ${calls[1]}" | bc -l)" \
		"$(echo "${wall[2]} / ${wall[1]}" | bc -l)" >>"$shm/ratios"
}

: >bench.tsv; : >"$shm/ratios"
disk_fs=$(findmnt -n -o FSTYPE -T "$disk" || stat -f -c %T "$disk")
printf '### 01-raw-syscalls: raw-cat vs cat, %d MiB to /dev/null, median of %d runs\n\n' "$MIB" "$RUNS"
printf 'io-wq punts: reads io_uring handed to a kernel worker thread (io_uring:io_uring_queue_async_work); context switches: of the program and its threads, workers included (perf stat)\n\n'
printf '| file in | program | wall s | MB/s | system calls | io-wq punts | context switches |\n'
printf '|---|---|---|---|---|---|---|\n'
measure tmpfs "$shm/src"
measure "$disk_fs page cache" "$disk/src"
printf '\nratios:\n\n'
sed 's/^/- /' "$shm/ratios"
