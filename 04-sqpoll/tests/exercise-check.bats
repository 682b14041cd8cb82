#!/usr/bin/env bats
# exercises/check reads what the programs really did from strace; these
# tests hold it to the traces other liburing versions and kernels produce.

load ../../tests/helpers

# A strace that makes every ring look as liburing 2.6 and later set it up on
# a kernel before 6.6: a first io_uring_setup with IORING_SETUP_NO_SQARRAY
# refused with EINVAL, then the same call without it (liburing commit
# 3401b06c, "setup: default to IORING_SETUP_NO_SQARRAY").
make_retrying_strace() {
	local real
	real=$(command -v strace) || skip "strace is needed (apt-get install strace)"
	mkdir -p "$TMP/bin"
	cat >"$TMP/bin/strace" <<-SHIM
	#!/bin/bash
	trace=
	for a in "\$@"; do [ "\$prev" = -o ] && trace=\$a; prev=\$a; done
	"$real" "\$@"
	rc=\$?
	[ -n "\$trace" ] && [ -f "\$trace" ] && awk '
	    /io_uring_setup\(/ && / = [0-9]+\$/ {
	        refused = \$0
	        sub(/flags=/, "flags=IORING_SETUP_NO_SQARRAY|", refused)
	        sub(/ = [0-9]+\$/, " = -1 EINVAL (Invalid argument)", refused)
	        print refused
	    }
	    { print }' "\$trace" >"\$trace.tmp" && mv "\$trace.tmp" "\$trace"
	exit \$rc
	SHIM
	chmod +x "$TMP/bin/strace"
}

@test "01-attach-wq: a ring that took two io_uring_setup calls (liburing 2.6+, kernel before 6.6) is one ring" {
	make_retrying_strace
	PATH=$TMP/bin:$PATH run timeout 600 "$LESSON/exercises/check" --self-test 01-attach-wq
	printf '%s\n' "$output" >&2
	if [[ $output == *"could not trace"* ]]; then
		skip "strace cannot trace here (no ptrace)"
	fi
	assert_status 0
	[[ $output == *"01-attach-wq: the solution passes"* ]]
	[[ $output == *"flag-on-ring-a fails with its hint"* ]]
}

# idle_variant NAME PERL: the reference answer to 02-idle-wakeups, edited by
# the perl substitution PERL, written to $TMP/NAME.c.
idle_variant() {
	local empty=$TMP/empty
	: >"$empty"
	patch -s -f -o "$TMP/starter.c" "$empty" "$LESSON/exercises/02-idle-wakeups.diff" >/dev/null
	patch -s -f -o "$TMP/solution.c" "$TMP/starter.c" "$LESSON/exercises/solutions/02-idle-wakeups.diff" >/dev/null
	perl -0777 -pe "$2" "$TMP/solution.c" >"$TMP/$1.c"
	! cmp -s "$TMP/solution.c" "$TMP/$1.c" || { echo "the edit $2 changed nothing" >&2; return 1; }
}

# check_variant NAME: run the checker on $TMP/NAME.c as the student's copy.
check_variant() {
	mkdir -p "$TMP/lesson"
	cp -r "$LESSON/exercises" "$TMP/lesson/"
	rm -f "$TMP/lesson/exercises/02-idle-wakeups.c"
	cp "$TMP/$1.c" "$TMP/lesson/exercises/02-idle-wakeups.c"
	# the checker finds tests/exercise-lib.bash two folders up from itself
	ln -sfn "$TOP/tests" "$TMP/tests"
	run timeout 300 "$TMP/lesson/exercises/check" 02-idle-wakeups
	printf '%s\n' "$output" >&2
	if [[ $output == *"could not trace"* || $output == SKIP* ]]; then
		skip "the checker cannot run the program here: $output"
	fi
}

@test "02-idle-wakeups: a pointer to the flags taken before publish() is not a read of the flags" {
	command -v strace >/dev/null || skip "strace is needed (apt-get install strace)"
	idle_variant pointer-first 's/\tunsigned flags;\n/\tunsigned *kf = ring->sq.kflags;\n\tunsigned flags;\n/;
		s/\(_Atomic unsigned \*\)ring->sq\.kflags/(_Atomic unsigned *)kf/'
	check_variant pointer-first
	assert_status 0
	[[ $output == "PASS 02-idle-wakeups"* ]]
}

@test "02-idle-wakeups: but a load through that pointer before publish() is" {
	command -v strace >/dev/null || skip "strace is needed (apt-get install strace)"
	idle_variant load-first 's/\tunsigned flags;\n\n\tpublish\(ring\);\n/\tunsigned *kf = ring->sq.kflags;\n\tunsigned flags = *kf;\n\n\tpublish(ring);\n/;
		s/\tflags = atomic_load_explicit\(\(_Atomic unsigned \*\)ring->sq\.kflags,\n\s*memory_order_relaxed\);\n//'
	check_variant load-first
	assert_status 1
	[[ $output == *"reads the SQ flags before publish()"* ]]
}

@test "02-idle-wakeups: the fence may end publish(), after the tail store" {
	command -v strace >/dev/null || skip "strace is needed (apt-get install strace)"
	idle_variant fence-in-publish 's/(\t\t\t      memory_order_release\);\n)/$1\tatomic_thread_fence(memory_order_seq_cst);\n/;
		s/\tatomic_thread_fence\(memory_order_seq_cst\);\n\tflags =/\tflags =/'
	check_variant fence-in-publish
	assert_status 0
	[[ $output == "PASS 02-idle-wakeups"* ]]
}

@test "02-idle-wakeups: but a fence in publish() before the tail store is no fence between the store and the load" {
	command -v strace >/dev/null || skip "strace is needed (apt-get install strace)"
	idle_variant fence-before-store 's/(\tsq->sqe_head = sq->sqe_tail;\n)/\tatomic_thread_fence(memory_order_seq_cst);\n$1/;
		s/\tatomic_thread_fence\(memory_order_seq_cst\);\n\tflags =/\tflags =/'
	check_variant fence-before-store
	assert_status 1
	[[ $output == *"no full fence between publish() and the read of the SQ flags"* ]]
}
