#!/usr/bin/env bats
# epoll-bridge: every path gets exactly one outcome (its size, checked against
# stat, or one error line), in all three bridges, whatever stdin is.

load ../../tests/helpers

READ_SIZE=16384    # epoll-bridge.c: READ_SIZE, one read of a file
MODES=("" --reverse "--reverse --oneshot" --ring-fd --defer "--reverse --defer")
# Before Linux 6.1 the --defer modes exit 77 (the test "--defer where
# DEFER_TASKRUN is refused" checks that): there every test runs the other
# modes, instead of skipping them all with the first 77.
defer_rc=0
"$BATS_TEST_DIRNAME/../epoll-bridge" --defer </dev/null >/dev/null 2>&1 || defer_rc=$?
if [ "$defer_rc" -eq 77 ]; then
	MODES=("" --reverse "--reverse --oneshot" --ring-fd)
fi

# A data set built once per file: hundreds of files of many sizes (around
# the read size too), an empty file, a directory, missing paths, and paths
# that fail even for root: a write-only sysctl (EACCES at open) and
# /proc/self/mem (EIO at the first read, offset 0 is never mapped).
# list: the paths; ok: "SIZE PATH" expected on stdout; bad: error lines.
setup_file() {
	local d=$BATS_FILE_TMPDIR/data i s
	mkdir -p "$d/dir"
	: >"$d/empty"
	: >"$BATS_FILE_TMPDIR/list"
	for i in $(seq 1 300); do
		case $((i % 6)) in
		0) s=$((READ_SIZE * (i % 4))) ;;
		1) s=$((READ_SIZE * (i % 4) + 1)) ;;
		2) s=$((READ_SIZE - 1)) ;;
		*) s=$(((i * 7919) % 100000)) ;;
		esac
		head -c "$s" /dev/urandom >"$d/f$i"
		echo "$d/f$i" >>"$BATS_FILE_TMPDIR/list"
		if [ $((i % 10)) -eq 0 ]; then
			echo "$d/missing$i" >>"$BATS_FILE_TMPDIR/list"
		fi
	done
	printf '%s\n' "$d/empty" "$d/dir" /proc/sys/vm/drop_caches /proc/self/mem \
		>>"$BATS_FILE_TMPDIR/list"
	# The list itself, read as data: one more file of known size.
	echo "$BATS_FILE_TMPDIR/list" >>"$BATS_FILE_TMPDIR/list"
}

# expect LIST: write $TMP/ok and $TMP/bad, what epoll-bridge must print for
# LIST: sizes from stat(1), failures as cat(1) words them (a handful of
# processes, not one per path: this machine forks slowly).
expect() {
	grep -v '^$' "$1" >"$TMP/paths" || true
	xargs -r -d '\n' cat -- <"$TMP/paths" 2>"$TMP/cat.err" >/dev/null || true
	# cat says "cat: PATH: reason"; we say "epoll-bridge: PATH: reason".
	sed 's/^cat: /epoll-bridge: /' "$TMP/cat.err" | sort >"$TMP/bad"
	sed -e 's/^cat: //' -e 's/: [^:]*$//' "$TMP/cat.err" >"$TMP/badpaths"
	grep -vxFf "$TMP/badpaths" "$TMP/paths" |
		xargs -r -d '\n' stat -L -c '%s %n' -- | sort >"$TMP/ok"
}

# check_run: compare $TMP/out and $TMP/err with $TMP/ok and $TMP/bad.
check_run() {
	sort "$TMP/out" | diff -u "$TMP/ok" - >&2
	grep -v ' paths, .* failed, ' "$TMP/err" | sort | diff -u "$TMP/bad" - >&2
	local paths=$(( $(wc -l <"$TMP/ok") + $(wc -l <"$TMP/bad") ))
	grep -q "^epoll-bridge: $paths paths, $(wc -l <"$TMP/bad") failed, " "$TMP/err"
}

