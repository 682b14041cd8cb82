# exercise-lib.bash: what every lesson's exercises/check is built on.
#
# A lesson's exercises/ folder holds, for each exercise NN-name:
#   NN-name.diff                 the starter: a diff whose "--- a/FILE" line
#                                names the lesson file it starts from (or
#                                "--- /dev/null" for a new program); applied,
#                                it gives exercises/NN-name.c, the student's
#                                copy (gitignored, never committed)
#   solutions/NN-name.diff       the reference answer, a diff against the starter
#   wrong/NN-name.SLUG.diff      a plausible wrong answer, a diff against the
#                                starter, headed by two lines before its "---":
#                                  Misconception: what the student believed
#                                  Hint: text the checker's FAIL line must hold
# and exercises/check is a bash script that sources this file, defines one
# function per exercise, check_NN_name FILE (the exercise's name with "-"
# turned into "_"), and ends with: ex_main "$@"
#
# A check function runs in a fresh scratch folder ($EX_TMP, also its working
# directory), in its own process under a timeout, and ends in one verdict:
# ex_pass, ex_fail HINT or ex_unsupported WHY. Tools for it: ex_build,
# ex_run, ex_server_start, ex_server_stop, ex_opcodes, $EX_LOAD.
#
# Usage of a checker (ex_main):
#   check                   check every exercise's student copy
#   check NN-name...        check those
#   check --self-test [NN-name...]
#                           prove the checker: in a scratch folder, the
#                           starter fails, each wrong answer fails with its
#                           hint, the reference solution passes
#   check --list            the exercises, one per line
# Exit 0 when everything asked for passed, 1 otherwise, 2 on a usage error,
# 77 when the kernel lacks what an exercise needs (and nothing failed).

EX_SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
EX_DIR=$(dirname "$EX_SELF")                      # the lesson's exercises/
EX_LESSON=$(dirname "$EX_DIR")
EX_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EX_LOAD=$EX_TOP/tests/echo-load
EX_URING=${EX_URING:-1}      # 0: build without liburing (lesson 01)
EX_CFLAGS=${EX_CFLAGS:-}     # extra flags a lesson's exercises need
EX_CHECK_T=${EX_CHECK_T:-300}  # seconds one exercise's check may take

# ---------------------------------------------------------------- verdicts
# The first verdict of a check is the one that counts; it is kept in
# $EX_TMP/.verdict, and printed when the check ends.

ex_verdict() {
	[ -e "$EX_TMP/.verdict" ] || printf '%s\n' "$1" >"$EX_TMP/.verdict"
}

# ex_pass: the exercise is solved.
ex_pass() {
	ex_verdict "PASS $EX_NAME"
}

# ex_fail HINT: it is not; HINT tells the student what to look at. Returns 1
# so a check can end with: ex_fail "..."; return
ex_fail() {
	ex_verdict "FAIL $EX_NAME: $*"
	return 1
}

# ex_unsupported WHY: this kernel or machine cannot run the exercise (the
# program exited 77, say); WHY names what is missing.
ex_unsupported() {
	ex_verdict "SKIP $EX_NAME: $*"
	return 1
}

# ---------------------------------------------------------------- building

