#!/usr/bin/env bats
# sqpoll-demo: the checksum is right in every mode, the io_uring_enter count
# it prints is the one strace sees, SQPOLL cuts it tenfold, and the program
# refuses bad input and says why it cannot run where io_uring is blocked.
# Needs strace (Debian package strace). Nothing here asserts on time.

load ../../tests/helpers

# enters: the "io_uring_enter calls: N" the program printed in $output.
enters() {
	printf '%s\n' "$output" | sed -n 's/.*io_uring_enter calls: \([0-9]*\).*/\1/p'
}

# traced_enters FILE: io_uring_enter calls in an `strace -c -o FILE` summary.
traced_enters() {
	awk '$NF == "io_uring_enter" { n = $4 } END { print n + 0 }' "$1"
}

# same_as_cksum FILE ARGS...: sqpoll-demo ARGS FILE prints what cksum FILE does.
same_as_cksum() {
	local f=$1
	shift
	urun_split sqpoll-demo "$@" "$f"
	assert_status 0
	[ "$output" = "$(cksum "$f")" ] || {
		echo "sqpoll-demo $* said: $output; cksum said: $(cksum "$f")" >&2
		return 1
	}
}

@test "the checksum matches cksum(1) in every mode" {
	make_file "$TMP/in" $((3 * 1024 * 1024 + 12345))
	same_as_cksum "$TMP/in"
	same_as_cksum "$TMP/in" --no-sqpoll
	same_as_cksum "$TMP/in" --wait
	same_as_cksum "$TMP/in" -b 1000 -q 3
	same_as_cksum "$TMP/in" --no-sqpoll -b 1000 -q 3
}

@test "registered files (needed before 5.11) give the same checksum" {
	make_file "$TMP/in" 1000000
	same_as_cksum "$TMP/in" --fixed
	[[ $stderr_out == *"registered file"* ]]
	same_as_cksum "$TMP/in" --fixed --no-sqpoll
}

@test "an SQ ring smaller than the depth fills up and waits (SQ_WAIT), same checksum" {
	make_file "$TMP/in" 1000000
	same_as_cksum "$TMP/in" -q 16 -e 2
	[[ $stderr_out == *"SQ entries 2,"* ]] || [[ $stderr_out == *"SQ entries 2)"* ]]
	# and the waits for room were made, and counted (about 100 of them)
	[[ $stderr_out =~ sq-full\ [1-9] ]]
	same_as_cksum "$TMP/in" -q 16 -e 2 --no-sqpoll
}

@test "without IORING_ENTER_SQ_WAIT (before 5.10; --no-sq-wait forces it): spins for SQ room, same checksum" {
	make_file "$TMP/in" 1000000
	same_as_cksum "$TMP/in" -q 16 -e 2 --no-sq-wait
	# no SQ_WAIT call was made, and the spins for room were counted
	[[ $stderr_out == *"sq-full 0)"* ]]
	[[ $stderr_out =~ SQ\ full,\ spun:\ +[1-9][0-9]*\ times ]]
	same_as_cksum "$TMP/in" -q 16 -e 2 --no-sq-wait --wait
}

@test "empty file and one-byte file" {
	: >"$TMP/empty"
	printf x >"$TMP/one"
	same_as_cksum "$TMP/empty"
	same_as_cksum "$TMP/one"
	same_as_cksum "$TMP/one" --no-sqpoll
}

@test "default workload: both modes print the same checksum line" {
	urun_split sqpoll-demo -s 8M
	assert_status 0
	local a=$output
	urun_split sqpoll-demo -s 8M --no-sqpoll
	assert_status 0
	[ "$a" = "$output" ]
	[[ $a =~ ^[0-9]+\ 8388608$ ]]
}