# bridge ARGS... <STDIN: run epoll-bridge, stdout to $TMP/out, stderr to $TMP/err.
bridge() {
	status=0
	timeout -k 5 "$T" epoll-bridge "$@" >"$TMP/out" 2>"$TMP/err" || status=$?
	if [ "$status" -eq 77 ]; then
		skip "exit 77: $(tail -n 1 "$TMP/err")"
	fi
}

@test "the data set holds every kind of outcome: sizes around the read size, empty, directory, missing, EACCES, EIO" {
	expect "$BATS_FILE_TMPDIR/list"
	[ "$(wc -l <"$TMP/ok")" -ge 300 ]
	grep -q '^0 .*/empty$' "$TMP/ok"
	grep -q 'missing10: No such file or directory$' "$TMP/bad"
	grep -q '/dir: Is a directory$' "$TMP/bad"
	grep -q 'drop_caches: Permission denied$' "$TMP/bad"
	grep -q '/proc/self/mem: Input/output error$' "$TMP/bad"
}

@test "hundreds of paths from a file on stdin: sizes match stat, failures reported, exit 1, in every mode" {
	expect "$BATS_FILE_TMPDIR/list"
	for m in "${MODES[@]}"; do
		bridge $m <"$BATS_FILE_TMPDIR/list"
		assert_status 1
		check_run
	done
}

@test "the same from a pipe, in every mode" {
	expect "$BATS_FILE_TMPDIR/list"
	for m in "${MODES[@]}"; do
		run timeout -k 5 "$T" bash -c 'cat "$1" | epoll-bridge $2 >"$3" 2>"$4"' \
			_ "$BATS_FILE_TMPDIR/list" "$m" "$TMP/out" "$TMP/err"
		[ "$status" -ne 77 ] || skip "exit 77: $(tail -n 1 "$TMP/err")"
		assert_status 1
		check_run
	done
}

@test "depth 1: one file at a time, so the output keeps the input order" {
	expect "$BATS_FILE_TMPDIR/list"
	for m in "${MODES[@]}"; do
		bridge -q 1 $m <"$BATS_FILE_TMPDIR/list"
		assert_status 1
		check_run
		# Only the successful lines, in input order.
		cut -d' ' -f2- "$TMP/out" >"$TMP/order"
		grep -Fxf "$TMP/order" "$BATS_FILE_TMPDIR/list" | diff -u - "$TMP/order" >&2
	done
}

@test "all good paths: exit 0 and no error line besides the counters" {
	head -n 50 "$BATS_FILE_TMPDIR/list" | grep -v missing >"$TMP/list"
	expect "$TMP/list"
	[ ! -s "$TMP/bad" ]
	for m in "${MODES[@]}"; do
		bridge $m <"$TMP/list"
		assert_status 0
		check_run
		[ "$(wc -l <"$TMP/err")" -eq 1 ]
	done
}

@test "empty stdin: /dev/null, an empty file and an empty pipe all exit 0 with no output" {
	: >"$TMP/empty"
	for m in "${MODES[@]}"; do
		bridge $m </dev/null
		assert_status 0
		[ ! -s "$TMP/out" ]
		grep -q '^epoll-bridge: 0 paths, 0 failed, 0 CQEs' "$TMP/err"
		bridge $m <"$TMP/empty"
		assert_status 0
		[ ! -s "$TMP/out" ]
		run timeout -k 5 "$T" bash -c ': | epoll-bridge $1 >"$2" 2>"$3"' _ "$m" "$TMP/out" "$TMP/err"
		assert_status 0
		[ ! -s "$TMP/out" ]
	done
}

# slow_writer OUT PATH...: write each path in two pieces with a pause between
# (a line split across reads), then wait until OUT shows its result line
# before writing the next: the program must report each file while stdin
# is still open. The wait is bounded; a miss is written to $TMP/missed.
slow_writer() {
	local out=$1 p i
	shift
	for p in "$@"; do
		printf '%s' "${p:0:7}"
		sleep 0.05
		printf '%s\n' "${p:7}"
		for i in $(seq 1 400); do
			cut -d' ' -f2- "$out" | grep -qxF -- "$p" && break
			sleep 0.05
		done
		cut -d' ' -f2- "$out" | grep -qxF -- "$p" || echo "$p" >>"$TMP/missed"
	done
}

