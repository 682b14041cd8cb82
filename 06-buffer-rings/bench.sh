#!/usr/bin/env bash
# bench.sh: bufring-echo against 05's echo-server (io_uring, a buffer per
# connection) and epoll-echo (readiness), under the same load client.
#
#   round trips/s and server CPU per round trip at CONNS x SIZES, REPS runs
#   each, a fresh server per run, server pinned to CPU 1 and the client to
#   CPU 0; then the resident memory of each server holding IDLE idle
#   connections. Prints markdown tables; writes bench.tsv.
#
# Knobs: REPS=3 DUR=3 CONNS="1 50 500" SIZES="64 4096" IDLE=5000
set -u
cd "$(dirname "$0")"
REPS=${REPS:-3} DUR=${DUR:-3} CONNS=${CONNS:-"1 50 500"}
SIZES=${SIZES:-"64 4096"} IDLE=${IDLE:-5000}
LOAD=../tests/echo-load
SRV_CPU=${SRV_CPU:-1} CLI_CPU=${CLI_CPU:-0}
RAW=$(mktemp /dev/shm/bufring-bench.XXXXXX)
trap 'rm -f "$RAW" "$RAW".*; [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null' EXIT

make -s -C ../tests >/dev/null || exit 1
make -s >/dev/null || exit 1
make -s -C ../05-echo-server >/dev/null 2>&1 || true
ulimit -n "$(ulimit -Hn)"
# The legacy design of exercise 02 (IORING_OP_PROVIDE_BUFFERS), built aside:
# its starter (a diff against bufring-echo.c), then its reference solution
# (a diff against the starter).
{ patch -s -f -F0 -r - -o "$RAW.legacy-start.c" bufring-echo.c exercises/02-provide-buffers.diff &&
  patch -s -f -F0 -r - -o "$RAW.legacy.c" "$RAW.legacy-start.c" exercises/solutions/02-provide-buffers.diff; } </dev/null ||
	{ echo "bench: exercises/02-provide-buffers.diff or its solution no longer applies" >&2; exit 1; }
cc -std=gnu11 -O2 -I. -o "$RAW.legacy" "$RAW.legacy.c" -luring || exit 1
NAMES=(bufring-echo echo-server epoll-echo provide-buffers)
declare -A CMD=([bufring-echo]=./bufring-echo
	[echo-server]=../05-echo-server/echo-server
	[epoll-echo]=../05-echo-server/epoll-echo
	[provide-buffers]=$RAW.legacy)
for n in "${NAMES[@]}"; do
	[ -x "${CMD[$n]}" ] || { echo "bench: ${CMD[$n]} missing (make -C ../05-echo-server)" >&2; exit 1; }
done

# start NAME: the server pinned to SRV_CPU on a free port; sets PORT, SPID.
start() {
	: >"$RAW.out"   # now, not in the background job: no stale port read
	taskset -c "$SRV_CPU" "${CMD[$1]}" -p 0 >"$RAW.out" 2>"$RAW.err" &
	SPID=$!
	for _ in $(seq 100); do
		PORT=$(sed -n 's/^listening on 127\.0\.0\.1://p' "$RAW.out")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	echo "bench: $1 did not start" >&2
	exit 1
}

stop() {
	kill -TERM "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	SPID=
}

# field NAME LINE: value of NAME= in an echo-load RESULT line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

echo "bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), load average $(cut -d" " -f1-3 /proc/loadavg); $REPS runs of ${DUR}s per cell" >&2
for rep in $(seq "$REPS"); do
	for c in $CONNS; do
		for s in $SIZES; do
			for n in "${NAMES[@]}"; do
				start "$n"
				r=$(taskset -c "$CLI_CPU" timeout 90 "$LOAD" -p "$PORT" -c "$c" -s "$s" \
					-d "$DUR" -T 30 -P "$SPID" 2>/dev/null)
				st=$?
				stop
				ok=1
				if [ $st -ne 0 ]; then
					ok=0
					echo "bench: $n $c x $s: exit $st: $r" >&2
				fi
				printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$c" "$s" \
					"$(field rt_per_s "$r")" "$(field srv_us_per_rt "$r")" "$ok" >>"$RAW"
				printf '.' >&2
			done
		done
	done
	for n in "${NAMES[@]}"; do
		start "$n"
		rss0=$(awk '/^VmRSS/{print $2}' "/proc/$SPID/status")
		r=$(taskset -c "$CLI_CPU" timeout 120 "$LOAD" -p "$PORT" -c "$IDLE" -n 1 -i 3 \
			-T 60 -P "$SPID" 2>/dev/null)
		st=$?
		stop
		printf 'rss\t%s\t%s\t%s\t%s\n' "$n" "$rss0" "$(field srv_rss_kb "$r")" "$([ $st -eq 0 ] && echo 1 || echo 0)" >>"$RAW"
		printf '.' >&2
	done