@test "SQPOLL makes at most a tenth of the io_uring_enter calls, and strace agrees" {
	command -v strace >/dev/null || { echo "strace is needed (apt-get install strace)" >&2; return 1; }
	# On one CPU the program would reap with a blocking wait (a call per
	# wait); ask it to spin on that CPU anyway, so that both paths prove
	# the saving. Slow there (each wait lasts until the scheduler runs the
	# poller), so the file is small: 4 MiB / 4 KiB / depth 4 = 256 batches.
	local pin=()
	[ "$(nproc)" -ge 2 ] || pin=(--sq-cpu 0 --app-cpu 0)
	urun strace -f -c -o "$TMP/plain" -e trace=io_uring_enter sqpoll-demo -s 4M -q 4 --no-sqpoll
	assert_status 0
	local plain
	plain=$(enters)
	[ "$plain" -ge 256 ]
	[ "$(traced_enters "$TMP/plain")" -eq "$plain" ]

	# A poller idle longer than the whole run never goes to sleep mid-run,
	# however slow the machine (under emulation, a 100 ms idle ran out
	# between batches and each wake-up cost a call): the count then does
	# not depend on speed. The one wake-up a new poller needs stays.
	urun strace -f -c -o "$TMP/sq" -e trace=io_uring_enter sqpoll-demo -s 4M -q 4 -i 60000 "${pin[@]}"
	assert_status 0
	[[ $output == *"reap by spinning on the CQ"* ]]
	local sq
	sq=$(enters)
	[ "$(traced_enters "$TMP/sq")" -eq "$sq" ]
	echo "io_uring_enter: --no-sqpoll $plain, SQPOLL $sq" >&2
	[ $((sq * 10)) -le "$plain" ]
}

@test "SQPOLL with a blocking wait still enters the kernel to wait, and counts it" {
	command -v strace >/dev/null || { echo "strace is needed" >&2; return 1; }
	urun strace -f -c -o "$TMP/w" -e trace=io_uring_enter sqpoll-demo -s 4M -q 4 --wait
	assert_status 0
	[[ $output == *"reap by blocking io_uring_enter"* ]]
	[ "$(traced_enters "$TMP/w")" -eq "$(enters)" ]
	# Every wait is one call; there is at least one.
	printf '%s\n' "$output" | grep -Eq 'wait [1-9][0-9]*,'
}

@test "the README's sample reports could come from one run: the calls add up, and wakeups needed is the wakeup count" {
	# Its transcripts mask these figures (they vary), so running them
	# cannot catch a sample that no run could print; this reads them.
	run awk '
		/io_uring_enter calls:/ {
			n++
			if (!match($0, /calls: +[0-9]+ \(submit [0-9]+, wakeup [0-9]+, wait [0-9]+, sq-full [0-9]+\)/)) {
				print FNR ": not understood: " $0; bad = 1; next
			}
			split(substr($0, RSTART, RLENGTH), f, /[^0-9]+/)
			if (f[2] != f[3] + f[4] + f[5] + f[6]) { print FNR ": calls are not the sum of their kinds: " $0; bad = 1 }
			wakeup = f[4]; at = FNR
			next
		}
		/wakeups needed:/ && FNR == at + 1 && $NF != wakeup { print FNR ": wakeups needed " $NF ", but the line above counts wakeup " wakeup; bad = 1 }
		END { if (!n) { print "no io_uring_enter calls line found"; bad = 1 }; exit bad }' "$LESSON/README.md"
	assert_status 0
}

@test "the poller is a thread of the process, iou-sqp-PID, and its CPU time is shown" {
	urun sqpoll-demo -s 4M
	assert_status 0
	if [[ $output == *"not a thread of this process (kernel before 5.12, bar 5.10.162 and later)"* ]]; then
		# Only a kernel older than 5.12 may say so.
		read -r major minor _ < <(uname -r | tr '.-' '  ')
		echo "no iou-sqp thread on $(uname -r)" >&2
		(( major < 5 || (major == 5 && minor < 12) ))
	else
		printf '%s\n' "$output" | grep -Eq 'CPU, poller thread: +[0-9.]+ ms \(iou-sqp-[0-9]+\)'
	fi
	# --no-sqpoll has no poller to show.
	urun sqpoll-demo -s 1M --no-sqpoll
	assert_status 0
	[[ $output != *"poller thread"* ]]
}