# ex_build SRC NAME [CC-ARGS...]: compile SRC into $EX_TMP/NAME the way the
# lesson's Makefile would (its default flags, SANITIZE=1, liburing from
# pkg-config or $URING_CFLAGS/$URING_LIBS), with the lesson folder on the
# include path. On a compile error it prints the FAIL line and returns 1.
ex_build() {
	local src=$1 name=$2 san="" uring_cflags="" uring_libs=""
	shift 2
	if [ "${SANITIZE:-0}" = 1 ]; then
		san="-fsanitize=address,undefined -fno-omit-frame-pointer"
	fi
	if [ "$EX_URING" = 1 ]; then
		uring_cflags=${URING_CFLAGS-$(pkg-config --cflags liburing 2>/dev/null)}
		uring_libs=${URING_LIBS-$(pkg-config --libs liburing 2>/dev/null || echo -luring)}
	fi
	# A student's answer is judged by what it does, so warnings stay
	# warnings: a -Werror in CFLAGS (CI builds the lessons with one) would
	# turn a wrong answer's unused parameter into "does not compile".
	local cflags=${CFLAGS:--O2 -g -Wall -Wextra} f kept=""
	for f in $cflags; do
		[ "$f" = -Werror ] || kept="$kept $f"
	done
	local cc_cmd=${CC:-cc}
	if ! command -v "${cc_cmd%% *}" >/dev/null; then
		ex_unsupported "the C compiler '${cc_cmd%% *}' is not installed (apt-get install gcc, or set CC)"
		return 1
	fi
	# shellcheck disable=SC2086 # the flag variables are word lists
	if ! ${CC:-cc} $kept -std=gnu11 $san $EX_CFLAGS \
		${CPPFLAGS:-} $uring_cflags -I"$EX_LESSON" -o "$EX_TMP/$name" "$src" \
		"$@" $uring_libs ${LDFLAGS:-} >"$EX_TMP/$name.build.log" 2>&1; then
		# Without liburing's headers nothing compiles: that is the machine,
		# not the student's code.
		if grep -q 'liburing\.h: No such file' "$EX_TMP/$name.build.log"; then
			ex_unsupported "liburing's headers are not installed (apt-get install liburing-dev, or set URING_CFLAGS and URING_LIBS)"
			return 1
		fi
		# The first error, not the first line that mentions one: a warning
		# about strerror(), say, comes first too often.
		ex_fail "it does not compile: $(grep -m1 -E ': (fatal )?error: |undefined reference' "$EX_TMP/$name.build.log" ||
			head -n 1 "$EX_TMP/$name.build.log")"
		return 1
	fi
}

# ---------------------------------------------------------------- running

# ex_run SECONDS CMD...: run CMD under timeout; its stdout goes to
# $EX_TMP/out, its stderr to $EX_TMP/err, its exit status to $EX_RC (124:
# it was still running after SECONDS). Returns that status.
ex_run() {
	local secs=$1
	shift
	# --foreground keeps CMD in the check's process group, so the timeout
	# bounding the whole check (EX_CHECK_T, or Ctrl-C) stops it too.
	timeout --foreground -k 2 "$secs" "$@" >"$EX_TMP/out" 2>"$EX_TMP/err" </dev/null
	EX_RC=$?
	return $EX_RC
}

# ex_server_start PROG [ARGS...]: start a server with -p 0 ARGS under a
# timeout of $EX_SERVER_T seconds (default 60), wait for its
# "listening on 127.0.0.1:PORT" line, set EX_PORT and EX_SPID (the server's
# own pid). Its stdout is $EX_TMP/server.out, its stderr $EX_TMP/server.err.
# If it never listens, prints the verdict (FAIL, or SKIP on exit 77) and
# returns 1.
ex_server_start() {
	local rc alive
	: >"$EX_TMP/server.out"
	timeout --foreground -k 2 "${EX_SERVER_T:-60}" "$@" -p 0 >"$EX_TMP/server.out" \
		2>"$EX_TMP/server.err" </dev/null 3>&- &
	EX_TIMEOUT_PID=$!
	for _ in $(seq 1 200); do
		# Alive before looking: a server that prints its line and dies
		# at once must count as started (its exit is the check's to judge).
		alive=1
		kill -0 "$EX_TIMEOUT_PID" 2>/dev/null || alive=0
		EX_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$EX_TMP/server.out")
		if [ -n "$EX_PORT" ]; then
			EX_SPID=$(pgrep -P "$EX_TIMEOUT_PID" || echo "$EX_TIMEOUT_PID")
			return 0
		fi
		if [ $alive -eq 0 ]; then
			wait "$EX_TIMEOUT_PID"
			rc=$?
			EX_TIMEOUT_PID=
			if [ $rc -eq 77 ]; then
				ex_unsupported "$(tail -n 1 "$EX_TMP/server.err")"
			else
				ex_fail "the server exited $rc before listening: $(tail -n 1 "$EX_TMP/server.err")"
			fi
			return 1
		fi
		sleep 0.05
	done
	ex_fail "the server did not print 'listening on 127.0.0.1:PORT' within 10 s"
}