done
echo >&2

# Medians, ratios, tables, bench.tsv.
awk -F'\t' -v conns="$CONNS" -v sizes="$SIZES" -v idle="$IDLE" '
function median(key,   n, i, j, t, a) {
	n = split(vals[key], a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n ? (n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2) : 0
}
function add(key, v) { vals[key] = vals[key] " " v }
$1 == "rss" { add("rss0 " $2, $3); add("rss " $2, $4); if (!$5) bad["rss " $2] = 1; next }
{ k = $1 " " $2 " " $3; add("rt " k, $4); add("cpu " k, $5); if (!$6) bad[k] = 1 }
END {
	split("bufring-echo echo-server epoll-echo provide-buffers", S, " ")
	nc = split(conns, C, " "); ns = split(sizes, Z, " ")
	print "| conns x size | bufring-echo rt/s | echo-server rt/s | epoll-echo rt/s | bufring/epoll | echo-server/epoll | bufring us/rt | echo-server us/rt | epoll us/rt | bufring CPU/epoll |"
	print "|---|---|---|---|---|---|---|---|---|---|"
	for (i = 1; i <= nc; i++) for (j = 1; j <= ns; j++) {
		c = C[i]; z = Z[j]; row = "| " c " x " z " B"
		for (m = 1; m <= 4; m++) {
			k = S[m] " " c " " z; rt[m] = median("rt " k); cpu[m] = median("cpu " k)
			printf "06-buffer-rings\t%s/%sx%s\trt_per_s\t%d\n", S[m], c, z, rt[m] > "bench.tsv.new"
			printf "06-buffer-rings\t%s/%sx%s\tsrv_us_per_rt\t%.2f\n", S[m], c, z, cpu[m] > "bench.tsv.new"
		}
		for (m = 1; m <= 3; m++) row = row sprintf(" | %d%s", rt[m], bad[S[m] " " c " " z] ? " (FAIL)" : "")
		row = row sprintf(" | %.2f | %.2f", rt[3] ? rt[1] / rt[3] : 0, rt[3] ? rt[2] / rt[3] : 0)
		for (m = 1; m <= 3; m++) row = row sprintf(" | %.2f", cpu[m])
		row = row sprintf(" | %.2f |", cpu[3] ? cpu[1] / cpu[3] : 0)
		print row
		printf "06-buffer-rings\t%sx%s\trt_ratio_bufring_epoll\t%.3f\n", c, z, rt[3] ? rt[1] / rt[3] : 0 > "bench.tsv.new"
		printf "06-buffer-rings\t%sx%s\tcpu_ratio_bufring_epoll\t%.3f\n", c, z, cpu[3] ? cpu[1] / cpu[3] : 0 > "bench.tsv.new"
		gen[++ng] = sprintf("| %s x %s B | %d | %d | %.2f | %.2f | %.2f | %.2f |", c, z, rt[1], rt[4],
			rt[4] ? rt[1] / rt[4] : 0, cpu[1], cpu[4], cpu[4] ? cpu[1] / cpu[4] : 0)
	}
	print ""
	print "| conns x size | ring rt/s | PROVIDE_BUFFERS rt/s | ring/legacy | ring us/rt | legacy us/rt | ring CPU/legacy |"
	print "|---|---|---|---|---|---|---|"
	for (i = 1; i <= ng; i++) print gen[i]
	print ""
	print "| server | RSS at start (KiB) | RSS, " idle " idle conns (KiB) | vs echo-server | vs epoll-echo |"
	print "|---|---|---|---|---|"
	for (m = 1; m <= 4; m++) r[m] = median("rss " S[m])
	for (m = 1; m <= 4; m++) {
		printf "| %s | %d | %d%s | %.2f | %.2f |\n", S[m], median("rss0 " S[m]), r[m],
			bad["rss " S[m]] ? " (FAIL)" : "", r[2] ? r[m] / r[2] : 0, r[3] ? r[m] / r[3] : 0
		printf "06-buffer-rings\t%s/idle%s\trss_kb\t%d\n", S[m], idle, r[m] > "bench.tsv.new"
	}
}' "$RAW"
mv bench.tsv.new bench.tsv
