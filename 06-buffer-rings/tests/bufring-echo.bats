#!/usr/bin/env bats
# bufring-echo: every byte echoed in order under load, a pool too small for
# the load (ENOBUFS) still byte-exact, and the server contract.

load ../../tests/helpers

teardown() {
	# A test that failed half-way must not leave its server behind.
	if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -9 "$SERVER_PID" 2>/dev/null || true
	fi
	[ -z "${BG_PID:-}" ] || kill "$BG_PID" 2>/dev/null || true
}

# load ARGS...: echo-load against the running server; must come back clean.
load_ok() {
	urun echo-load -p "$PORT" "$@"
	if [ "$status" -ne 0 ] || [[ "$output" != *" failed=0 mismatch=0 stuck=0 "* ]]; then
		echo "echo-load $*: exit $status" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

# counter NAME: NAME=N from the server's counters line on stderr.
counter() {
	grep -o " $1=[0-9]*" "$SERVER_ERR" | head -n 1 | cut -d= -f2
}

nfds() {
	ls "/proc/$SERVER_PID/fd" | wc -l
}

# wait_fds N: until the server holds N descriptors (10 s at most), so a
# test goes on once its clients are connected, however slow the machine.
wait_fds() {
	local i
	for i in $(seq 1 100); do
		[ "$(nfds)" -ge "$1" ] && return 0
		sleep 0.1
	done
	echo "the server never held $1 descriptors (it holds $(nfds))" >&2
	return 1
}

@test "-h prints the usage and exits 0; a bad option or pool size exits 2" {
	urun bufring-echo -h
	assert_status 0
	[[ "$output" == usage:* ]]
	urun bufring-echo --bogus
	assert_status 2
	[[ "$output" == *usage:* ]]
	urun bufring-echo -n 3
	assert_status 2
	[[ "$output" == *"power of 2"* ]]
	urun bufring-echo -s 0
	assert_status 2
}

@test "one connection: random sizes up to 64 KiB, byte for byte" {
	server_start bufring-echo -p 0
	load_ok -c 1 -r 1-65536 -n 200
	server_stop
	[ "$(counter accepted)" -eq 1 ]
}

@test "100 connections at once, random payloads, byte for byte" {
	server_start bufring-echo -p 0
	load_ok -c 100 -r 1-8192 -n 50
	server_stop
}

@test "1000 connections at once, random payloads, byte for byte" {
	ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	[ "$(ulimit -n)" -ge 2100 ] || skip "exit 77: descriptor limit $(ulimit -Hn) too low for 1000 connections"
	server_start bufring-echo -p 0
	load_ok -c 1000 -r 1-4096 -n 10
	server_stop
	[ "$(counter accepted)" -eq 1000 ]
}

@test "an idle connection holds no buffer: 2000 idle connections cost well under 4 KiB each" {
	ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	[ "$(ulimit -n)" -ge 4200 ] || skip "exit 77: descriptor limit $(ulimit -Hn) too low for 2000 connections"
	# A pool of 4 buffers (16 KiB), so the connections' own cost shows:
	# a 48-byte struct conn (a 64-byte malloc chunk) and a 16-byte table
	# slot each, about 200 KiB for 2000; a 4 KiB buffer each would be
	# 8000 KiB. The README's memory figures lean on this.
	server_start bufring-echo -p 0 -n 4
	local rss0 rss
	rss0=$(awk '/^VmRSS/ { print $2 }' "/proc/$SERVER_PID/status")
	load_ok -c 2000 -n 1 -i 1 -P "$SERVER_PID"
	rss=$(sed -n 's/.* srv_rss_kb=\([0-9]*\).*/\1/p' <<<"$output")
	server_stop
	echo "VmRSS ${rss0} KiB at start, ${rss} KiB holding 2000 idle connections" >&2
	[ -n "$rss0" ]
	[ -n "$rss" ]
	[ $((rss - rss0)) -lt 1000 ]
}

@test "burst: clients write everything before reading, others still served" {
	server_start bufring-echo -p 0
	background echo-load -p "$PORT" -c 10 -b -r 1-20000 -n 100 >"$TMP/burst" 2>&1
	BG_PID=$!
	load_ok -c 20 -r 1-2000 -n 100
	wait "$BG_PID"
	grep -q ' failed=0 mismatch=0 stuck=0 ' "$TMP/burst" || { cat "$TMP/burst" >&2; false; }
	server_stop
}

@test "a peer that never reads holds at most its share of the pool" {
	# 16 buffers: without a cap one blocked connection would take them all
	# and every other connection would starve behind it.
	server_start bufring-echo -p 0 -n 16 -s 4096
	local base
	base=$(nfds)
	background bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1; head -c 64M /dev/zero >&3' _ "$PORT"
	BG_PID=$!
	wait_fds $((base + 1))
	sleep 0.5	# its buffers are filling
	load_ok -c 20 -r 1-10000 -n 50
	kill "$BG_PID" 2>/dev/null || true
	server_stop
	[ "$(counter pauses)" -gt 0 ]
}

@test "a short send (a peer slow to read) is continued from where it stopped, byte for byte" {
	# 3 clients each write 8 MiB and start reading half a second later.
	# Meanwhile the server's socket send buffer fills; a send that meets it
	# nearly full takes what fits and returns short. Lost bytes hang head
	# (timeout), duplicated or reordered ones fail cmp.
	server_start bufring-echo -p 0
	make_file "$TMP/in" $((8 << 20))
	local pids=() i
	for i in 1 2 3; do
		background bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
			cat "$2" >&3 & sleep 0.5
			head -c "$3" <&3 >"$4" && wait' _ "$PORT" "$TMP/in" $((8 << 20)) "$TMP/out.$i"
		pids+=($!)
	done
	for i in 0 1 2; do
		wait "${pids[$i]}"
	done
	for i in 1 2 3; do
		assert_same "$TMP/in" "$TMP/out.$i"
	done
	server_stop
	# Without a short send the echo above proves nothing about them.
	[ "$(counter short_sends)" -ge 1 ]
}

@test "clients resetting mid-stream do not disturb the others" {
	server_start bufring-echo -p 0
	load_ok -c 50 -x 25 -r 1-8192 -n 50
	[[ "$output" == *" resets=25 "* ]]
	load_ok -c 20 -r 1-8192 -n 20
	server_stop
}

@test "half-close: every byte comes back before the server closes" {
	server_start bufring-echo -p 0
	load_ok -c 20 -H -r 1-30000 -n 40
	server_stop
}

# The starved FIFO: with 4 buffers and 100 connections nearly every recv
# finds the pool empty, yet ENOBUFS and re-arms must stay of the order of
# the buffers filled (recvs), not of recvs times connections. Re-arming every
# starved connection whenever a buffer came back (a thundering herd) made
# about 25 ENOBUFS per round trip at 4 KiB and 50 per buffer at 64 B.
@test "a pool of 4 buffers under 100 connections: ENOBUFS and re-arms a few per round trip, every byte echoed" {
	server_start bufring-echo -p 0 -n 4
	load_ok -c 100 -n 10
	[[ "$output" == *" rt=1000 "* ]]
	server_stop
	local enobufs rearms
	enobufs=$(counter ENOBUFS) rearms=$(counter rearms)
	echo "ENOBUFS=$enobufs rearms=$rearms for 1000 round trips" >&2
	[ "$enobufs" -gt 0 ]            # it did run dry
	[ "$enobufs" -le 3000 ]
	[ "$rearms" -le 3000 ]
}

@test "a pool of 4 x 64 B, messages up to 2000 B: ENOBUFS at most a few per buffer filled" {
	server_start bufring-echo -p 0 -n 4 -s 64
	load_ok -c 100 -r 1-2000 -n 10
	server_stop
	local enobufs rearms sends
	enobufs=$(counter ENOBUFS) rearms=$(counter rearms) sends=$(counter sends)
	echo "ENOBUFS=$enobufs rearms=$rearms sends=$sends" >&2
	[ "$enobufs" -gt 0 ]
	[ "$enobufs" -le $((3 * sends)) ]
	[ "$rearms" -le $((3 * sends)) ]
}

@test "a pool of 4 x 64 B under 100 connections runs dry (ENOBUFS) and stays byte-exact" {
	server_start bufring-echo -p 0 -n 4 -s 64
	load_ok -c 100 -r 1-3000 -n 10
	load_ok -c 10 -b -r 1-3000 -n 20
	server_stop
	grep -q ENOBUFS "$SERVER_ERR"
	[ "$(counter ENOBUFS)" -gt 0 ]
}

@test "a single 1-byte buffer still echoes every byte" {
	server_start bufring-echo -p 0 -n 1 -s 1
	load_ok -c 5 -r 1-300 -n 10
	server_stop
	[ "$(counter ENOBUFS)" -gt 0 ]
}

@test "descriptors all closed after a churn of 3000 short connections" {
	server_start bufring-echo -p 0
	before=$(nfds)
	load_ok -c 50 -C 3000 -n 2 -r 1-512
	# The client has seen every echo; give the server a moment for the FINs.
	for i in $(seq 1 100); do [ "$(nfds)" -le "$before" ] && break; sleep 0.05; done
	after=$(nfds)
	server_stop
	[ "$after" -eq "$before" ] || { echo "fds before $before, after $after" >&2; false; }
	[ "$(counter accepted)" -eq 3000 ]
	[ "$(counter closed)" -eq 3000 ]
}

@test "out of descriptors (EMFILE): the server keeps serving and accepts again" {
	# 40 descriptors, hard limit too, so the server cannot raise it: 60
	# clients at once cannot all be accepted until others close.
	server_start bash -c 'ulimit -n 40 && exec bufring-echo -p 0'
	load_ok -c 60 -C 300 -n 3 -r 1-1000
	load_ok -c 5 -n 10
	server_stop
	[ "$(counter accept_pauses)" -gt 0 ]
	[ "$(counter accepted)" -eq 305 ]
}

@test "out of descriptors with no connection to close: accept retried by a timer, no spin" {
	# Descriptors 0-2, then the ring, signalfd and listener: a limit of 6
	# leaves none for accept. No connection of ours can close to free one,
	# so accept must be retried after a pause (about 10 a second), not
	# re-armed at once, which fails at once: a spin of thousands a second.
	server_start bash -c 'for f in /proc/self/fd/*; do f=${f##*/}
		[ "$f" -gt 2 ] && eval "exec $f>&-"; done
		ulimit -n 6 && exec bufring-echo -p 0'
	urun echo-load -p "$PORT" -c 1 -n 1 -T 1
	[[ "$output" == *" done=0 "*" stuck=1 "* ]]
	server_stop
	# One pause, said once, however many retries it took.
	[ "$(counter accept_pauses)" -eq 1 ]
	[ "$(grep -c pausing "$SERVER_ERR")" -eq 1 ] || { cat "$SERVER_ERR" >&2; false; }
	[ "$(counter cqes)" -le 200 ]   # about 10 timer and 10 accept CQEs a second
}

@test "SIGTERM under load: exit 0 with the counters" {
	server_start bufring-echo -p 0
	local base
	base=$(nfds)
	background echo-load -p "$PORT" -c 50 -d 10 -T 20 >/dev/null 2>&1
	BG_PID=$!
	wait_fds $((base + 50))
	sleep 0.2	# under load: echoes in flight
	server_stop TERM
	grep -q '^bufring-echo: accepted=.* ENOBUFS=[0-9]' "$SERVER_ERR"
	[ "$(counter accepted)" -ge 50 ]
}

@test "--no-defer-taskrun (the ring a kernel before 6.1 gets): 100 connections, small pool" {
	server_start bufring-echo --no-defer-taskrun -p 0 -n 16
	load_ok -c 100 -r 1-8192 -n 20
	server_stop
	grep -q 'ring=plain' "$SERVER_ERR"
}

@test "it uses SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them" {
	server_start bufring-echo -p 0
	load_ok -c 10 -n 10
	server_stop
	grep -q 'ring=defer_taskrun' "$SERVER_ERR" ||
		{ uname -r | awk -F. '$1 < 6 || ($1 == 6 && $2 < 1) { exit 0 } { exit 1 }' &&
		  skip "exit 77: DEFER_TASKRUN needs Linux 6.1, running $(uname -r)"; false; }
}

@test "bufring-echo.c is lesson 05's echo-server.c plus the lesson: few of its lines change" {
	# diff's "<" lines are echo-server.c lines that bufring-echo.c drops or
	# rewrites; the buffer ring itself is added lines (">"). A rewrite of
	# the shared design (signals, shutdown, EMFILE, user_data) shows here.
	local dropped
	dropped=$(diff "$TOP/05-echo-server/echo-server.c" "$LESSON/bufring-echo.c" | grep -c '^<')
	echo "echo-server.c lines dropped or changed: $dropped" >&2
	[ "$dropped" -le 100 ]
}

@test "server-common.h is the same file as lesson 05's" {
	cmp "$TOP/05-echo-server/server-common.h" "$LESSON/server-common.h"
}

@test "SIGINT: exit 0" {
	server_start bufring-echo -p 0
	load_ok -c 3 -n 10
	server_stop INT
}

@test "port already in use: a clear error and exit 1" {
	server_start bufring-echo -p 0
	urun bufring-echo -p "$PORT"
	assert_status 1
	[[ "$output" == "bufring-echo: bind 127.0.0.1:$PORT: Address already in use" ]]
	server_stop
}

@test "before Linux 5.19 (no IORING_REGISTER_PBUF_RING): exit 77 naming the feature and the kernel" {
	# IORING_REGISTER_PBUF_RING is io_uring_register opcode 22; a kernel
	# that does not know an opcode answers EINVAL, as the filter does here.
	run timeout 20 "$TOP/tests/deny-uring" -r 22 bufring-echo -p 0
	assert_status 77
	[[ "$output" == "bufring-echo: provided buffer rings (IORING_REGISTER_PBUF_RING) need Linux 5.19 (running Linux "* ]]
	# The filter touches that opcode only: with another one blocked (24,
	# IORING_REGISTER_SYNC_CANCEL, which the server does not use) it serves.
	server_start "$TOP/tests/deny-uring" -r 24 bufring-echo -p 0
	load_ok -c 5 -n 10
	server_stop
}

@test "io_uring denied (EPERM, as Docker's seccomp does): exit 77 naming the cause" {
	run timeout 20 "$TOP/tests/deny-uring" bufring-echo -p 0
	assert_status 77
	[[ "$output" == *io_uring_setup*Operation\ not\ permitted*seccomp* ]]
	run timeout 20 "$TOP/tests/deny-uring" -e ENOSYS bufring-echo -p 0
	assert_status 77
	[[ "$output" == *io_uring_setup*"Function not implemented"* ]]
}
