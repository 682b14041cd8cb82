#!/usr/bin/env bats
# uring-cat's failures: one line each, the rest still printed, the right
# exit code; write errors stop it; no io_uring means exit 77.

load ../../tests/helpers

@test "a missing file among good ones: one error line, the rest printed, exit 1" {
	printf 'one\n' >"$TMP/a"
	printf 'two\n' >"$TMP/b"
	urun_split uring-cat "$TMP/a" "$TMP/missing" "$TMP/b"
	assert_status 1
	[ "$output" = "$(printf 'one\ntwo')" ]
	[ "$stderr_out" = "uring-cat: $TMP/missing: No such file or directory" ]
}

@test "an unreadable file: Permission denied, the rest printed" {
	# root reads anything: run as nobody, from a folder nobody can enter
	local d as=()
	d=$(mktemp -d /dev/shm/uring-cat-perm.XXXXXX)
	chmod 755 "$d"
	printf 'ok\n' >"$d/a"
	printf 'secret\n' >"$d/locked"
	chmod 644 "$d/a"
	chmod 000 "$d/locked"
	cp "$LESSON/uring-cat" "$d/"
	[ "$(id -u)" -ne 0 ] || as=(runuser -u nobody --)
	urun_split "${as[@]}" "$d/uring-cat" "$d/locked" "$d/a"
	rm -rf "$d"
	assert_status 1
	[ "$output" = "ok" ]
	[ "$stderr_out" = "uring-cat: $d/locked: Permission denied" ]
}

@test "a directory: Is a directory, from the read's CQE" {
	printf 'after\n' >"$TMP/a"
	urun_split uring-cat "$TMP" "$TMP/a"
	assert_status 1
	[ "$output" = "after" ]
	[ "$stderr_out" = "uring-cat: $TMP: Is a directory" ]
}

@test "output to /dev/full: No space left on device, exit 1" {
	make_file "$TMP/in" 500000
	urun_split bash -c 'uring-cat "$0" "$0" >/dev/full' "$TMP/in"
	assert_status 1
	[ "$stderr_out" = "uring-cat: write error: No space left on device" ]
}

@test "ulimit -f: the short write is continued, then EFBIG is reported" {
	make_file "$TMP/in" 100000
	local bs
	for bs in 128k 3000; do
		rm -f "$TMP/out"
		urun_split bash -c 'ulimit -f 10; uring-cat -b "$0" "$1" >"$2"' "$bs" "$TMP/in" "$TMP/out"
		assert_status 1
		[ "$stderr_out" = "uring-cat: write error: File too large" ]
		# exactly the 10 KiB the limit allows, and the right 10 KiB
		[ "$(stat -c %s "$TMP/out")" -eq 10240 ]
		cmp -n 10240 "$TMP/in" "$TMP/out"
	done
}

@test "a reader that goes away: dies of SIGPIPE quietly, like cat" {
	urun_split bash -c 'uring-cat /dev/zero | head -c 1000 | wc -c; exit "${PIPESTATUS[0]}"'
	[ "$status" -eq 141 ]
	[ "$output" -eq 1000 ]
	[ -z "$stderr_out" ]
}

@test "a reader that goes away with SIGPIPE ignored: Broken pipe, exit 1" {
	urun_split bash -c 'trap "" PIPE; uring-cat /dev/zero | head -c 1000 >/dev/null; exit "${PIPESTATUS[0]}"'
	assert_status 1
	[ "$stderr_out" = "uring-cat: write error: Broken pipe" ]
}

@test "a write error while a read waits on an idle pipe: cancelled, no hang" {
	# After "x" the pipe stays open and empty: the /dev/full error must end
	# the program anyway, by cancelling the read that waits (its buffer is
	# the kernel's until that read's CQE is back).
	urun_split bash -c '
		exec 5< <(printf x; exec sleep 30); idle=$!
		uring-cat -v <&5 >/dev/full; rc=$?
		kill $idle; exit $rc'
	assert_status 1
	[[ "$stderr_out" == *"uring-cat: write error: No space left on device" ]]
	[[ "$stderr_out" == *"-: 0 bytes, 2 reads"* ]]
}

@test "stdin closed: - is a bad descriptor (not the ring's), the rest printed" {
	# The ring would take descriptor 0, and reading "-" would read the ring
	# itself and wait for ever.
	printf 'a\n' >"$TMP/a"
	T=10 urun_split bash -c 'uring-cat "$0" - "$0" <&-' "$TMP/a"
	assert_status 1
	[ "$output" = "$(printf 'a\na')" ]
	[ "$stderr_out" = "uring-cat: -: Bad file descriptor" ]
	T=10 urun_split bash -c 'uring-cat <&-'
	assert_status 1
	[ "$stderr_out" = "uring-cat: -: Bad file descriptor" ]
}

@test "input file is output file: refused, not an endless loop" {
	printf 'data\n' >"$TMP/f"
	urun_split bash -c 'uring-cat "$0" >>"$0"' "$TMP/f"
	assert_status 1
	[ "$stderr_out" = "uring-cat: $TMP/f: input file is output file" ]
	[ "$(cat "$TMP/f")" = "data" ]
	# as with cat, an empty one is no error: it prints nothing (cat f >f)
	: >"$TMP/e"
	urun_split bash -c 'uring-cat "$0" >>"$0"' "$TMP/e"
	assert_status 0
	[ -z "$stderr_out" ]
	[ ! -s "$TMP/e" ]
}

@test "-h prints usage on stdout, exit 0" {
	urun uring-cat -h
	assert_status 0
	[[ "$output" == Usage:\ uring-cat* ]]
	urun uring-cat --help
	assert_status 0
}

@test "-h to a full or closed stdout: the error said, exit 1, as cat --help" {
	urun_split bash -c 'uring-cat -h >/dev/full'
	assert_status 1
	[ "$stderr_out" = "uring-cat: standard output: No space left on device" ]
	urun_split bash -c 'uring-cat --help >&-'
	assert_status 1
	[ "$stderr_out" = "uring-cat: standard output: Bad file descriptor" ]
}

@test "usage errors exit 2 with usage on stderr" {
	local bad
	for bad in "-x" "--ring 0" "--ring x" "-q 0" "-q 4097" "-q abc" "-q -1" "-b 0" "-b 65m" "-b 17592186044417m" "-q 4096 -b 64m" "-q" "--nope"; do
		# shellcheck disable=SC2086
		urun_split uring-cat $bad
		assert_status 2
		[[ "$stderr_out" == *"Usage: uring-cat"* ]]
		[ -z "$output" ]
	done
}

@test "no io_uring (seccomp EPERM, as in Docker): exit 77 naming the cause" {
	run timeout 10 "$TOP/tests/deny-uring" uring-cat /dev/null
	[ "$status" -eq 77 ]
	[[ "$output" == *"io_uring_setup: Operation not permitted"* ]]
	[[ "$output" == *"seccomp"* ]]
	[[ "$output" == *"io_uring_disabled"* ]]
}

@test "no io_uring (ENOSYS, old kernel or sandbox): exit 77 naming the cause" {
	run timeout 10 "$TOP/tests/deny-uring" -e ENOSYS uring-cat /dev/null
	[ "$status" -eq 77 ]
	[[ "$output" == *"Function not implemented"* ]]
	[[ "$output" == *"Linux 5.1"* ]]
}
