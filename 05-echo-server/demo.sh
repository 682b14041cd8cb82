#!/bin/bash
# demo.sh: both servers under the same small load, with the server's system
# calls counted by perf (tracepoints; strace -c -f if perf cannot).
# `make demo` runs it.
set -euo pipefail
cd "$(dirname "$0")"
LOAD=../tests/echo-load
CONNS=50 MSGS=200
log=$(mktemp /tmp/demo-05.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -f "$log" "$log".*' EXIT

if [ -n "${COUNTER:-}" ]; then
	:   # chosen by the caller: perf, strace or none
elif perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
	COUNTER=perf
elif command -v strace >/dev/null; then
	COUNTER=strace
else
	COUNTER=none
fi

# count PID CMD...: run CMD while counting PID's syscalls into $log.sys
# as "NAME COUNT" lines, the total first as "total N".
count() {
	local pid=$1
	shift
	case $COUNTER in
	perf)
		perf stat -x, -o "$log.perf" -e raw_syscalls:sys_enter \
			-e 'syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait' \
			-e 'syscalls:sys_enter_read,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_ctl' \
			-p "$pid" -- "$@"
		awk -F, '/sys_enter/ {n=$3; sub(/.*sys_enter_?/, "", n); if (n == "") n = "total"; print n, $1}' \
			"$log.perf" >"$log.sys"
		;;
	strace)
		strace -c -f -o "$log.st" -p "$pid" 2>/dev/null &
		local st=$!
		sleep 0.5
		"$@"
		kill -INT "$st"; wait "$st" || true
		# "% time  seconds  usecs/call  calls  [errors]  syscall"
		awk '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ {print $NF, $4}' \
			"$log.st" >"$log.sys"
		;;
	*)
		"$@"
		echo "total 0" >"$log.sys"
		;;
	esac
}

sys() {   # sys NAME: the count of one syscall
	awk -v n="$1" '$1==n {print $2; f=1} END {if (!f) print 0}' "$log.sys"
}

run() {   # run SERVER WHAT
	echo "== $1: $2"
	: >"$log"       # now, not in the background job: no stale port read
	"./$1" -p 0 >"$log" 2>"$log.err" &
	pid=$!
	local port=
	while [ -z "$port" ]; do
		sleep 0.05
		port=$(sed -n 's/^listening on 127\.0\.0\.1://p' "$log")
	done
	echo "   $1 listening on port $port; $CONNS clients each send $MSGS messages of 64 B"
	count "$pid" "$LOAD" -p "$port" -c "$CONNS" -n "$MSGS" >"$log.load"
	local rt
	rt=$(sed -n 's/.* rt=\([0-9]*\).*/\1/p' "$log.load")
	echo "   echo-load: $rt round trips, $(sed -n 's/.*\(mismatch=[0-9]*\).*/\1/p' "$log.load"), every byte checked"
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	pid=
	echo "   on SIGTERM it exits $rc, saying: $(sed 's/^[a-z-]*: //' "$log.err")"
	if [ "$COUNTER" != none ]; then
		local total
		total=$(sys total)
		if [ "$1" = echo-server ]; then
			echo "   its syscalls ($COUNTER): $total in all, io_uring_enter $(sys io_uring_enter)"
		else
			echo "   its syscalls ($COUNTER): $total in all: epoll_wait $(sys epoll_wait)," \
				"read $(sys read), sendto $(sys sendto), epoll_ctl $(sys epoll_ctl)"
		fi
		awk -v t="$total" -v r="$rt" 'BEGIN {printf "   = %.2f syscalls per round trip\n", t / r}'
	fi
}

run echo-server "io_uring: one io_uring_enter submits the batch's recvs and sends and waits"
run epoll-echo "epoll: epoll_wait, then a read and a write for every ready socket"
echo "== the counts are the whole point: for M ready sockets epoll makes 2M+1 calls"
echo "   (M+1 to read, M more to echo), the ring one per batch of completions."