@test "with one CPU it does not spin against the poller: it waits instead, and says so in its report" {
	urun_split taskset -c 0 sqpoll-demo -s 1M
	assert_status 0
	[[ $output =~ ^[0-9]+\ 1048576$ ]]
	# One header line, then the counters: no extra line on one CPU.
	[[ $stderr_out == "sqpoll-demo: SQPOLL ring, "*"reap by blocking io_uring_enter (only one CPU usable"* ]]
	[ "$(printf '%s\n' "$stderr_out" | grep -c '^sqpoll-demo:')" -eq 1 ]
}

@test "asking for poller and app on the same CPU while spinning draws a warning" {
	urun sqpoll-demo -s 16K --sq-cpu 0 --app-cpu 0
	assert_status 0
	[[ $output == *"warning: spinning on the poller's CPU"* ]]
	# the same when only one CPU is allowed and the poller is put on it
	urun taskset -c 0 sqpoll-demo -s 16K --sq-cpu 0
	assert_status 0
	[[ $output == *"warning: spinning on the poller's CPU"* ]]
}

@test "an idle poller has to be woken, and each wakeup is counted" {
	# sq_thread_idle 1 ms, 200 ms pauses: the poller is asleep after each pause.
	urun sqpoll-demo -s 64K -q 4 -i 1 -p 200
	assert_status 0
	printf '%s\n' "$output" | grep -Eq 'wakeups needed: +[1-9]'
}

@test "usage: -h, unknown options, bad numbers, two files" {
	urun sqpoll-demo -h
	assert_status 0
	[[ $output == usage:* ]]
	# a bad option is one line that names it and the program, not getopt's
	# "./sqpoll-demo: ..." followed by the whole usage text
	urun sqpoll-demo --bogus
	assert_status 2
	[ "$output" = "sqpoll-demo: --bogus: unknown option (sqpoll-demo -h lists the options)" ]
	urun sqpoll-demo -x
	assert_status 2
	[ "$output" = "sqpoll-demo: -x: unknown option (sqpoll-demo -h lists the options)" ]
	urun sqpoll-demo -s 1M -q
	assert_status 2
	[ "$output" = "sqpoll-demo: -q: needs a value (sqpoll-demo -h lists the options)" ]
	urun sqpoll-demo --wait=yes
	assert_status 2
	[ "$output" = "sqpoll-demo: --wait=yes: takes no value (sqpoll-demo -h lists the options)" ]
	urun sqpoll-demo -q 0
	assert_status 2
	[[ $output == *"sqpoll-demo: -q: invalid value '0'"* ]]
	urun sqpoll-demo -b 12x
	assert_status 2
	urun sqpoll-demo -s -5
	assert_status 2
	# 2^54 G is 2^84 bytes: it must not wrap round to 0
	urun sqpoll-demo -s 18014398509481984G
	assert_status 2
	urun sqpoll-demo a b
	assert_status 2
	[ "$output" = "sqpoll-demo: b: a second FILE; one at most (sqpoll-demo -h lists the options)" ]
	urun sqpoll-demo --no-pin --sq-cpu 0
	assert_status 2
}

@test "bad input: a missing file, a directory, a device" {
	urun sqpoll-demo "$TMP/missing"
	assert_status 1
	[ "$output" = "sqpoll-demo: $TMP/missing: No such file or directory" ]
	urun sqpoll-demo "$TMP"
	assert_status 1
	[ "$output" = "sqpoll-demo: $TMP: not a regular file" ]
	urun sqpoll-demo /dev/null
	assert_status 1
	[[ $output == *"not a regular file"* ]]
	# a FIFO with no writer: refused, not a hang in open()
	mkfifo "$TMP/fifo"
	T=10 urun sqpoll-demo "$TMP/fifo"
	assert_status 1
	[ "$output" = "sqpoll-demo: $TMP/fifo: not a regular file" ]
}

