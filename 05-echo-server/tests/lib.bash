# lib.bash: the scenarios both servers of this lesson must pass. Each
# function takes the server program's name; the .bats files call them once
# per server. Every scenario starts a fresh server on a free port.
# Uses tests/helpers.bash (load it first) and the shared tests/echo-load.

# field NAME: the value of NAME= in echo-load's RESULT line in $output.
field() {
	printf '%s\n' "$output" | sed -n "s/^RESULT.* $1=\([^ ]*\).*/\1/p"
}

# expect_clean N: echo-load exited 0 and all N connections finished clean.
expect_clean() {
	assert_status 0
	[ "$(field done)" = "$1" ] || { echo "done=$(field done), want $1: $output" >&2; return 1; }
	[ "$(field mismatch)" = 0 ] && [ "$(field failed)" = 0 ] && [ "$(field stuck)" = 0 ]
}

# counter NAME: a counter from the server's exit line (after server_stop).
counter() {
	sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$SERVER_ERR"
}

fd_count() {
	ls "/proc/$SERVER_PID/fd" | wc -l
}

scenario_random() {   # PROG CONNS MSGS
	server_start "$1" -p 0
	urun echo-load -p "$PORT" -c "$2" -n "$3" -r 1-8192
	expect_clean "$2"
	server_stop
	[ "$(counter accepted)" = "$2" ]
	[ "$(counter closed)" = "$2" ]
}

scenario_burst() {
	server_start "$1" -p 0
	# 4 clients write 8 MiB each before they read anything; at the same
	# time 50 ordinary clients must still get their echoes.
	background echo-load -p "$PORT" -c 4 -b -s 65536 -n 128 >"$TMP/burst.out" 2>&1
	local burst=$!
	urun echo-load -p "$PORT" -c 50 -n 200 -r 1-4096
	expect_clean 50
	local rc=0
	wait "$burst" || rc=$?
	output=$(cat "$TMP/burst.out")
	status=$rc
	expect_clean 4
	[ "$(field bytes)" = $((4 * 128 * 65536)) ]
	server_stop
}

# stalled_clients N SIZE: N clients at once each write SIZE random bytes and
# only start reading the echo half a second later, then read exactly SIZE
# bytes; each must get back what it sent. A peer that stalls fills the
# server's socket send buffer; a send that meets it nearly full takes only
# what fits and returns short, so the continuation path runs. Lost bytes
# hang head until timeout; duplicated or reordered ones fail cmp.
stalled_clients() {
	local pids=() i rc=0
	make_file "$TMP/stall.in" "$2"
	for i in $(seq 1 "$1"); do
		background bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
			cat "$2" >&3 & sleep 0.5
			head -c "$3" <&3 >"$4" && wait' _ "$PORT" "$TMP/stall.in" "$2" "$TMP/stall.out.$i"
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { echo "stalled client $((i + 1)) exited $?" >&2; rc=1; }
	done
	for i in $(seq 1 "$1"); do
		assert_same "$TMP/stall.in" "$TMP/stall.out.$i" || rc=1
	done
	return $rc
}

scenario_short_send() {   # PROG COUNTER
	server_start "$1" -p 0
	stalled_clients 3 $((8 << 20))
	server_stop
	# The echo above proves nothing about short sends unless one happened.
	[ "$(counter "$2")" -ge 1 ] || { echo "no $2: the short-send path did not run" >&2; false; }
}

scenario_reset() {
	server_start "$1" -p 0
	urun echo-load -p "$PORT" -c 50 -n 40 -x 25 -s 1000
	expect_clean 25
	[ "$(field resets)" = 25 ]
	# The server survived them and serves the next clients.
	urun echo-load -p "$PORT" -c 20 -n 50
	expect_clean 20
	server_stop
	[ "$(counter resets)" -ge 1 ]
}

scenario_halfclose() {
	server_start "$1" -p 0
	# Each client writes 2 MB, shuts down its sending side, and must then
	# get all 2 MB back before the server's EOF.
	urun echo-load -p "$PORT" -c 20 -H -b -n 20 -s 100000
	expect_clean 20
	server_stop
}

scenario_port_in_use() {
	server_start "$1" -p 0
	urun "$1" -p "$PORT"
	assert_status 1
	[[ "$output" == "$1: bind 127.0.0.1:$PORT: Address already in use" ]]
	server_stop
}

scenario_sigterm_under_load() {
	server_start "$1" -p 0
	local base
	base=$(fd_count)
	background echo-load -p "$PORT" -c 100 -d 20 >"$TMP/load.out" 2>&1
	local load=$! i
	for i in $(seq 1 200); do       # until all 100 are connected
		[ "$(fd_count)" -ge $((base + 100)) ] && break
		sleep 0.05
	done
	[ "$(fd_count)" -ge $((base + 100)) ]
	server_stop TERM               # asserts exit 0
	wait "$load" || true           # its connections were closed under it
	[ "$(counter accepted)" = 100 ]
	[ "$(counter closed)" = 100 ]
	grep -q '^RESULT.* failed=[1-9]' "$TMP/load.out"
}

scenario_sigint() {
	server_start "$1" -p 0
	urun echo-load -p "$PORT" -c 10 -n 100
	expect_clean 10
	server_stop INT                # asserts exit 0
	[ "$(counter accepted)" = 10 ]
}