# ex_server_stop: SIGTERM to the server; waits up to 10 s for it to exit and
# returns its exit status (a server that does not exit is killed: 137).
ex_server_stop() {
	local rc
	[ -n "${EX_TIMEOUT_PID:-}" ] || return 1
	kill -TERM "$EX_SPID" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$EX_TIMEOUT_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$EX_SPID" "$EX_TIMEOUT_PID" 2>/dev/null
	wait "$EX_TIMEOUT_PID"
	rc=$?
	EX_TIMEOUT_PID=
	return $rc
}

# ex_opcodes SECONDS CMD...: run CMD like ex_run, and count the io_uring
# requests it submitted, by opcode, from the kernel's io_uring_submit_req
# tracepoint (io_uring_submit_sqe before 5.19). Writes "OPCODE COUNT" lines,
# opcode names as the kernel prints them (READ_FIXED, WRITEV, ...), to
# $EX_TMP/opcodes. Needs root and tracefs; returns 2 (with the reason in
# $EX_TMP/opcodes.why) when the trace cannot be taken. Requests an SQPOLL
# thread submits may not be counted (they are not the program's children).
ex_opcodes() {
	local secs=$1 tracefs event inst
	shift
	tracefs=/sys/kernel/tracing
	# Root may find tracefs not mounted yet (a fresh VM or container).
	[ -d "$tracefs/events" ] || mount -t tracefs nodev "$tracefs" 2>/dev/null
	[ -d "$tracefs/events" ] || tracefs=/sys/kernel/debug/tracing
	for event in io_uring_submit_req io_uring_submit_sqe; do
		[ -d "$tracefs/events/io_uring/$event" ] && break
		event=
	done
	if [ -z "$event" ] || [ ! -w "$tracefs/instances" ]; then
		echo "the io_uring tracepoints are not available here (needs root and tracefs)" \
			>"$EX_TMP/opcodes.why"
		ex_run "$secs" "$@"
		return 2
	fi
	# A trace instance of our own, so nothing else's tracing is disturbed.
	inst=$tracefs/instances/exercise-$$
	if ! mkdir "$inst" 2>/dev/null; then
		echo "cannot create the trace instance $inst" >"$EX_TMP/opcodes.why"
		ex_run "$secs" "$@"
		return 2
	fi
	EX_TRACE_INST=$inst EX_TRACE_EVENT=$event    # for ex_cleanup, if the run is cut short
	# Only this shell and what it starts (forks and threads) are traced:
	# other programs on the machine may be using io_uring too.
	echo "$BASHPID" >"$inst/set_event_pid"
	echo 1 >"$inst/options/event-fork"
	echo 1 >"$inst/events/io_uring/$event/enable"
	ex_run "$secs" "$@"
	echo 0 >"$inst/events/io_uring/$event/enable"
	# Lines look like "... io_uring_submit_req: ring ..., opcode READ_FIXED, ..."
	# (older kernels print the opcode as a number).
	sed -n 's/.* opcode \([A-Za-z0-9_]*\),.*/\1/p' "$inst/trace" | sort | uniq -c |
		awk '{ print $2, $1 }' >"$EX_TMP/opcodes"
	rmdir "$inst"
	EX_TRACE_INST=
	return "$EX_RC"
}

# ex_opcode_count NAME: how many NAME requests the last ex_opcodes counted.
ex_opcode_count() {
	awk -v op="$1" '$1 == op { n = $2 } END { print n + 0 }' "$EX_TMP/opcodes"
}

# ---------------------------------------------------------------- exercises