@test "stdout full or closed: the checksum line is not lost silently" {
	urun_split bash -c 'sqpoll-demo -s 4K >/dev/full'
	assert_status 1
	[[ $stderr_out == *"sqpoll-demo: standard output: No space left on device"* ]]
	urun_split bash -c 'sqpoll-demo -s 4K >&-'
	assert_status 1
	[ "$stderr_out" = "sqpoll-demo: standard output: Bad file descriptor" ]
}

@test "a CPU this process may not use is refused" {
	urun taskset -c 0 sqpoll-demo -s 4K --sq-cpu 1
	assert_status 1
	[[ $output == *"CPU 1 is not one this process may use"* ]]
}

@test "io_uring blocked (EPERM, as Docker's seccomp profile does): exit 77, and why, in one line" {
	local cpus
	# taskset -c 0: what a 1-CPU machine sees; the line must stay alone there too.
	for cpus in "" "taskset -c 0"; do
		run timeout 20 $cpus deny-uring -e EPERM sqpoll-demo -s 4K
		assert_status 77
		[[ $output == *"seccomp"* ]]
		[[ $output == *"io_uring_disabled"* ]]
		[[ $output == "sqpoll-demo: io_uring_setup: Operation not permitted"* ]]
		[ "${#lines[@]}" -eq 1 ]
	done
}

@test "io_uring missing (ENOSYS): exit 77, and why" {
	run timeout 20 deny-uring -e ENOSYS sqpoll-demo --no-sqpoll -s 4K
	assert_status 77
	[[ $output == *"Function not implemented"* ]]
}

@test "SQPOLL alone refused (EPERM) while an ordinary ring works: exit 77 naming the capability by kernel, in one line" {
	command -v strace >/dev/null || skip "strace is needed (apt-get install strace)"
	# strace fails the program's first io_uring_setup, the SQPOLL one, as a
	# kernel before 5.13 (but not 5.10.162 or a later 5.10) does for an
	# unprivileged user; the ordinary ring the program then tries as a
	# probe is set up for real.
	# (LeakSanitizer cannot run under ptrace: no leak check in a SANITIZE=1 build.)
	ASAN_OPTIONS=detect_leaks=0 run timeout 60 strace -f -qq -o /dev/null -e trace=io_uring_setup \
		-e inject=io_uring_setup:error=EPERM:when=1 "$LESSON/sqpoll-demo" -s 4K
	[[ $output != "strace: "* ]] || skip "strace cannot trace here: $output"
	assert_status 77
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == "sqpoll-demo: IORING_SETUP_SQPOLL: Operation not permitted: an ordinary ring works"* ]]
	[[ $output == *"before Linux 5.11 it needs CAP_SYS_ADMIN"* ]]
	[[ $output == *"CAP_SYS_NICE"* ]]
}

# fd_target PID FD: where descriptor FD of process PID points.
fd_target() {
	readlink "/proc/$1/fd/$2" 2>/dev/null || echo closed
}

@test "closed stdin and stderr: neither the scratch file nor the ring takes descriptor 0 or 2" {
	# 8 pauses of 1 s: time to look at its descriptors once the poller runs,
	# even in a guest emulated on a busy machine (4 s was once too short
	# there: the program had exited between the two readlinks)
	background "$LESSON/sqpoll-demo" -s 128K -q 4 -p 1000 >"$TMP/out" <&- 2>&-
	local pid=$! prog i in0=closed in2=closed
	for i in $(seq 100); do
		# the program is timeout's child
		prog=$(pgrep -P "$pid" -x sqpoll-demo || true)
		if [ -n "$prog" ] && grep -qs '^iou-sqp-' /proc/"$prog"/task/*/comm; then
			in0=$(fd_target "$prog" 0) in2=$(fd_target "$prog" 2)
			break
		fi
		sleep 0.1
	done
	wait $pid
	echo "descriptor 0: $in0, descriptor 2: $in2" >&2
	[ "$in0" = /dev/null ]
	[ "$in2" = /dev/null ]
	[[ $(cat "$TMP/out") =~ ^[0-9]+\ 131072$ ]]
}