@test "a slow writer on a pipe: each file is reported before the next path is written" {
	local d=$BATS_FILE_TMPDIR/data
	printf '%s\n' "$d/f1" "$d/f2" "$d/empty" "$d/f100" >"$TMP/list"
	expect "$TMP/list"
	for m in "${MODES[@]}"; do
		rm -f "$TMP/missed"
		: >"$TMP/out"
		slow_writer "$TMP/out" "$d/f1" "$d/f2" "$d/empty" "$d/f100" |
			timeout -k 5 "$T" epoll-bridge $m >"$TMP/out" 2>"$TMP/err" ||
			{ echo "exit $?" >&2; cat "$TMP/err" >&2; false; }
		[ ! -e "$TMP/missed" ] || { cat "$TMP/missed" >&2; false; }
		check_run
	done
}

@test "more paths than the pending queue holds (stdin is paused and resumed), file and pipe" {
	local d=$BATS_FILE_TMPDIR/data
	for i in $(seq 1 1500); do
		printf '%s\n%s\n' "$d/f7" "$d/nope"
	done >"$TMP/list"
	for m in "${MODES[@]}"; do
		bridge -q 8 $m <"$TMP/list"
		assert_status 1
		[ "$(grep -c " $d/f7\$" "$TMP/out")" -eq 1500 ]
		[ "$(sort -u "$TMP/out")" = "$(stat -c %s "$d/f7") $d/f7" ]
		[ "$(grep -c 'nope: No such file or directory$' "$TMP/err")" -eq 1500 ]
		run timeout -k 5 "$T" bash -c 'cat "$1" | epoll-bridge -q 8 $2 >"$3" 2>"$4"' \
			_ "$TMP/list" "$m" "$TMP/out" "$TMP/err"
		assert_status 1
		[ "$(grep -c " $d/f7\$" "$TMP/out")" -eq 1500 ]
		grep -q '^epoll-bridge: 3000 paths, 1500 failed, ' "$TMP/err"
	done
}

@test "lines: long real paths across stdin reads, a last line without newline, empty lines, too long, NUL" {
	# A real path of about 4000 bytes (the limit is PATH_MAX, 4096 with the NUL).
	local long=$TMP c
	for c in a b c d e f g h i j k l m n o p; do
		long=$long/$(printf "$c%.0s" $(seq 1 245))
	done
	mkdir -p "$long"
	make_file "$long/file" 5000
	[ "${#long}" -gt 3900 ]
	make_file "$TMP/last" 77
	{
		printf '\n\n%s/file\n\n' "$long"
		printf '%s\n' "$long/file"
		printf '%5000s\n' x | tr ' ' y    # longer than PATH_MAX: not a path
		printf 'a\0b\n'                   # a NUL cannot be in a path
		printf '%s' "$TMP/last"
	} >"$TMP/list"
	for m in "${MODES[@]}"; do
		bridge $m <"$TMP/list"
		assert_status 1
		[ "$(grep -c "^5000 $long/file\$" "$TMP/out")" -eq 2 ]
		grep -qx "77 $TMP/last" "$TMP/out"
		[ "$(wc -l <"$TMP/out")" -eq 3 ]
		grep -qx 'epoll-bridge: stdin line 6: File name too long' "$TMP/err"
		grep -qx 'epoll-bridge: stdin line 7: Invalid argument' "$TMP/err"
		grep -q '^epoll-bridge: 5 paths, 2 failed, ' "$TMP/err"
	done
}

