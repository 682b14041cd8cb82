#!/usr/bin/env bats
# wakeup-probe: the doors epoll-bridge relies on really open on this kernel.

load ../../tests/helpers

# One run serves the first three tests (each "no" cell waits 500 ms).
setup_file() {
	local rc=0
	timeout -k 5 60 "$BATS_TEST_DIRNAME/../wakeup-probe" >"$BATS_FILE_TMPDIR/probe" 2>&1 || rc=$?
	echo "$rc" >"$BATS_FILE_TMPDIR/probe.rc"
}

# probe_output: $output and $status of that run, exit 77 turned into a skip.
probe_output() {
	output=$(cat "$BATS_FILE_TMPDIR/probe")
	status=$(cat "$BATS_FILE_TMPDIR/probe.rc")
	mapfile -t lines <"$BATS_FILE_TMPDIR/probe"
	[ "$status" -ne 77 ] || skip "exit 77: ${lines[-1]}"
}

# row NOTIFIER RING COMPLETION: the "woke" and "CQE visible" columns of that row.
row() {
	printf '%s\n' "$output" | awk -v n="$1" -v r="$2" -v c="$3" '
		substr($0, 1, 15) ~ "^" n " +$" && substr($0, 16, 15) ~ "^" r " +$" &&
		index(substr($0, 31, 27), c) == 1 { print $(NF - 2), $NF }'
}

@test "a plain ring: the eventfd and the ring fd wake epoll for every kind of completion" {
	probe_output
	assert_status 0
	[ "${#lines[@]}" -ge 13 ]
	for n in eventfd "ring fd"; do
		for c in inline "task work" io-wq; do
			echo "$n / $c: $(row "$n" plain "$c")" >&2
			[ "$(row "$n" plain "$c")" = "yes yes" ]
		done
	done
}

@test "eventfd_async is not told of inline completions (the reason epoll-bridge uses the plain one)" {
	probe_output
	assert_status 0
	[ "$(row eventfd_async plain inline)" = "no yes" ]
	[ "$(row eventfd_async plain io-wq)" = "yes yes" ]
}

@test "DEFER_TASKRUN: the eventfd wakes, but the CQE is only there after io_uring_get_events" {
	probe_output
	assert_status 0
	if [[ "$output" == *"needs Linux 6.1"* ]]; then
		# Only a kernel older than 6.1 may lack the rows.
		read -r major minor _ < <(uname -r | tr '.-' '  ')
		echo "no DEFER_TASKRUN rows on $(uname -r)" >&2
		(( major < 6 || (major == 6 && minor < 1) ))
	else
		[ "$(row eventfd DEFER_TASKRUN "task work")" = "yes no" ]
	fi
}

@test "io_uring denied: exit 77 naming the cause; bad options exit 2" {
	run timeout 10 deny-uring wakeup-probe
	assert_status 77
	[[ "$output" == *"io_uring_setup: Operation not permitted"*seccomp* ]]
	urun wakeup-probe -t 0
	assert_status 2
	urun wakeup-probe --nope
	assert_status 2
	urun wakeup-probe -h
	assert_status 0
}

@test "stdout on /dev/full or closed: one error line and exit 1; a reader that goes away: SIGPIPE, as cat" {
	[ -w /dev/full ]
	run timeout -k 5 60 bash -c 'wakeup-probe -t 50 >/dev/full'
	[ "$status" -ne 77 ] || skip "exit 77: ${lines[-1]}"
	assert_status 1
	[ "$output" = "wakeup-probe: stdout: No space left on device" ]
	run timeout -k 5 60 bash -c 'exec wakeup-probe -t 50 >&-'
	assert_status 1
	[ "$output" = "wakeup-probe: stdout: Bad file descriptor" ]
	run timeout -k 5 60 bash -c 'wakeup-probe -t 50 | head -n 1 >/dev/null; echo "${PIPESTATUS[0]}"'
	[ "$output" = 141 ]
}
