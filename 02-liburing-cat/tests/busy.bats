#!/usr/bin/env bats
# A busy ring: io_uring_enter answers -EBUSY (the CQ overflowed, Linux 5.5
# to 5.12) or -EAGAIN (no memory for requests just now). io_uring_enter(2)
# says: reap completions, then submit again. uring-cat must, and -v says so.

load ../../tests/helpers
PATH=$LESSON/tests:$PATH   # busy-enter

setup() {
	F=/dev/shm/uring-cat-busy.$$.$BATS_TEST_NUMBER
	make_file "$F" 3000000
}

teardown() {
	rm -f "$F"
}

# copies_through_busy LINE BUSY-ENTER-ARGS...: busy-enter ARGS... $F, with
# stdout in a file: exit 0, every byte copied, and LINE said on stderr.
copies_through_busy() {
	local line=$1
	shift
	urun_split bash -c 'out=$1; shift; busy-enter "$@" >"$out"' _ "$TMP/out" "$@" "$F"
	assert_status 0
	assert_same "$F" "$TMP/out"
	echo "stderr: $stderr_out" # shown only if the test fails
	[[ "$stderr_out" == *"$line"* ]]
}

@test "a CQ smaller than the reads in flight (--ring 1 -q 32): every byte" {
	# From Linux 5.13 the kernel keeps the CQEs that do not fit on its
	# overflow list and goes on accepting SQEs (IORING_FEAT_NODROP); on
	# 5.5 to 5.12 this run meets -EBUSY.
	local r
	for r in 1 2 4; do
		urun bash -c 'uring-cat -q 32 -b 4k --ring "$0" "$1" >"$2"' "$r" "$F" "$TMP/out"
		assert_status 0
		assert_same "$F" "$TMP/out"
	done
}

@test "-EBUSY from io_uring_enter: reaped, submitted again, nothing lost" {
	local n
	for n in 1 2 5; do
		copies_through_busy "uring-cat: io_uring_enter said Device or resource busy 1 time(s): reaped, then submitted again" \
			-n "$n" uring-cat -v -q 8 -b 16k
	done
}

@test "-EBUSY held 5 ms while reads complete: the answer still arrives" {
	# Completions arriving while the call waits for busy-enter's answer
	# interrupt the wait, as a signal would (io_uring's task work). Unless
	# busy-enter stops that, the call starts again and the -EBUSY is lost
	# (busy-enter before it asked for WAIT_KILLABLE_RECV: 30 runs in 30).
	copies_through_busy "uring-cat: io_uring_enter said Device or resource busy 1 time(s): reaped, then submitted again" \
		-n 2 -d 5 uring-cat -v -q 8 -b 16k
}

@test "-EAGAIN, with the SQ full in the middle of handling CQEs (--ring 1)" {
	# With an SQ of one entry, get_sqe() submits from inside the CQE
	# handlers: the busy answer comes there too.
	local n
	for n in 3 10 40; do
		copies_through_busy "io_uring_enter said Resource temporarily unavailable 1 time(s)" \
			-n "$n" -e EAGAIN uring-cat -v --ring 1 -q 8 -b 16k
	done
}

@test "busy-enter passes the command's exit status on, and refuses bad usage" {
	# (That it really fails the Nth call is shown by the -v lines above:
	# uring-cat counts only the -EBUSY and -EAGAIN it was given.)
	run timeout 10 busy-enter -n 1 bash -c 'exit 3'
	[ "$status" -eq 3 ]
	run timeout 10 busy-enter -n 0 true
	[ "$status" -eq 2 ]
	run timeout 10 busy-enter -d x true
	[ "$status" -eq 2 ]
}
