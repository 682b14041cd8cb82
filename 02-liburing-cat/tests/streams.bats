#!/usr/bin/env bats
# uring-cat on what is not a regular file: pipes, FIFOs, devices, ttys,
# non-blocking descriptors, and files that change while they are read.

load ../../tests/helpers

# nonblock FD CMD...: run CMD with O_NONBLOCK set on descriptor FD (0 or 1).
nonblock() {
	local fd=$1
	shift
	perl -MFcntl -e '
		my $fh = $ARGV[0] ? \*STDOUT : \*STDIN; shift @ARGV;
		my $fl = fcntl($fh, F_GETFL, 0) or die "F_GETFL: $!";
		fcntl($fh, F_SETFL, $fl | O_NONBLOCK) or die "F_SETFL: $!";
		exec @ARGV or die "exec: $!"' "$fd" "$@"
}

@test "no FILE reads stdin, through a pipe" {
	make_file "$TMP/in" 1000000
	urun bash -c 'cat "$0" | uring-cat >"$1"' "$TMP/in" "$TMP/out"
	assert_status 0
	assert_same "$TMP/in" "$TMP/out"
}

@test "- is stdin, between files, and a second - finds it at its end" {
	printf 'A' >"$TMP/a"
	printf 'C' >"$TMP/c"
	urun bash -c 'printf B | uring-cat "$0" - "$1" -' "$TMP/a" "$TMP/c"
	assert_status 0
	[ "$output" = "ABC" ]
}

@test "a FIFO" {
	make_file "$TMP/in" 700000
	mkfifo "$TMP/fifo"
	urun bash -c 'cat "$0" >"$1" & uring-cat "$1" >"$2"; wait' "$TMP/in" "$TMP/fifo" "$TMP/out"
	assert_status 0
	assert_same "$TMP/in" "$TMP/out"
}

@test "a slow writer: every short read is taken as it comes, nothing lost" {
	# (pauses of 1 s: uring-cat is reading before the next piece comes,
	# even when a loaded machine starts it late)
	urun_split bash -c '{ printf one; sleep 1; printf two; sleep 1; printf three; } | uring-cat -v'
	assert_status 0
	[ "$output" = "onetwothree" ]
	# three reads with data and one that found the end, at least
	[[ "$stderr_out" =~ -:\ 11\ bytes,\ ([0-9]+)\ reads ]]
	[ "${BASH_REMATCH[1]}" -ge 3 ]
}

# Since Linux 5.15 (commit 5d329e1286b0; 5.14.7 has it too) io_uring waits
# by itself (with an internal poll) even on an O_NONBLOCK pipe, so these two
# pass on any kernel; before, the -EAGAIN comes back and uring-cat polls.
# --nowait forces that path here.
@test "stdin an O_NONBLOCK pipe with a slow writer: every byte, no error" {
	urun_split bash -c 'source "$0"; { sleep 0.3; printf late; } | nonblock 0 uring-cat -v' \
		<(declare -f nonblock)
	assert_status 0
	[ "$output" = "late" ]
}

@test "stdout an O_NONBLOCK pipe with a slow reader: every byte, no error" {
	make_file "$TMP/in" 1000000
	urun bash -c 'source "$0"; nonblock 1 uring-cat "$1" | { sleep 0.3; cat >"$2"; }' \
		<(declare -f nonblock) "$TMP/in" "$TMP/out"
	assert_status 0
	assert_same "$TMP/in" "$TMP/out"
}

# Pipes take RWF_NOWAIT only from Linux 6.4, with FMODE_NOWAIT for pipes
# (commit afed6271f5b0; Debian's 6.1 and 5.10 answer -EOPNOTSUPP). There uring-cat
# says so and reads without the flag: skip the poll checks, say why.
refused_here() {
	if [[ "$stderr_out" == *"RWF_NOWAIT on a pipe: Operation not supported"* ]]; then
		skip "this kernel's pipes refuse RWF_NOWAIT ($(uname -r)); the fallback is tested below"
	fi
}