# The exercises of this lesson, in order: every NN-name.diff starter.
ex_names() {
	local f
	for f in "$EX_DIR"/[0-9][0-9]-*.diff; do
		[ -e "$f" ] && basename "$f" .diff
	done
}

# ex_apply BASE DIFF OUT: BASE patched by DIFF written to OUT, only if every
# hunk applies exactly (no fuzz, no reject files, no questions).
ex_apply() {
	patch -s -f -F0 -r - -o "$3" "$1" "$2" </dev/null >"$3.patch.log" 2>&1 &&
		rm -f "$3.patch.log"
}

# ex_make_starter NAME OUT: the starter of exercise NAME, written to OUT.
ex_make_starter() {
	local diff=$EX_DIR/$1.diff base empty="" rc=0
	base=$(sed -n 's/^--- \([^[:space:]]*\).*/\1/p' "$diff" | head -n 1)
	case $base in
	/dev/null) base=/dev/null ;;
	a/*) base=$EX_LESSON/${base#a/} ;;
	*) echo "$diff: its '---' line must name a/FILE or /dev/null" >&2; return 1 ;;
	esac
	if [ "$base" = /dev/null ]; then
		# patch wants a file to write over; an empty one is the same as none.
		empty=$(mktemp)
		base=$empty
	fi
	if ! ex_apply "$base" "$diff" "$2"; then
		echo "$1: the starter no longer applies to ${base#"$EX_LESSON"/}: $(head -n 1 "$2.patch.log")" >&2
		rm -f "$2.patch.log"
		rc=1
	fi
	[ -z "$empty" ] || rm -f "$empty"
	return $rc
}

# ex_check_one NAME FILE: check FILE as exercise NAME in its own process,
# bounded by $EX_CHECK_T seconds; prints the verdict line and sets
# EX_VERDICT to it. Returns 0 (PASS), 1 (FAIL) or 77 (SKIP).
ex_check_one() {
	local rc
	# timeout makes the check a process group of its own, and on expiry
	# signals the whole group: the programs ex_run and ex_server_start
	# started stop with it. In the background, so that Ctrl-C (which the
	# terminal sends to our group, not to the check's) is handled at once by
	# ex_interrupted instead of after the check.
	timeout -k 5 "$EX_CHECK_T" "$EX_SELF" --check-file "$1" "$2" >"$EX_OUT" 2>"$EX_LOG" 3>&- &
	EX_CHECK_PID=$!
	wait "$EX_CHECK_PID"
	rc=$?
	EX_CHECK_PID=
	EX_VERDICT=$(grep -m1 -E "^(PASS|FAIL|SKIP) $1" "$EX_OUT")
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		EX_VERDICT="FAIL $1: the check did not finish within $EX_CHECK_T s (a hang, or a busy loop?)"
	elif [ -z "$EX_VERDICT" ]; then
		EX_VERDICT="FAIL $1: the checker reached no verdict (exit $rc): $(tail -n 1 "$EX_LOG")"
	fi
	case $EX_VERDICT in
	PASS*) return 0 ;;
	SKIP*) return 77 ;;
	*) return 1 ;;
	esac
}

# What runs in the child: one check function in a scratch folder. What the
# function prints goes to stderr; the verdict alone goes to stdout.
ex_check_file() {
	local name=$1 file fn
	file=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
	fn=check_${name//-/_}
	EX_NAME=$name
	# Inside the checker's own folder, which it removes however this ends.
	EX_TMP=$(mktemp -d "${EX_RUNDIR:-${TMPDIR:-/tmp}}/check.XXXXXX")
	trap 'ex_cleanup' EXIT
	# The check's timeout sends SIGTERM: exit through ex_cleanup then too.
	trap 'exit 143' TERM INT HUP
	cd "$EX_TMP" || exit 1
	if declare -F "$fn" >/dev/null; then
		"$fn" "$file" </dev/null >&2
		[ -e "$EX_TMP/.verdict" ] || ex_fail "the checker reached no verdict (a bug in exercises/check)"
	else
		ex_fail "this checker has no function $fn"
	fi
	cat "$EX_TMP/.verdict"
	case $(cat "$EX_TMP/.verdict") in
	PASS*) exit 0 ;;
	SKIP*) exit 77 ;;
	*) exit 1 ;;
	esac
}

ex_cleanup() {
	if [ -n "${EX_TIMEOUT_PID:-}" ]; then
		kill -KILL "${EX_SPID:-}" "$EX_TIMEOUT_PID" 2>/dev/null
		wait "$EX_TIMEOUT_PID" 2>/dev/null
	fi
	if [ -n "${EX_TRACE_INST:-}" ]; then
		echo 0 >"$EX_TRACE_INST/events/io_uring/$EX_TRACE_EVENT/enable" 2>/dev/null
		rmdir "$EX_TRACE_INST" 2>/dev/null
	fi
	rm -rf "$EX_TMP"
}

# Ctrl-C (or SIGTERM, SIGHUP) while checking: stop the running check and
# everything it started, remove the scratch files, exit 130.
ex_interrupted() {
	trap - INT TERM HUP
	if [ -n "${EX_CHECK_PID:-}" ]; then
		kill -TERM -- -"$EX_CHECK_PID" "$EX_CHECK_PID" 2>/dev/null
		wait "$EX_CHECK_PID" 2>/dev/null
	fi
	echo "check: interrupted" >&2
	exit 130
}

# A student checks their copies, exercises/NN-name.c; a missing one is
# first written from its starter.
ex_student() {
	local name copy failed=0 skipped=0
	for name in "$@"; do
		copy=$EX_DIR/$name.c
		if [ ! -e "$copy" ]; then
			ex_make_starter "$name" "$copy" || { failed=1; continue; }
			echo "started $name: wrote exercises/$name.c from its starter; edit it, then run exercises/check $name again"
		fi
		ex_check_one "$name" "$copy"
		case $? in
		0) ;;
		77) skipped=1 ;;
		*) failed=1 ;;
		esac
		echo "$EX_VERDICT"
	done
	[ $failed -eq 0 ] || return 1
	[ $skipped -eq 0 ] || return 77
}

# --self-test: the starter fails, every wrong answer fails with its hint,
# the solution passes. One "ok"/"not ok" line per proof.
ex_self_test() {
	local name scratch wrong slug hint bad=0 skipped=0 n
	scratch=$EX_RUNDIR/self-test
	mkdir "$scratch"
	for name in "$@"; do
		if ! ex_make_starter "$name" "$scratch/$name.c" 2>"$scratch/err"; then
			echo "not ok $name: $(cat "$scratch/err")"
			bad=1
			continue
		fi
		ex_check_one "$name" "$scratch/$name.c"
		case $? in
		1) echo "ok     $name: the starter fails: ${EX_VERDICT#FAIL "$name": }" ;;
		77) echo "skip   $name: ${EX_VERDICT#SKIP "$name": }"; skipped=1; continue ;;
		*) echo "not ok $name: the untouched starter passes: the checker cannot fail"; bad=1 ;;
		esac

		n=0
		for wrong in "$EX_DIR"/wrong/"$name".*.diff; do
			[ -e "$wrong" ] || continue
			n=$((n + 1))
			slug=${wrong##*/"$name".}
			slug=${slug%.diff}
			hint=$(sed -n 's/^Hint: *//p' "$wrong" | head -n 1)
			if [ -z "$hint" ] || ! grep -q '^Misconception: ' "$wrong"; then
				echo "not ok $name.$slug: the diff needs a 'Misconception:' and a 'Hint:' line before its '---'"
				bad=1
				continue
			fi
			if ! ex_apply "$scratch/$name.c" "$wrong" "$scratch/$name.$slug.c"; then
				echo "not ok $name.$slug: the wrong answer no longer applies to the starter"
				bad=1
				continue
			fi
			ex_check_one "$name" "$scratch/$name.$slug.c"
			case $? in
			1)  if [[ "$EX_VERDICT" == *"$hint"* ]]; then
					echo "ok     $name.$slug fails with its hint: ${EX_VERDICT#FAIL "$name": }"
				else
					echo "not ok $name.$slug fails, but without its hint '$hint': $EX_VERDICT"
					bad=1
				fi ;;
			77) echo "skip   $name.$slug: ${EX_VERDICT#SKIP "$name": }"; skipped=1 ;;
			*)  echo "not ok $name.$slug: this wrong answer passes"; bad=1 ;;
			esac
		done
		if [ $n -lt 2 ]; then
			echo "not ok $name: $n wrong answers in exercises/wrong/ (at least 2 are wanted)"
			bad=1
		fi

		if [ ! -e "$EX_DIR/solutions/$name.diff" ]; then
			echo "not ok $name: no solutions/$name.diff"
			bad=1
		elif ! ex_apply "$scratch/$name.c" "$EX_DIR/solutions/$name.diff" "$scratch/$name.solution.c"; then
			echo "not ok $name: the solution no longer applies to the starter"
			bad=1
		else
			ex_check_one "$name" "$scratch/$name.solution.c"
			case $? in
			0)  echo "ok     $name: the solution passes" ;;
			77) echo "skip   $name: ${EX_VERDICT#SKIP "$name": }"; skipped=1 ;;
			*)  echo "not ok $name: the solution fails: $EX_VERDICT"; bad=1 ;;
			esac
		fi
	done
	rm -rf "$scratch"
	[ $bad -eq 0 ] || return 1
	[ $skipped -eq 0 ] || return 77
}