scenario_churn() {
	server_start "$1" -p 0
	local before after i
	before=$(fd_count)
	urun echo-load -p "$PORT" -c 50 -C 2000 -n 2 -r 1-2000
	expect_clean 2000
	for i in $(seq 1 100); do       # the last closes may still be in flight
		after=$(fd_count)
		[ "$after" -eq "$before" ] && break
		sleep 0.05
	done
	[ "$after" -eq "$before" ] || { echo "fds: $before before, $after after" >&2; false; }
	server_stop
	[ "$(counter accepted)" = 2000 ]
	[ "$(counter closed)" = 2000 ]
}

scenario_emfile() {
	# 40 descriptors: room for about 30 connections. 100 clients come at
	# once; the server must pause accepting, keep serving, and accept the
	# rest as descriptors free up.
	server_start prlimit --nofile=40:40 "$1" -p 0
	urun echo-load -p "$PORT" -c 100 -n 20 -T 50
	expect_clean 100
	server_stop
	[ "$(counter accepted)" = 100 ]
	[ "$(counter accept_pauses)" -ge 1 ]
}

scenario_usage() {
	urun "$1" -h
	assert_status 0
	[[ "$output" == "usage: $1"* ]]
	urun "$1" --bogus
	assert_status 2
	[[ "$output" == *"usage: $1"* ]]
	urun "$1" -p 70000
	assert_status 2
}

# judge_catches MODE WANT: echo-load against bad-echo MODE fails, with the
# RESULT field WANT (mismatch, stuck or failed) at 1.
judge_catches() {
	cc -O2 -o "$TMP/bad-echo" "$BATS_TEST_DIRNAME/bad-echo.c"
	server_start "$TMP/bad-echo" "$1"
	urun echo-load -p "$PORT" -c 1 -n 100 -s 100 -T 3
	kill "$SERVER_PID"
	wait "$SERVER_TIMEOUT_PID" || true
	assert_status 1
	[ "$(field "$2")" = 1 ]
}

# scenario_emfile_held PROG [ARGS]: out of descriptors with no connection
# closing. While the server runs, its soft descriptor limit is lowered to
# 40; one busy client keeps traffic flowing all along, then 50 clients
# connect and stay connected. The server must say "pausing" once and count
# one pause however long the pause lasts, keep serving the busy client, and
# accept the rest once the limit is raised again: no close of its own frees
# a descriptor, and under steady traffic an epoll_wait timeout never
# expires, so only a timer retry notices. (Lowering a soft limit, and
# raising it up to the hard one, needs no privilege. io_uring reads the
# limit when an accept request is prepared, so an io_uring server must be
# run with --single-accept here: an armed multishot accept keeps the limit
# it started with.)
scenario_emfile_held() {
	server_start "$@" -p 0
	local hard i
	hard=$(prlimit --pid "$SERVER_PID" --nofile --raw --noheadings --output HARD)
	[ "$hard" = unlimited ] || [ "$hard" -ge 200 ] ||
		skip "exit 77: hard descriptor limit $hard, this test needs 200"
	prlimit --pid "$SERVER_PID" --nofile=40:"$hard"
	# The busy client outlasts the held ones' deadline (-T 6): its own
	# close must not be what ends the pause.
	background echo-load -p "$PORT" -c 1 -d 8 >"$TMP/busy.out" 2>&1
	local busy=$!
	sleep 0.5                       # connected and busy before the others
	background echo-load -p "$PORT" -c 50 -n 1 -i 1 -T 6 >"$TMP/held.out" 2>&1
	local held=$!
	for i in $(seq 1 200); do
		grep -q pausing "$SERVER_ERR" && break
		sleep 0.05
	done
	grep -q pausing "$SERVER_ERR" || { echo "no pause at a limit of 40" >&2; false; }
	sleep 1.5                       # paused all that time: 15 retries
	prlimit --pid "$SERVER_PID" --nofile="$hard":"$hard"
	local rc=0
	wait "$held" || rc=$?
	output=$(cat "$TMP/held.out") status=$rc
	expect_clean 50
	rc=0
	wait "$busy" || rc=$?
	output=$(cat "$TMP/busy.out") status=$rc
	expect_clean 1
	server_stop
	[ "$(counter accepted)" = 51 ]
	[ "$(grep -c pausing "$SERVER_ERR")" = 1 ] || { cat "$SERVER_ERR" >&2; false; }
	[ "$(counter accept_pauses)" = 1 ]
}

# scenario_closed_stdout PROG: the "listening on" line is the contract; a
# stdout that is closed or full is one clear line on stderr and exit 1,
# never a server running on a port nobody was told.
scenario_closed_stdout() {
	urun bash -c '"$0" -p 0 >&-' "$1"
	assert_status 1
	[ "$output" = "$1: stdout: Bad file descriptor" ]
	urun bash -c '"$0" -p 0 >/dev/full' "$1"
	assert_status 1
	[ "$output" = "$1: stdout: No space left on device" ]
}

# scenario_closed_stdin_stderr PROG: started with <&- 2>&-, the server
# holds 0 and 2 with /dev/null (so neither the ring nor a socket takes
# those numbers and gets written into), serves, and exits 0 on SIGTERM.
scenario_closed_stdin_stderr() {
	server_start bash -c 'exec "$0" -p 0 <&- 2>&-' "$1"
	[ "$(readlink "/proc/$SERVER_PID/fd/0")" = /dev/null ]
	[ "$(readlink "/proc/$SERVER_PID/fd/2")" = /dev/null ]
	urun echo-load -p "$PORT" -c 10 -n 20 -r 1-4096
	expect_clean 10
	server_stop
}