@test "an unreadable file (mode 000) fails with EACCES for an ordinary user" {
	# Root reads mode-000 files, so run as nobody when we are root.
	local dir
	dir=$(mktemp -d /dev/shm/epoll-bridge.XXXXXX)
	chmod 755 "$dir"
	cp "$LESSON/epoll-bridge" "$dir/"
	make_file "$dir/open" 1234
	make_file "$dir/shut" 1234
	chmod 644 "$dir/open"
	chmod 000 "$dir/shut"
	printf '%s\n' "$dir/open" "$dir/shut" >"$dir/list"
	chmod 644 "$dir/list"
	local as=()
	[ "$(id -u)" -ne 0 ] || as=(runuser -u nobody --)
	run timeout -k 5 "$T" "${as[@]}" "$dir/epoll-bridge" <"$dir/list"
	rm -rf "$dir"
	[ "$status" -ne 77 ] || skip "exit 77: ${lines[-1]}"
	assert_status 1
	[[ "$output" == *"1234 $dir/open"* ]]
	[[ "$output" == *"epoll-bridge: $dir/shut: Permission denied"* ]]
}

@test "an eventfd post is not one per CQE: fewer wakeups and posts than CQEs" {
	bridge <"$BATS_FILE_TMPDIR/list"
	local line cqes wakeups posts
	line=$(grep ' eventfd wakeups ' "$TMP/err")
	[[ "$line" =~ ([0-9]+)\ CQEs,\ ([0-9]+)\ eventfd\ wakeups\ \(([0-9]+)\ posts ]]
	cqes=${BASH_REMATCH[1]} wakeups=${BASH_REMATCH[2]} posts=${BASH_REMATCH[3]}
	echo "$line" >&2
	# Every file costs at least open + read + close: 3 CQEs.
	[ "$cqes" -ge $((3 * 300)) ]
	[ "$wakeups" -lt "$cqes" ]
	[ "$posts" -lt "$cqes" ]
}

# big_list N: N fresh files of 1-64 KiB in $TMP/big, their paths in
# $TMP/big.list. Small cached files: many reads complete inline during the
# submit, which is where a post switched off by the toggle goes missing.
big_list() {
	local i
	mkdir -p "$TMP/big"
	for i in $(seq 1 "$1"); do
		printf '%*s' $(( (i % 64 + 1) * 1024 )) '' >"$TMP/big/f$i"
		echo "$TMP/big/f$i"
	done >"$TMP/big.list"
}

# missed: the missed-wakeups figure of the counter line in $TMP/err.
missed() {
	local line
	line=$(grep ' paths, .* failed, ' "$TMP/err")
	echo "$line" >&2
	[[ "$line" =~ ,\ ([0-9]+)\ missed\ wakeups$ ]] || return 1
	echo "${BASH_REMATCH[1]}"
}

@test "2000 files finish in every mode, and the epoll bridges count their missed wakeups" {
	big_list 2000
	for m in "${MODES[@]}" --no-toggle "--defer --no-toggle"; do
		bridge $m <"$TMP/big.list"
		assert_status 0
		[ "$(wc -l <"$TMP/out")" -eq 2000 ]
		if [[ " $m " == *" --reverse "* ]]; then
			[ "$(grep -c 'missed wakeups' "$TMP/err")" -eq 0 ]
		else
			missed >/dev/null
		fi
	done
}

@test "a lost eventfd post (--skip-recheck) is caught by the timeout: the run finishes and counts it; with --no-safety-net it hangs" {
	local n
	# 400 files: each lost post costs the net's 100 ms (2000 took 35 s of
	# the 60 s limit here, with 200 to 350 lost).
	big_list 400
	for m in "" --defer; do
		bridge $m --skip-recheck <"$TMP/big.list"
		assert_status 0
		[ "$(wc -l <"$TMP/out")" -eq 400 ]
		n=$(missed)
		[ "$n" -gt 0 ]
	done
	# The same run without the net: the posts lost while the toggle was off
	# are never made up, and epoll_wait sleeps with CQEs in the ring.
	big_list 2000
	status=0
	timeout -k 5 10 epoll-bridge --skip-recheck --no-safety-net <"$TMP/big.list" \
		>"$TMP/out" 2>"$TMP/err" || status=$?
	[ "$status" -eq 124 ]
	[ "$(wc -l <"$TMP/out")" -lt 2000 ]
}

# The same batch without the net, but with the second look: it must finish.
# This is the test that fails if the `while` of on_eventfd() is deleted
# (that is what --skip-recheck does: the hang above). It cannot fail in a
# correct build by chance: a post is lost in spite of the second look only
# if the kernel reads the eventfd switch without a full fence after storing
# the CQ tail, and on x86 the paths this program uses have one on 6.1 and
# 6.18 (README, on_eventfd()). A count of 0 missed wakeups with the net on
# would not do instead: a completion that lands just as the 100 ms timeout
# fires is counted as missed too, however it was posted.
@test "the second look is what finishes a run: without the net, the default bridge and --defer still finish" {
	local modes=("")
	[ "$defer_rc" -eq 77 ] || modes+=(--defer)
	big_list 2000
	for m in "${modes[@]}"; do
		bridge $m --no-safety-net <"$TMP/big.list"
		assert_status 0
		[ "$(wc -l <"$TMP/out")" -eq 2000 ]
		[ "$(missed)" -eq 0 ]
	done
}

@test "--ring-fd needs no second look and no net: level-triggered, it completes with 0 missed wakeups" {
	big_list 2000
	bridge --ring-fd --skip-recheck --no-safety-net <"$TMP/big.list"
	assert_status 0
	[ "$(wc -l <"$TMP/out")" -eq 2000 ]
	[ "$(missed)" -eq 0 ]
}

@test "--reverse counts its poll CQEs and says which poll it used" {
	run timeout -k 5 "$T" bash -c 'cat "$1" | epoll-bridge --reverse >/dev/null' _ "$BATS_FILE_TMPDIR/list"
	[ "$status" -ne 77 ] || skip "exit 77: ${lines[-1]}"
	assert_status 1
	[[ "${lines[-1]}" =~ sleeps\ in\ io_uring_wait_cqe,\ [0-9]+\ poll\ CQEs\ \((multishot|one-shot)\ poll\)$ ]]
}

@test "a list of 300000 paths costs no more memory than one of 2000 (stdin is paused)" {
	local f=$BATS_FILE_TMPDIR/data/f3 small big slack=2048
	# An ASan build (make SANITIZE=1) keeps freed blocks in a quarantine
	# (turned off here) and in caches that grow with the number of
	# allocations even when every one is freed (about 2.4 MiB for 300000):
	# there the bound is 4 MiB; the plain build proves the point at 2 MiB.
	if nm "$LESSON/epoll-bridge" 2>/dev/null | grep -q __asan_init; then
		export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
		slack=4096
	fi
	yes "$f" | head -n 2000 >"$TMP/small"
	yes "$f" | head -n 300000 >"$TMP/big"
	for m in "" --reverse; do
		# pipefail: a run that timeout stopped fails here, saying so,
		# rather than leaving no figure to compare.
		run timeout -k 5 "$T" bash -o pipefail -c '/usr/bin/time -f "maxrss %M" epoll-bridge $1 <"$2" 2>&1 >/dev/null | tail -n 1' _ "$m" "$TMP/small"
		assert_status 0
		small=${output#maxrss }
		run timeout -k 5 "$T" bash -o pipefail -c 'cat "$2" | /usr/bin/time -f "maxrss %M" epoll-bridge $1 2>&1 >/dev/null | tail -n 1' _ "$m" "$TMP/big"
		assert_status 0
		big=${output#maxrss }
		echo "mode '$m': max RSS $small KiB for 2000 paths, $big KiB for 300000" >&2
		[ "$big" -lt $((small + slack)) ]
	done
}

@test "io_uring denied (EPERM and ENOSYS, as seccomp does): exit 77 naming the cause, every mode" {
	for m in "${MODES[@]}"; do
		run timeout 10 deny-uring epoll-bridge $m </dev/null
		assert_status 77
		[[ "$output" == *"io_uring_setup: Operation not permitted"*seccomp* ]]
		run timeout 10 deny-uring -e ENOSYS epoll-bridge $m </dev/null
		assert_status 77
		[[ "$output" == *"io_uring_setup: Function not implemented"* ]]
	done
}

@test "--defer where DEFER_TASKRUN is refused (EINVAL, as before Linux 6.1): exit 77 naming it" {
	local m
	for m in --defer "--reverse --defer"; do
		run timeout 10 deny-uring -e EINVAL epoll-bridge $m </dev/null
		assert_status 77
		[[ "$output" == "epoll-bridge: io_uring_setup: Invalid argument: --defer needs IORING_SETUP_DEFER_TASKRUN (Linux 6.1); run without it (this kernel: "* ]]
		[ "${#lines[@]}" -eq 1 ]
	done
	# Without --defer the same refusal is an error of its own, not a skip.
	run timeout 10 deny-uring -e EINVAL epoll-bridge </dev/null
	assert_status 1
	[[ "$output" == "epoll-bridge: io_uring_queue_init: Invalid argument" ]]
}

@test "--ring-fd on a DEFER_TASKRUN ring is refused (it would hang), exit 2" {
	urun epoll-bridge --ring-fd --defer </dev/null
	assert_status 2
	[[ "$output" == *"--ring-fd cannot work on a DEFER_TASKRUN ring"* ]]
}

@test "usage: -h prints it and exits 0; unknown options, bad depth and arguments exit 2" {
	urun epoll-bridge -h
	assert_status 0
	[[ "$output" == usage:* ]]
	urun epoll-bridge --help
	assert_status 0
	urun epoll-bridge --bogus </dev/null
	assert_status 2
	[[ "$output" == *usage:* ]]
	for q in 0 -1 x 4097 ''; do
		urun epoll-bridge -q "$q" </dev/null
		assert_status 2
	done
	urun epoll-bridge somefile </dev/null
	assert_status 2
}

@test "stdout to a full device is an error, not a silent exit 0" {
	[ -w /dev/full ]
	run timeout -k 5 "$T" bash -c 'epoll-bridge <"$1" >/dev/full' _ "$BATS_FILE_TMPDIR/list"
	[ "$status" -ne 77 ] || skip "exit 77: ${lines[-1]}"
	assert_status 1
	[[ "$output" == *"No space left on device"* ]]
}

@test "closed or write-only stdin: one error line and exit 1 in every mode, not a hang" {
	# With fd 0 closed the ring would get descriptor 0, and the loop would
	# wait for "stdin" (the ring) to become readable, forever; the write
	# end of a pipe never becomes readable either (and cat, reading that
	# pipe, waits for us to close it: a deadlock).
	for m in "${MODES[@]}"; do
		run timeout -k 5 "$T" bash -c 'exec epoll-bridge $1 <&-' _ "$m"
		[ "$status" -ne 77 ] || skip "exit 77: ${lines[-1]}"
		assert_status 1
		[ "$output" = "epoll-bridge: stdin: Bad file descriptor" ]
		run timeout -k 5 "$T" bash -c 'set -o pipefail; epoll-bridge $1 <&1 | cat' _ "$m"
		assert_status 1
		[ "$output" = "epoll-bridge: stdin: Bad file descriptor" ]
	done
}

@test "closed or read-only stdout: one error line and exit 1 in every mode, not results sent into the ring's fd" {
	# With fd 1 closed the ring would get descriptor 1 and every result
	# would be written into it ("Invalid argument" at the end, all lost).
	for m in "${MODES[@]}"; do
		run timeout -k 5 "$T" bash -c 'exec epoll-bridge $1 <"$2" >&-' _ "$m" "$BATS_FILE_TMPDIR/list"
		[ "$status" -ne 77 ] || skip "exit 77: ${lines[-1]}"
		assert_status 1
		[ "$output" = "epoll-bridge: stdout: Bad file descriptor" ]
		run timeout -k 5 "$T" bash -c 'exec epoll-bridge $1 <"$2" 1<"$2"' _ "$m" "$BATS_FILE_TMPDIR/list"
		assert_status 1
		[ "$output" = "epoll-bridge: stdout: Bad file descriptor" ]
	done
}

@test "closed stderr: descriptor 2 is held by /dev/null, never by the ring or a file, and the results are all there" {
	local d=$BATS_FILE_TMPDIR/data pid fd2 i
	for m in "${MODES[@]}"; do
		rm -f "$TMP/in"
		mkfifo "$TMP/in"
		background bash -c 'exec 2>&-; exec epoll-bridge $1 <"$2" >"$3"' _ "$m" "$TMP/in" "$TMP/out"
		pid=$!	# timeout's: the program is its child
		exec 4>"$TMP/in"
		printf '%s\n' "$d/f1" "$d/missing10" >&4
		# The program is running and holds all its descriptors once
		# its result for f1 is out.
		for i in $(seq 1 200); do
			grep -q " $d/f1\$" "$TMP/out" && break
			sleep 0.05
		done
		fd2=$(readlink "/proc/$(pgrep -P "$pid")/fd/2" || echo closed)
		exec 4>&-
		status=0
		wait "$pid" || status=$?
		[ "$status" -ne 77 ] || skip "exit 77"
		echo "mode '$m': fd 2 is $fd2, exit $status" >&2
		[ "$fd2" = /dev/null ]
		assert_status 1
		[ "$(cat "$TMP/out")" = "$(stat -c '%s %n' "$d/f1")" ]
	done
}

@test "options: --reverse with --ring-fd, --oneshot without --reverse, --no-toggle or the test options with the wrong bridge: exit 2 naming the clash" {
	urun epoll-bridge --reverse --ring-fd </dev/null
	assert_status 2
	[ "${lines[0]}" = "epoll-bridge: --reverse and --ring-fd: choose one bridge" ]
	urun epoll-bridge --ring-fd --reverse </dev/null
	assert_status 2
	for m in "" --ring-fd; do
		urun epoll-bridge $m --oneshot </dev/null
		assert_status 2
		[[ "${lines[0]}" == "epoll-bridge: --oneshot: only with --reverse"* ]]
	done
	urun epoll-bridge --oneshot --reverse </dev/null
	assert_status 0
	urun epoll-bridge --ring-fd --no-toggle </dev/null
	assert_status 2
	[[ "${lines[0]}" == "epoll-bridge: --no-toggle: only with the default bridge"* ]]
	for o in --skip-recheck --no-safety-net; do
		urun epoll-bridge --reverse $o </dev/null
		assert_status 2
		[[ "${lines[0]}" == "epoll-bridge: --skip-recheck, --no-safety-net: not with --reverse"* ]]
	done
}

@test "a reader that goes away while SIGPIPE is ignored: 'stdout: Broken pipe', exit 1, no more work taken from an endless list" {
	local d=$BATS_FILE_TMPDIR/data
	for m in "${MODES[@]}"; do
		# yes never ends: only the program giving up on its stdout
		# ends the run before the timeout (exit 124).
		run timeout -k 5 60 bash -c 'trap "" PIPE; yes "$1" | timeout -k 5 20 epoll-bridge $2 2>"$3" | head -n 1; echo "exit ${PIPESTATUS[1]}"' \
			_ "$d/f1" "$m" "$TMP/err"
		[ "${lines[-1]}" != "exit 77" ] || skip "exit 77: $(tail -n 1 "$TMP/err")"
		echo "mode '$m': ${lines[-1]}" >&2
		[ "${lines[-1]}" = "exit 1" ]
		[ "${lines[0]}" = "$(stat -c '%s %n' "$d/f1")" ]
		grep -qx 'epoll-bridge: stdout: Broken pipe' "$TMP/err"
	done
}

@test "ENOMEM from io_uring_setup (a ring over ulimit -l before Linux 5.12): one line naming the limit and -q, exit 1" {
	run timeout 10 deny-uring -e ENOMEM epoll-bridge -q 4096 </dev/null
	assert_status 1
	[ "$output" = "epoll-bridge: io_uring_queue_init: Cannot allocate memory (before Linux 5.12 the rings count against the locked-memory limit, ulimit -l: try a smaller -q)" ]
}