ex_usage() {
	cat <<-EOF
	usage: exercises/check [NN-name...]              check your copies (exercises/NN-name.c)
	       exercises/check --self-test [NN-name...]  prove the checker against the starter,
	                                                 the wrong answers and the solution
	       exercises/check --list                    the exercises
	EOF
}

# shellcheck disable=SC2317 # ex_check_file exits; its "return" is for show
ex_main() {
	local mode=student names=() n known
	case ${1:-} in
	-h|--help) ex_usage; return 0 ;;
	--list) ex_names; return 0 ;;
	--check-file) shift; ex_check_file "$@"; return ;;
	--self-test) mode=self; shift ;;
	-*) echo "check: $1: unknown option (exercises/check --help says what there is)" >&2; return 2 ;;
	esac
	known=$(ex_names)
	if [ -z "$known" ]; then
		echo "check: no exercises here (no exercises/NN-name.diff starter)" >&2
		return 2
	fi
	for n in "$@"; do
		n=${n%.c}; n=${n%.diff}; n=${n##*/}
		if ! grep -qx -- "$n" <<<"$known"; then
			echo "check: no exercise named '$n' here; these are: ${known//$'\n'/ }" >&2
			return 2
		fi
		names+=("$n")
	done
	[ ${#names[@]} -gt 0 ] || mapfile -t names <<<"$known"
	[ -x "$EX_LOAD" ] || make -s -C "$EX_TOP/tests" >/dev/null 2>&1 || true
	if ! command -v patch >/dev/null; then
		echo "check: patch is not installed (apt-get install patch): the exercises are diffs" >&2
		return 77
	fi
	# Every scratch file and folder of this run, the checks' too, lives in
	# EX_RUNDIR: removed on exit, on Ctrl-C, and after a check killed at its
	# time bound (which could not clean up after itself).
	EX_RUNDIR=$(mktemp -d -t exercise-check.XXXXXX)
	export EX_RUNDIR
	EX_LOG=$EX_RUNDIR/log
	EX_OUT=$EX_RUNDIR/out
	trap 'rm -rf "$EX_RUNDIR"' EXIT
	trap 'ex_interrupted' INT TERM HUP
	if [ $mode = self ]; then
		ex_self_test "${names[@]}"
	else
		ex_student "${names[@]}"
	fi
}