@test "--nowait: a read's -EAGAIN is answered with a poll, not a spin" {
	# (1 s: uring-cat's first read comes before the data, even when a
	# loaded machine starts it late)
	urun_split bash -c '{ sleep 1; printf late; } | uring-cat -v --nowait'
	assert_status 0
	[ "$output" = "late" ]
	refused_here
	[[ "$stderr_out" =~ \ ([0-9]+)\ EAGAIN ]]
	[ "${BASH_REMATCH[1]}" -ge 1 ]
	# a spinning retry would make thousands of reads in 1 s
	[[ "$stderr_out" =~ -:\ 4\ bytes,\ ([0-9]+)\ reads ]]
	[ "${BASH_REMATCH[1]}" -le 10 ]
}

@test "--nowait: a write's -EAGAIN on a full pipe waits with a poll" {
	make_file "$TMP/in" 1000000
	# (the reader starts 1 s late: the pipe is full by then, even when a
	# loaded machine starts uring-cat late)
	urun_split bash -c 'uring-cat -v --nowait "$0" | { sleep 1; cat >"$1"; }' "$TMP/in" "$TMP/out"
	assert_status 0
	assert_same "$TMP/in" "$TMP/out"
	refused_here
	[[ "$stderr_out" =~ \ ([0-9]+)\ EAGAIN ]]
	[ "${BASH_REMATCH[1]}" -ge 1 ]
	[[ "$stderr_out" =~ \(([0-9]+)\ short\) ]]
}

@test "--nowait where pipes refuse RWF_NOWAIT (--nowait-refused plays 6.1): read without it" {
	urun_split bash -c '{ sleep 0.3; printf late; } | uring-cat -v --nowait --nowait-refused'
	assert_status 0
	[ "$output" = "late" ]
	[[ "$stderr_out" == "uring-cat: RWF_NOWAIT on a pipe: Operation not supported: reading and writing pipes without it"$'\n'* ]]
	[[ "$stderr_out" == *" 0 EAGAIN"* ]]
	# The kernel itself refused the first read, in its CQE, as 6.1 does:
	# that read is counted (then "late", then end of file).
	[[ "$stderr_out" == *"uring-cat: -: 4 bytes, 3 reads (1 short, up to 1 in flight), 1 writes (0 short), 0 EAGAIN, 4 CQEs"* ]]
}

@test "--nowait where pipes refuse RWF_NOWAIT: a slow reader still gets every byte" {
	make_file "$TMP/in" 1000000
	urun_split bash -c 'uring-cat -v --nowait --nowait-refused "$0" | { sleep 0.3; cat >"$1"; }' "$TMP/in" "$TMP/out"
	assert_status 0
	assert_same "$TMP/in" "$TMP/out"
	[[ "$stderr_out" == *"RWF_NOWAIT on a pipe: Operation not supported"* ]]
	[[ "$stderr_out" == *" 0 EAGAIN"* ]]
}

@test "--nowait on a pipe on this kernel: the flag taken, or refused and said so" {
	# Either way the bytes are right; which one happened is printed, so
	# the kernel matrix shows the probe picking each path by itself.
	urun_split bash -c 'printf abc | uring-cat -v --nowait'
	assert_status 0
	[ "$output" = "abc" ]
	if [[ "$stderr_out" == *"Operation not supported"* ]]; then
		echo "# $(uname -r): pipes refuse RWF_NOWAIT" >&3
	else
		[[ "$stderr_out" != *"RWF_NOWAIT"* ]]
	fi
}

@test "stdin a regular file marked O_NONBLOCK: read whole, the flag given back" {
	local f=/dev/shm/uring-cat-nb.$$
	make_file "$f" 3000000
	urun_split bash -c 'source "$0"
		{ nonblock 0 uring-cat -v >"$2"
		  perl -MFcntl -e "print STDERR ((fcntl(STDIN, F_GETFL, 0) & O_NONBLOCK) ? qq(still nonblocking\n) : qq(blocking\n))"
		} <"$1"' <(declare -f nonblock) "$f" "$TMP/out"
	cmp "$f" "$TMP/out"; local same=$?
	rm -f "$f"
	assert_status 0
	[ "$same" -eq 0 ]
	[[ "$stderr_out" == *" 0 EAGAIN"* ]]
	[[ "$stderr_out" == *"still nonblocking"* ]]
}

