#!/bin/bash
# bench.sh: echo-server (io_uring) against epoll-echo under the same load
# client, tests/echo-load. `make bench` runs it; it is never part of `make test`.
#
# Each run gets a fresh server pinned to CPU 1 and the client pinned to CPU 0
# (unpinned runs on 2 vCPUs spread 2-4x). The two servers take turns, run by
# run, so a noisy neighbour hurts both alike. Reported: medians over RUNS.
#   round trips/s       what the client saw
#   server us/rt        server CPU time (all threads, from /proc/PID/stat)
#                       per round trip: the fair efficiency figure here, as
#                       the client saturates its core first
#   idle RSS            server VmRSS holding IDLE idle connections
# Environment: RUNS (default 5), SECS per run (3), CONNS ("1 50 500"),
# SIZES ("64 4096"), IDLE (5000; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${RUNS:-5}
SECS=${SECS:-3}
CONNS=${CONNS:-1 50 500}
SIZES=${SIZES:-64 4096}
IDLE=${IDLE:-5000}
LOAD=../tests/echo-load
SERVERS="echo-server epoll-echo"
LESSON=05-echo-server
ulimit -n "$(ulimit -Hn)"
RAW=$(mktemp /tmp/bench-05.XXXXXX)
SPID=
# On any exit, error or not, no server is left behind.
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -f "$RAW" "$RAW".*' EXIT

# start SERVER: a fresh server on CPU 1; sets SPID and SPORT.
start() {
	: >"$RAW.out"   # now, not in the background job: no stale port read
	taskset -c 1 "./$1" -p 0 >"$RAW.out" 2>"$RAW.err" &
	SPID=$!
	local i
	for i in $(seq 1 100); do
		SPORT=$(sed -n 's/^listening on 127\.0\.0\.1://p' "$RAW.out")
		[ -n "$SPORT" ] && return 0
		sleep 0.05
	done
	echo "bench: $1 did not start" >&2
	cat "$RAW.err" >&2
	exit 1
}

stop() {
	kill -TERM "$SPID"
	local rc=0
	wait "$SPID" || rc=$?
	SPID=
	[ "$rc" -eq 0 ] || { echo "bench: server exited $rc" >&2; exit 1; }
}

# val LINE KEY: KEY's value in a RESULT line.
val() {
	sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"
}

# one SERVER CONNS SIZE: one timed run; appends "server case rt us" to RAW.
one() {
	start "$1"
	local line
	line=$(timeout $((SECS + 60)) taskset -c 0 "$LOAD" -p "$SPORT" -c "$2" -s "$3" \
		-d "$SECS" -P "$SPID" -T $((SECS + 40))) || {
		echo "bench: load against $1 failed: $line" >&2
		exit 1
	}
	stop
	echo "$1 $2x$3 $(val "$line" rt_per_s) $(val "$line" srv_us_per_rt)" >>"$RAW"
}

# idle SERVER: RSS at start and with IDLE idle connections; appends to RAW.
idle() {
	start "$1"
	local rss0 line
	rss0=$(awk '/^VmRSS/{print $2}' "/proc/$SPID/status")
	line=$(timeout 120 taskset -c 0 "$LOAD" -p "$SPORT" -c "$IDLE" -i 2 -P "$SPID" -T 60) || {
		echo "bench: idle run against $1 failed: $line" >&2
		exit 1
	}
	stop
	echo "$1 idle $rss0 $(val "$line" srv_rss_kb)" >>"$RAW"
}

# sys SERVER CONNS SIZE: one untimed run with the server's syscalls counted
# by perf (tracepoints, cheap); appends "server case sys syscalls_per_rt".
sys() {
	start "$1"
	local line n
	line=$(timeout 60 taskset -c 0 perf stat -x, -o "$RAW.perf" -e raw_syscalls:sys_enter \
		-p "$SPID" -- "$LOAD" -p "$SPORT" -c "$2" -s "$3" -d 1 -T 30) || {
		echo "bench: counted run against $1 failed: $line" >&2
		exit 1
	}
	stop
	n=$(awk -F, '/raw_syscalls/ {print $1}' "$RAW.perf")
	awk -v s="$1" -v c="$2x$3" -v n="$n" -v r="$(val "$line" rt)" \
		'BEGIN {printf "%s %s sys %.2f\n", s, c, n / r}' >>"$RAW"
}

median() {   # numbers on stdin
	sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}

