#!/usr/bin/env bats
# raw-cat: byte-exact output, errors, and what the ring looks like from outside.

load ../../tests/helpers

CHUNK=32768    # raw-cat.c: CHUNK, the bytes of one read

# check SIZE...: files of those sizes come out byte for byte, in order.
check_sizes() {
	local args=() s
	: >"$TMP/expected"
	for s in "$@"; do
		make_file "$TMP/in.$s" "$s"
		args+=("$TMP/in.$s")
		cat "$TMP/in.$s" >>"$TMP/expected"
	done
	: >>"$TMP/expected"
	urun bash -c 'raw-cat "$@" >"$0"' "$TMP/out" "${args[@]}"
	assert_status 0
	assert_same "$TMP/expected" "$TMP/out"
}

@test "an empty file prints nothing" {
	check_sizes 0
	[ ! -s "$TMP/out" ]
}

@test "one byte" {
	check_sizes 1
}

@test "exactly one chunk, one byte less, and one byte more" {
	check_sizes $((CHUNK - 1))
	check_sizes $CHUNK
	check_sizes $((CHUNK + 1))
}

@test "a whole batch of chunks and the one after it" {
	check_sizes $((8 * CHUNK)) $((8 * CHUNK + 1))
}

@test "several MiB of random bytes" {
	check_sizes $((5 * 1024 * 1024 + 12345))
}

@test "several files at once come out in order" {
	check_sizes 3 $CHUNK 0 70000 1
}

@test "the CQ ring mapped on its own (kernels before 5.4) gives the same bytes" {
	make_file "$TMP/in" 300000
	urun bash -c 'raw-cat --separate-mmaps "$1" >"$0"' "$TMP/out" "$TMP/in"
	assert_status 0
	assert_same "$TMP/in" "$TMP/out"
}

@test "a file whose st_size is 0 but has content (/proc) is read to EOF" {
	[ "$(stat -c %s /proc/self/mountinfo)" -eq 0 ]
	# /proc/self is the reader itself, so compare a file that does not depend on
	# who reads it, and that is longer than one chunk when the machine allows.
	[ "$(stat -c %s /proc/cpuinfo)" -eq 0 ]
	cat /proc/cpuinfo >"$TMP/expected"
	[ -s "$TMP/expected" ]
	urun bash -c 'raw-cat /proc/cpuinfo >"$0"' "$TMP/out"
	assert_status 0
	assert_same "$TMP/expected" "$TMP/out"
}

@test "standard input from a pipe, with reads shorter than a chunk" {
	make_file "$TMP/in" 100000
	# The writer trickles 1000-byte pieces, so every read is short.
	urun bash -c 'for i in $(seq 0 99); do dd if="$1" bs=1000 skip=$i count=1 status=none; sleep 0.002; done |
		raw-cat - >"$0"' "$TMP/out" "$TMP/in"
	assert_status 0
	assert_same "$TMP/in" "$TMP/out"
}

@test "a file that grows while it is read is read until a read returns 0" {
	make_file "$TMP/in" 200000
	make_file "$TMP/more" 40000
	cat "$TMP/in" "$TMP/more" >"$TMP/expected"
	# A FIFO on stdout stalls raw-cat inside its first batch (8 chunks, 128 KiB:
	# more than we take plus the 64 KiB the pipe holds) until we have appended.
	mkfifo "$TMP/pipe"
	urun bash -c '
		raw-cat "$1" >"$3" &
		exec 3<"$3"
		head -c 16384 <&3 >"$0"         # the first chunk is out: raw-cat is mid-file
		cat "$2" >>"$1"                 # the file grows behind it
		cat <&3 >>"$0"; wait $!' "$TMP/out" "$TMP/in" "$TMP/more" "$TMP/pipe"
	assert_status 0
	assert_same "$TMP/expected" "$TMP/out"
}