@test "stdout a regular file marked O_NONBLOCK: the flag given back, also on exit 77" {
	printf 'data\n' >"$TMP/in"
	# The flag belongs to the open file, which the shell shares: an exit
	# that skips giving it back leaves it cleared for whoever writes next.
	urun_split bash -c 'source "$0"; out=$1; shift
		{ nonblock 1 "$@"; echo "exit $?" >&2
		  perl -MFcntl -e "print STDERR ((fcntl(STDOUT, F_GETFL, 0) & O_NONBLOCK) ? qq(still nonblocking\n) : qq(blocking\n))"
		} >"$out"' <(declare -f nonblock) "$TMP/out" uring-cat "$TMP/in"
	[[ "$stderr_out" == *"exit 0"* ]]
	[[ "$stderr_out" == *"still nonblocking"* ]]
	[ "$(cat "$TMP/out")" = data ]
	urun_split bash -c 'source "$0"; out=$1; shift
		{ nonblock 1 "$@"; echo "exit $?" >&2
		  perl -MFcntl -e "print STDERR ((fcntl(STDOUT, F_GETFL, 0) & O_NONBLOCK) ? qq(still nonblocking\n) : qq(blocking\n))"
		} >"$out"' <(declare -f nonblock) "$TMP/out" "$TOP/tests/deny-uring" uring-cat "$TMP/in"
	[[ "$stderr_out" == *"exit 77"* ]]
	[[ "$stderr_out" == *"still nonblocking"* ]]
}

@test "character devices: /dev/null reads empty, /dev/zero reads zeros" {
	urun bash -c 'uring-cat /dev/null | wc -c'
	assert_status 0
	[ "$output" -eq 0 ]
	urun bash -c 'uring-cat /dev/zero | head -c 300000 | tr -d "\0" | wc -c'
	assert_status 0
	[ "$output" -eq 0 ]
}

@test "a terminal on stdout" {
	printf 'line one\nline two\n' >"$TMP/in"
	urun script -qec "uring-cat $TMP/in" /dev/null
	assert_status 0
	[ "$(printf '%s' "$output" | tr -d '\r')" = "$(cat "$TMP/in")" ]
}

# A reader that takes exactly $1 bytes, lets the test act, then takes the rest.
# uring-cat -q 2 -b 64k reads at most 2 x 64 KiB (+ the 64 KiB pipe) ahead.
@test "a file that shrinks during the read: the output is its new length, exactly" {
	make_file "$TMP/in" $((8 * 1024 * 1024))
	head -c $((3 * 1024 * 1024 + 1234)) "$TMP/in" >"$TMP/expected"
	urun bash -c 'uring-cat -q 2 -b 64k "$0" | {
		dd bs=64k count=16 iflag=fullblock status=none
		truncate -s $((3 * 1024 * 1024 + 1234)) "$0"
		cat; } >"$1"' "$TMP/in" "$TMP/out"
	assert_status 0
	assert_same "$TMP/expected" "$TMP/out"
}

@test "a file that grows during the read: the new bytes are printed too" {
	make_file "$TMP/in" $((4 * 1024 * 1024))
	make_file "$TMP/more" 777777
	cat "$TMP/in" "$TMP/more" >"$TMP/expected"
	urun bash -c 'uring-cat -q 2 -b 64k "$0" | {
		dd bs=64k count=16 iflag=fullblock status=none
		cat "$2" >>"$0"
		cat; } >"$1"' "$TMP/in" "$TMP/out" "$TMP/more"
	assert_status 0
	assert_same "$TMP/expected" "$TMP/out"
}