# pick SERVER CASE FIELD: the median of FIELD (3 or 4) over the runs.
pick() {
	awk -v s="$1" -v c="$2" -v f="$3" '$1==s && $2==c && $3!="sys" {print $f}' "$RAW" | median
}

range() {
	awk -v s="$1" -v c="$2" -v f="$3" '$1==s && $2==c && $3!="sys" {print $f}' "$RAW" | sort -g |
		awk 'NR==1{lo=$1} {hi=$1} END {printf "%s-%s", lo, hi}'
}

echo "bench: $RUNS runs x ${SECS}s per case, server on CPU 1, client on CPU 0" >&2
for c in $CONNS; do
	for s in $SIZES; do
		for r in $(seq 1 "$RUNS"); do
			for srv in $SERVERS; do
				one "$srv" "$c" "$s"
			done
		done
		echo "bench: ${c}x${s} done" >&2
	done
done
COUNT=0
if perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
	COUNT=1
	for c in $CONNS; do
		for s in $SIZES; do
			for srv in $SERVERS; do
				sys "$srv" "$c" "$s"
			done
		done
	done
	echo "bench: syscalls counted" >&2
fi
if [ "$IDLE" -gt 0 ]; then
	for r in $(seq 1 "$RUNS"); do
		for srv in $SERVERS; do
			idle "$srv"
		done
	done
fi

: >bench.tsv
echo
echo "| conns x size | echo-server rt/s | epoll-echo rt/s | ratio | echo-server us/rt | epoll-echo us/rt | ratio | syscalls/rt echo-server / epoll-echo |"
echo "|---|---|---|---|---|---|---|---|"
for c in $CONNS; do
	for s in $SIZES; do
		k="${c}x${s}"
		ur=$(pick echo-server "$k" 3); er=$(pick epoll-echo "$k" 3)
		uc=$(pick echo-server "$k" 4); ec=$(pick epoll-echo "$k" 4)
		rr=$(awk -v a="$ur" -v b="$er" 'BEGIN{printf "%.2f", b ? a/b : 0}')
		cr=$(awk -v a="$uc" -v b="$ec" 'BEGIN{printf "%.2f", b ? a/b : 0}')
		us=-; es=-
		if [ "$COUNT" = 1 ]; then
			us=$(awk -v c="$k" '$1=="echo-server" && $2==c && $3=="sys" {print $4}' "$RAW")
			es=$(awk -v c="$k" '$1=="epoll-echo" && $2==c && $3=="sys" {print $4}' "$RAW")
			printf '%s\t%s\t%s\t%s\n' "$LESSON" "echo-server/$k" syscalls_per_rt "$us" \
				"$LESSON" "epoll-echo/$k" syscalls_per_rt "$es" >>bench.tsv
		fi
		printf '| %s B | %.0f (%s) | %.0f (%s) | **%s** | %.2f | %.2f | **%s** | %s / %s |\n' \
			"$c x $s" "$ur" "$(range echo-server "$k" 3)" "$er" "$(range epoll-echo "$k" 3)" \
			"$rr" "$uc" "$ec" "$cr" "$us" "$es"
		printf '%s\t%s\t%s\t%s\n' \
			"$LESSON" "echo-server/$k" rt_per_s "$ur" \
			"$LESSON" "epoll-echo/$k" rt_per_s "$er" \
			"$LESSON" "echo-server/$k" srv_us_per_rt "$uc" \
			"$LESSON" "epoll-echo/$k" srv_us_per_rt "$ec" \
			"$LESSON" "$k" ratio_rt_per_s "$rr" \
			"$LESSON" "$k" ratio_srv_us_per_rt "$cr" >>bench.tsv
	done
done
if [ "$IDLE" -gt 0 ]; then
	echo
	echo "| server | RSS at start | RSS with $IDLE idle connections |"
	echo "|---|---|---|"
	for srv in $SERVERS; do
		a=$(pick "$srv" idle 3); b=$(pick "$srv" idle 4)
		printf '| %s | %.2f MB | %.2f MB (%s kB) |\n' "$srv" "$(echo "$a / 1024" | bc -l)" \
			"$(echo "$b / 1024" | bc -l)" "$(range "$srv" idle 4)"
		printf '%s\t%s\t%s\t%s\n' "$LESSON" "$srv/idle$IDLE" rss_kb "$b" >>bench.tsv
	done
fi
echo
echo "Medians of $RUNS runs (min-max in brackets); ratio = echo-server / epoll-echo."
echo "$(date -u +%Y-%m-%d), $(nproc) vCPUs, Linux $(uname -r); the machine is shared, so expect noise."