@test "a missing file among good ones: one error line, the others printed, exit 1" {
	printf 'first\n' >"$TMP/a"
	printf 'last\n' >"$TMP/b"
	urun_split raw-cat "$TMP/a" "$TMP/missing" "$TMP/b"
	assert_status 1
	[ "$output" = "$(printf 'first\nlast')" ]
	[ "$stderr_out" = "raw-cat: $TMP/missing: No such file or directory" ]
}

@test "a directory is reported as one, exit 1" {
	urun_split raw-cat "$TMP"
	assert_status 1
	[ -z "$output" ]
	[ "$stderr_out" = "raw-cat: $TMP: Is a directory" ]
}

@test "/dev/null prints nothing, exit 0" {
	urun raw-cat /dev/null
	assert_status 0
	[ -z "$output" ]
}

@test "output to /dev/full reports ENOSPC once, exit 1" {
	printf 'data\n' >"$TMP/a"
	urun bash -c 'raw-cat "$0" "$0" >/dev/full' "$TMP/a"
	assert_status 1
	[ "$output" = "raw-cat: write to stdout: No space left on device" ]
}

@test "output to a file limited by RLIMIT_FSIZE: the error is reported, not hidden" {
	make_file "$TMP/in" 100000
	# ulimit -f counts 1024-byte blocks: 50 KiB fit, the rest is EFBIG
	# (SIGXFSZ is ignored so the write fails instead of killing us).
	urun bash -c 'trap "" XFSZ; ulimit -f 50; raw-cat "$1" >"$0"' "$TMP/out" "$TMP/in"
	assert_status 1
	[ "$output" = "raw-cat: write to stdout: File too large" ]
	[ "$(stat -c %s "$TMP/out")" -eq 51200 ]
	cmp -n 51200 "$TMP/in" "$TMP/out"
}

@test "usage: no file is a usage error, -h is help, an unknown option exits 2" {
	urun raw-cat
	assert_status 2
	[[ "$output" == usage:* ]]
	urun raw-cat --help
	assert_status 0
	[[ "$output" == usage:* ]]
	urun raw-cat --bogus /dev/null
	assert_status 2
	[[ "${lines[0]}" == "raw-cat: unknown option --bogus" ]]
}

@test "--trace draws both rings; --stats counts a batch per io_uring_enter" {
	make_file "$TMP/in" $((3 * CHUNK))
	urun bash -c 'raw-cat --trace --stats "$0" 2>&1 >/dev/null' "$TMP/in"
	assert_status 0
	[[ "$output" == *"SQ head      0  tail      8  mask  7  [########] 8 queued for the kernel"* ]]
	[[ "$output" == *"CQ head      0  tail      8  mask 15  [########........] 8 completed, not yet read"* ]]
	# One enter for 8 reads (3 full chunks, then a 0 that is EOF), one for a
	# WRITEV of the 3 chunks: 9 SQEs in 2 enters.
	[[ "${lines[-1]}" == "raw-cat: 1 file(s), 9 SQEs submitted in 2 io_uring_enter calls, 9 CQEs reaped, 98304 bytes written" ]]
}

@test "no liburing is linked or called" {
	! ldd "$LESSON/raw-cat" | grep -q liburing
	! nm -D "$LESSON/raw-cat" | grep -q ' U io_uring'
	nm -D "$LESSON/raw-cat" | grep -q ' U syscall'
}

@test "with io_uring blocked (EPERM, as in Docker) it names the cause and exits 77" {
	run timeout 10 deny-uring raw-cat /dev/null
	[ "$status" -eq 77 ]
	[[ "$output" == "raw-cat: io_uring_setup: Operation not permitted: "*seccomp*io_uring_disabled* ]]
}

@test "with no io_uring in the kernel (ENOSYS) it says so and exits 77" {
	run timeout 10 deny-uring -e ENOSYS raw-cat /dev/null
	[ "$status" -eq 77 ]
	[[ "$output" == "raw-cat: io_uring_setup: Function not implemented: this kernel has no io_uring"* ]]
}
