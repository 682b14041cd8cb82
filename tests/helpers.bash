# helpers.bash: what every lesson's bats tests load with
#     load ../../tests/helpers
# It finds the lesson and the repository, bounds every run with timeout,
# turns exit 77 into a skip that carries the program's reason, and starts
# and stops servers on a free port.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LESSON=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
TMP=$BATS_TEST_TMPDIR
T=${T:-60}                       # seconds any one program may run
export TOP LESSON TMP
PATH="$LESSON:$TOP/tests:$PATH"

# urun CMD...: bats `run`, bounded by timeout, with exit 77 turned into a
# skip. Nothing else is skipped: any other non-zero status stays a status
# for the test to assert on.
urun() {
	run timeout -k 5 "$T" "$@"
	if [ "$status" -eq 77 ]; then
		skip "exit 77: $(printf '%s' "$output" | tail -n 1)"
	fi
	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
		echo "timed out after $T s: $*" >&2
	fi
}

# urun_split CMD...: like urun, but keeps stdout in $output and stderr in
# $stderr_out (bats 1.8's --separate-stderr needs a newer bats than Debian 12
# ships everywhere, so do it by hand).
urun_split() {
	local errf="$TMP/stderr.$$"
	run timeout -k 5 "$T" bash -c '"$@" 2>"$0"' "$errf" "$@"
	stderr_out=$(cat "$errf")
	if [ "$status" -eq 77 ]; then
		skip "exit 77: $(printf '%s' "$stderr_out" | tail -n 1)"
	fi
}

# deny_uring [-e EPERM|ENOSYS] CMD...: CMD with the io_uring syscalls failing.
deny_uring() {
	"$TOP/tests/deny-uring" "$@"
}

# make_file PATH SIZE: SIZE bytes of random data.
make_file() {
	head -c "$2" /dev/urandom >"$1"
}

# assert_status N: a readable failure message when $status is not N.
assert_status() {
	if [ "$status" -ne "$1" ]; then
		echo "expected exit $1, got $status; output was:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

# assert_same FILE1 FILE2: byte-for-byte equal, or say where they differ.
assert_same() {
	cmp "$1" "$2" >&2
}

# background CMD...: CMD in the background, bounded by timeout ($T), with
# bats' descriptor 3 closed: bats waits until every process holding that
# descriptor has exited, so a job a failing test leaves behind would hold
# up the whole run (for ever, if nothing bounds it). $! is timeout's pid,
# and `wait $!` gives CMD's status. tools/bats-lint insists on it.
background() {
	timeout -k 5 "$T" "$@" 3>&- &
}

# server_start CMD...: start a server on a free port in the background,
# bounded by timeout; wait for its "listening on 127.0.0.1:PORT" line and set
# $PORT and $SERVER_PID. Its stdout is kept in $SERVER_OUT, stderr in
# $SERVER_ERR. The command should be given -p 0 itself.
server_start() {
	SERVER_OUT=$TMP/server.out
	SERVER_ERR=$TMP/server.err
	: >"$SERVER_OUT"
	timeout -k 5 "${SERVER_T:-120}" "$@" >"$SERVER_OUT" 2>"$SERVER_ERR" 3>&- &
	SERVER_TIMEOUT_PID=$!
	SERVER_PID=$SERVER_TIMEOUT_PID
	local i line alive
	for i in $(seq 1 100); do
		# Alive before looking: a server that prints its line and dies at
		# once has listened (its exit is the test's to judge).
		alive=1
		kill -0 "$SERVER_PID" 2>/dev/null || alive=0
		line=$(grep -m1 '^listening on 127\.0\.0\.1:' "$SERVER_OUT" || true)
		if [ -n "$line" ]; then
			PORT=${line##*:}
			# timeout's child is the server itself.
			SERVER_PID=$(pgrep -P "$SERVER_TIMEOUT_PID" || echo "$SERVER_TIMEOUT_PID")
			export PORT SERVER_PID SERVER_TIMEOUT_PID
			return 0
		fi
		if [ "$alive" -eq 0 ]; then
			local rc=0
			wait "$SERVER_TIMEOUT_PID" || rc=$?
			[ "$rc" -eq 77 ] && skip "exit 77: $(tail -n 1 "$SERVER_ERR")"
			echo "server exited with $rc before listening:" >&2
			cat "$SERVER_ERR" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "server did not print its listening line in 5 s" >&2
	return 1
}

# server_stop [SIGNAL]: stop the server (SIGTERM by default) and assert the
# clean exit 0 the server contract promises.
server_stop() {
	local sig=${1:-TERM} rc=0 i
	kill -s "$sig" "$SERVER_PID" 2>/dev/null || true
	for i in $(seq 1 200); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		echo "server $SERVER_PID ignored SIG$sig for 10 s" >&2
		kill -9 "$SERVER_PID" 2>/dev/null
		return 1
	fi
	wait "$SERVER_TIMEOUT_PID" 2>/dev/null || rc=$?
	# The server is timeout's child, so its status comes from timeout.
	if [ "$rc" -ne 0 ]; then
		echo "server exited with $rc on SIG$sig; stderr:" >&2
		cat "$SERVER_ERR" >&2
		return 1
	fi
}

# every_lesson_listed: the suite-wide test files have one test per lesson,
# each named "NN-name: ..."; fail naming any lesson folder the calling file
# has no test for (tools/new-lesson adds them).
every_lesson_listed() {
	local d name missing=0
	for d in "$TOP"/[0-9][0-9]-*/; do
		[ -f "$d/Makefile" ] || continue
		name=$(basename "$d")
		grep -q "^@test \"$name: " "$BATS_TEST_FILENAME" || {
			echo "$(basename "$BATS_TEST_FILENAME") has no test for $name" >&2
			missing=1
		}
	done
	[ "$missing" -eq 0 ]
}
