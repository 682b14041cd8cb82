#!/usr/bin/env bats
# raw-cat: byte-exact output, errors, and what the ring looks like from outside.

load ../../tests/helpers

CHUNK=32768    # raw-cat.c: CHUNK, the bytes of one read

# The paths a new kernel can be told to take: each test of bytes runs all.
#   ""                 both rings in one mapping, stdout written at offset -1
#   --separate-mmaps   the CQ ring mapped on its own, as before Linux 5.4
#   --own-offsets      stdout written at offsets raw-cat counts, as before 5.6
PATHS=("" --separate-mmaps --own-offsets "--separate-mmaps --own-offsets")

# check SIZE...: files of those sizes come out byte for byte, in order, on
# every path.
check_sizes() {
	local mode
	for mode in "${PATHS[@]}"; do
		check_sizes_with "$mode" "$@"
	done
}

# check_sizes_with OPTIONS SIZE...
check_sizes_with() {
	local opts=$1
	shift
	local args=() s
	: >"$TMP/expected"
	for s in "$@"; do
		make_file "$TMP/in.$s" "$s"
		args+=("$TMP/in.$s")
		cat "$TMP/in.$s" >>"$TMP/expected"
	done
	: >>"$TMP/expected"
	# shellcheck disable=SC2086 # OPTIONS is a list of words
	urun bash -c 'raw-cat "$@" >"$0"' "$TMP/out" $opts "${args[@]}"
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

@test "every path (one or two ring mappings, offset -1 or own offsets) gives the same bytes, to a file, a pipe and /dev/null" {
	make_file "$TMP/in" 300000
	local mode
	for mode in "${PATHS[@]}"; do
		# shellcheck disable=SC2086
		urun bash -c 'raw-cat "$@" >"$0"' "$TMP/out" $mode "$TMP/in"
		assert_status 0
		assert_same "$TMP/in" "$TMP/out"
		# shellcheck disable=SC2086
		urun bash -c 'raw-cat "$@" | cat >"$0"' "$TMP/out.pipe" $mode "$TMP/in"
		assert_status 0
		assert_same "$TMP/in" "$TMP/out.pipe"
		# shellcheck disable=SC2086
		urun bash -c 'raw-cat "$@" >/dev/null' raw-cat $mode "$TMP/in"
		assert_status 0
		[ -z "$output" ]
	done
}

@test "a terminal on stdout (a pty from script(1)) gets every line, on both output paths" {
	command -v script >/dev/null || skip "script(1) (util-linux) is not installed"
	printf 'hello, ring\n' >"$TMP/hello.txt"
	local mode
	for mode in "" --own-offsets; do
		urun script -qec "raw-cat $mode $TMP/hello.txt $TMP/hello.txt" /dev/null
		assert_status 0
		# the terminal turns each \n into \r\n
		[ "$output" = "$(printf 'hello, ring\r\nhello, ring\r')" ]
	done
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
		raw-cat "$1" >"$3" &	# bats-lint: ok (inside urun: its timeout ends the group)
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

@test "output to a file limited by RLIMIT_FSIZE: the error is reported, nothing overwritten, on both output paths" {
	make_file "$TMP/in" 100000
	# ulimit -f counts 1024-byte blocks: 50 KiB fit, the rest is EFBIG
	# (SIGXFSZ is ignored so the write fails instead of killing us). At
	# offset -1 this is the kernel's short-write position bug (see
	# out_after_short_write): without the fix-up the rest overwrites the
	# first 48800 bytes and raw-cat exits 0.
	local mode
	for mode in "" --own-offsets; do
		rm -f "$TMP/out"
		# shellcheck disable=SC2086
		urun bash -c 'trap "" XFSZ; ulimit -f 50; raw-cat "$@" >"$0"' "$TMP/out" $mode "$TMP/in"
		assert_status 1
		[ "$output" = "raw-cat: write to stdout: File too large" ]
		[ "$(stat -c %s "$TMP/out")" -eq 51200 ]
		cmp -n 51200 "$TMP/in" "$TMP/out"
	done
}

@test "RLIMIT_FSIZE with --trace on another file, and with an error line before the data in the same file" {
	make_file "$TMP/in" 100000
	urun bash -c 'trap "" XFSZ; ulimit -f 50; raw-cat --trace "$1" >"$0" 2>"$0.trace"' "$TMP/out" "$TMP/in"
	assert_status 1
	[ "$(tail -n 1 "$TMP/out.trace")" = "raw-cat: write to stdout: File too large" ]
	[ "$(stat -c %s "$TMP/out")" -eq 51200 ]
	cmp -n 51200 "$TMP/in" "$TMP/out"
	# The error line moves the shared position; the data follows it, cut at
	# the limit, and the fix-up after the short write still applies.
	urun bash -c 'trap "" XFSZ; ulimit -f 50; raw-cat "$1.missing" "$1" >"$0" 2>&1' "$TMP/log" "$TMP/in"
	assert_status 1
	local first="raw-cat: $TMP/in.missing: No such file or directory"
	[ "$(head -n 1 "$TMP/log")" = "$first" ]
	[ "$(stat -c %s "$TMP/log")" -eq 51200 ]
	local skip=$((${#first} + 1))
	cmp -n $((51200 - skip)) "$TMP/in" <(tail -c +$((skip + 1)) "$TMP/log")
}

@test "usage: no file is a usage error, -h is help, an unknown option exits 2, each in one line" {
	urun_split raw-cat
	assert_status 2
	[ -z "$output" ]
	[ "$stderr_out" = "raw-cat: no FILE given (\"-\" is standard input); raw-cat --help lists the options" ]
	urun raw-cat --help
	assert_status 0
	[[ "$output" == usage:* ]]
	urun_split raw-cat --bogus /dev/null
	assert_status 2
	[ "$stderr_out" = "raw-cat: unknown option --bogus; raw-cat --help lists the options" ]
}

@test "--help to a full or closed stdout is a write error, exit 1, as with cat" {
	urun bash -c 'raw-cat --help >/dev/full'
	assert_status 1
	[ "$output" = "raw-cat: write to stdout: No space left on device" ]
	urun bash -c 'raw-cat --help >&-'
	assert_status 1
	[ "$output" = "raw-cat: write to stdout: Bad file descriptor" ]
}

@test "a file that is also stdout (>>f) is refused, as cat refuses it, not copied onto itself until the disk fills" {
	printf 'hello, ring\n' >"$TMP/hello.txt"
	printf 'mine\n' >"$TMP/self"
	# ulimit -f bounds a run that would copy the file onto itself for ever.
	like_cat 'ulimit -f 1024; cp self log; raw-cat hello.txt log hello.txt >>log 2>&1'
	[ "$(grep -c 'input file is output file' "$TMP/log.raw")" -eq 1 ]
	[ "$(stat -c %s "$TMP/log.raw")" -lt 200 ]
	# the same file on stdin
	like_cat 'ulimit -f 1024; cp self log; raw-cat - <log >>log 2>&1'
	[ "$(grep -c 'input file is output file' "$TMP/log.raw")" -eq 1 ]
	# "raw-cat f >f" empties f first: nothing to read, nothing to refuse
	like_cat 'cp self log; raw-cat log >log 2>&1'
	[ ! -s "$TMP/log.raw" ]
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
	# Each check is its own assertion: a "! cmd" line would assert nothing
	# unless it were the last line of the test.
	run ldd "$LESSON/raw-cat"
	[ "$status" -eq 0 ]
	[[ "$output" != *liburing* ]]
	run nm -D "$LESSON/raw-cat"
	[ "$status" -eq 0 ]
	[[ "$output" != *" U io_uring"* ]]
	[[ "$output" == *" U syscall"* ]]
	# nor linked in statically (liburing.a): no liburing function defined
	run nm "$LESSON/raw-cat"
	[ "$status" -eq 0 ]
	run grep -E ' [TtWw] _*io_uring_' <<<"$output"
	[ "$status" -eq 1 ]
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

# ---- Output shared with other writers: it must land as cat's does. ----

# like_cat CMD...: run CMD with raw-cat, then with cat in its place (the
# same words, "raw-cat" replaced by "cat", raw-cat's own options dropped),
# each in a fresh $TMP/log; the two logs must be equal once cat's messages
# are named raw-cat's. CMD is bash run in $TMP.
like_cat() {
	local script=$1
	local cat_script=${script//raw-cat/cat}
	(cd "$TMP" && rm -f log && timeout 20 bash -c "$cat_script") || true
	# cat's messages, named as raw-cat's (anywhere: a file need not end in a newline)
	perl -0777 -pe 's/cat: /raw-cat: /g' "$TMP/log" >"$TMP/log.cat"
	(cd "$TMP" && rm -f log && timeout 20 bash -c "$script") || true
	cp "$TMP/log" "$TMP/log.raw"
	if ! cmp -s "$TMP/log.cat" "$TMP/log.raw"; then
		echo "cat wrote $(stat -c %s "$TMP/log.cat") bytes, raw-cat $(stat -c %s "$TMP/log.raw"):" >&2
		cmp "$TMP/log.cat" "$TMP/log.raw" >&2
		head -c 2000 "$TMP/log.raw" | cat -A | head -n 20 >&2
		return 1
	fi
}

@test ">log 2>&1: error lines and data interleave as cat's" {
	printf 'hello, ring\n' >"$TMP/hello.txt"
	like_cat 'raw-cat hello.txt missing.txt /tmp hello.txt >log 2>&1'
	[ "$(grep -c 'hello, ring' "$TMP/log.raw")" -eq 2 ]
}

@test "--trace with 2>&1 into one file: no torn lines, the data exactly once" {
	printf 'hello, ring\n' >"$TMP/hello.txt"
	urun bash -c 'cd "$0" && raw-cat --trace hello.txt >trace 2>&1' "$TMP"
	assert_status 0
	# Every line is a whole trace line or the file's one line.
	run grep -v -E '^(raw-cat: .*|    [SC]Q head .*|hello, ring)$' "$TMP/trace"
	[ "$status" -eq 1 ]
	[ "$(grep -c '^hello, ring$' "$TMP/trace")" -eq 1 ]
	[ "$(head -n 1 "$TMP/trace")" = "raw-cat: queued SQEs, calling io_uring_enter" ]
}

@test ">>log: appended after what was there, error lines in order" {
	printf 'hello, ring\n' >"$TMP/hello.txt"
	like_cat 'echo before >log; raw-cat hello.txt missing.txt hello.txt >>log 2>&1; echo after >>log'
}

@test "one open file shared in turn: a group of commands, raw-cat among them" {
	printf 'hello, ring\n' >"$TMP/hello.txt"
	make_file "$TMP/big" 300000
	like_cat '{ echo one; raw-cat big missing.txt; echo two; raw-cat hello.txt big; echo three; } >log 2>&1'
}

@test "a killed run leaves the position after what it wrote: the next writer appends" {
	# raw-cat writes the first line, then waits on the pipe; the writer kills
	# it (SIGKILL: no clean-up runs) once the line is in the log.
	like_cat 'rm -f pid; { { echo first
		     for i in $(seq 200); do [ -s pid ] && grep -q first log && break; sleep 0.05; done
		     kill -KILL "$(cat pid)"; } |
		   sh -c "echo \$\$ >pid; exec raw-cat -"
		   echo after; } >log'
	[ "$(cat "$TMP/log.raw")" = "$(printf 'first\nafter')" ]
}

@test "two programs appending to one file at once: each one's bytes whole and in order" {
	seq -f 'A%06g' 1 150000 >"$TMP/A"    # 8-byte lines: every write is whole lines
	seq -f 'B%06g' 1 150000 >"$TMP/B"
	urun bash -c 'cd "$0" && { raw-cat A >>log & raw-cat B >>log; wait $!; }; wait' "$TMP"
	assert_status 0
	grep '^A' "$TMP/log" | cmp - "$TMP/A"
	grep '^B' "$TMP/log" | cmp - "$TMP/B"
	[ "$(stat -c %s "$TMP/log")" -eq $((2 * 150000 * 8)) ]
}

@test "--own-offsets (the pre-5.6 path) still writes every data byte, and says in --help what it loses" {
	make_file "$TMP/big" 300000
	urun bash -c 'cd "$0" && { echo one; raw-cat --own-offsets big; echo two; } >log' "$TMP"
	assert_status 0
	{ echo one; cat "$TMP/big"; echo two; } >"$TMP/expected"
	assert_same "$TMP/expected" "$TMP/log"
	urun raw-cat --help
	[[ "$output" == *"--own-offsets"*"as before Linux 5.6"* ]]
}

# ---- Closed standard descriptors, stdin twice, a ring that half maps. ----

@test "closed stdin: '-' is a bad descriptor, no hang, exit 1; the other files still print" {
	printf 'hello, ring\n' >"$TMP/hello.txt"
	urun_split bash -c 'raw-cat - "$0" <&-' "$TMP/hello.txt"
	assert_status 1
	[ "$output" = "hello, ring" ]
	[ "$stderr_out" = "raw-cat: -: Bad file descriptor" ]
}

@test "closed stdout: 'Bad file descriptor', exit 1; nothing to write is no error, as with cat" {
	printf 'hello, ring\n' >"$TMP/hello.txt"
	urun bash -c 'raw-cat "$0" >&-' "$TMP/hello.txt"
	assert_status 1
	[ "$output" = "raw-cat: write to stdout: Bad file descriptor" ]
	urun bash -c 'raw-cat /dev/null >&-'
	assert_status 0
	[ -z "$output" ]
}

@test "closed stderr: no file or ring lands on descriptor 2, the data is right, exit 1 for the missing file" {
	make_file "$TMP/in" 100000
	urun bash -c 'raw-cat "$1" "$1.missing" "$1" 2>&- >"$0"' "$TMP/out" "$TMP/in"
	assert_status 1
	cat "$TMP/in" "$TMP/in" >"$TMP/expected"
	assert_same "$TMP/expected" "$TMP/out"
}

@test "'raw-cat - -' reads stdin to its end once, as 'cat - -' does" {
	make_file "$TMP/in" 100000
	urun bash -c 'raw-cat - - <"$1" >"$0"' "$TMP/out" "$TMP/in"
	assert_status 0
	assert_same "$TMP/in" "$TMP/out"
	# and leaves the position at the end, for whoever reads stdin next
	urun bash -c '{ raw-cat -; echo next; cat; } <"$1" >"$0"' "$TMP/out" "$TMP/in"
	{ cat "$TMP/in"; echo next; } >"$TMP/expected"
	assert_same "$TMP/expected" "$TMP/out"
}

@test "a failed mmap of the rings releases what was mapped and the ring, exit 1" {
	command -v strace >/dev/null || skip "strace is not installed"
	# LeakSanitizer cannot run under ptrace; leaks are not what this checks.
	export ASAN_OPTIONS=detect_leaks=0
	local mode k ring addr
	for mode in "" --separate-mmaps; do
		# Number the program's mmap calls, to fail each ring mapping in turn:
		# the ones after io_uring_setup on the descriptor it returned.
		# shellcheck disable=SC2086
		run timeout 20 strace -f -e trace=io_uring_setup,mmap -o "$TMP/tr" raw-cat $mode /dev/null
		[ "$status" -eq 0 ] || skip "strace cannot trace here: $output"
		ring=$(grep ' io_uring_setup(' "$TMP/tr" | sed 's/.* = //')
		local ring_maps
		ring_maps=$(grep -E ' (mmap|io_uring_setup)\(' "$TMP/tr" | grep -n '' |
			sed -n '/ io_uring_setup(/,$p' | grep -E " mmap\\(.*, $ring, 0(x[0-9a-f]+)?\\) = 0x" |
			cut -d: -f1)
		# (the line numbers count io_uring_setup's line too: one before them)
		[ "$(wc -w <<<"$ring_maps")" -eq "$([ -z "$mode" ] && echo 2 || echo 3)" ]
		for k in $ring_maps; do
			k=$((k - 1))
			# shellcheck disable=SC2086
			run timeout 20 strace -f -e trace=io_uring_setup,mmap,munmap,close \
				-e inject=mmap:error=ENOMEM:when="$k" -o "$TMP/tr" raw-cat $mode /dev/null
			[ "$status" -eq 1 ]
			[[ "$output" == *"raw-cat: mmap of the rings: Cannot allocate memory"* ]]
			grep -q 'INJECTED' "$TMP/tr"
			# Every ring mapping that succeeded is unmapped, and the ring closed
			# (only mappings after io_uring_setup: ld.so used the same
			# descriptor number before it).
			for addr in $(sed -n '/ io_uring_setup(/,$p' "$TMP/tr" |
				grep -E " mmap\\(.*, $ring, 0(x[0-9a-f]+)?\\) = 0x" | sed 's/.* = //'); do
				grep -q "munmap($addr," "$TMP/tr"
			done
			grep -q " close($ring) *= 0" "$TMP/tr"
		done
	done
}

@test "a write that returns 0 is an error (ENOSPC, as cat says), not an endless loop" {
	# zero-write.so turns every WRITEV into one of zero iovecs, which the
	# kernel completes with 0 bytes written.
	${CC:-cc} -shared -fPIC -o "$TMP/zero-write.so" "$LESSON/tests/zero-write.c" -ldl
	printf 'hello, ring\n' >"$TMP/hello.txt"
	local to
	for to in "$TMP/out" /dev/null; do
		# (an ASan build wants its runtime first; the preload goes first instead)
		urun env LD_PRELOAD="$TMP/zero-write.so" ASAN_OPTIONS=verify_asan_link_order=0 \
			bash -c 'exec raw-cat "$1" >"$0"' "$to" "$TMP/hello.txt"
		assert_status 1
		[ "$output" = "raw-cat: write to stdout: No space left on device" ]
	done
	# nothing to write, nothing to fail
	urun env LD_PRELOAD="$TMP/zero-write.so" ASAN_OPTIONS=verify_asan_link_order=0 raw-cat /dev/null
	assert_status 0
}

@test "a failed io_uring_enter (EAGAIN, EBUSY) ends the run with one line naming it, exit 1: no crash, no file read through a ring in an unknown state" {
	command -v strace >/dev/null || skip "strace is not installed"
	export ASAN_OPTIONS=detect_leaks=0    # LeakSanitizer cannot run under ptrace
	printf 'aaa\n' >"$TMP/a"
	printf 'bbb\n' >"$TMP/b"
	local err when
	# The kernel takes no SQE when it fails the call, as strace's injection
	# does: they stay queued, pointing at a file about to be closed.
	for err in EAGAIN EBUSY; do
		for when in 1 2 3 4; do
			urun_split strace -o /dev/null -e inject=io_uring_enter:error=$err:when=$when \
				raw-cat "$TMP/a" "$TMP/b" "$TMP/a"
			[[ "$stderr_out" != strace:* ]] || skip "strace cannot inject here: $stderr_out"
			assert_status 1
			[ "$stderr_out" = "raw-cat: io_uring_enter: $(errno_text $err)" ]
			# what came out is a prefix of the whole, whole files only
			case $output in
			"" | aaa | "$(printf 'aaa\nbbb')") ;;
			*) echo "unexpected output: $output" >&2; return 1 ;;
			esac
		done
	done
}

# errno_text NAME: strerror's text for an errno name.
errno_text() {
	case $1 in
	EAGAIN) echo "Resource temporarily unavailable" ;;
	EBUSY) echo "Device or resource busy" ;;
	esac
}
