#!/usr/bin/env bats
# tests/exercise-lib.bash, the library every exercises/check is built on,
# exercised on a made-up lesson (99-fake) in a scratch copy: what a student
# sees on a bad option, a compile error, an answer that hangs, an interrupted
# check, and that their copy is never written over.

load helpers

# A lesson with one exercise, 01-answer: a new program that must print 42.
# The starter prints 41. The program is named after this test run, so that
# a process left behind can be found by name.
setup() {
	PROG=exlib-$$-$BATS_TEST_NUMBER
	FAKE=$TMP/top/99-fake
	mkdir -p "$TMP/top/tests" "$FAKE/exercises/solutions" "$FAKE/exercises/wrong"
	cp "$TOP/tests/exercise-lib.bash" "$TMP/top/tests/"
	cat >"$FAKE/exercises/01-answer.diff" <<-'EOF'
	--- /dev/null
	+++ b/exercises/01-answer.c
	@@ -0,0 +1,3 @@
	+#include <stdio.h>
	+
	+int main(void) { printf("%d\n", 41); return 0; }
	EOF
	cat >"$FAKE/exercises/check" <<-EOF
	#!/bin/bash
	. "\$(dirname "\$0")/../../tests/exercise-lib.bash"
	EX_URING=0
	check_01_answer() {
		ex_build "\$1" $PROG || return
		ex_run 60 ./$PROG
		[ "\$EX_RC" -ne 124 ] || { ex_fail "./$PROG hung"; return; }
		[ "\$(cat out)" = 42 ] || { ex_fail "it printed \$(cat out), not 42"; return; }
		ex_pass
	}
	ex_main "\$@"
	EOF
	chmod +x "$FAKE/exercises/check"
	# Scratch folders the checker makes land here, to be counted.
	export TMPDIR=$TMP/scratch
	mkdir -p "$TMPDIR"
}

teardown() {
	pkill -KILL -x "$PROG" 2>/dev/null || true
}

# answer CODE: the student's copy is a program whose main is CODE.
answer() {
	printf '#include <stdio.h>\n#include <string.h>\nint main(void) { %s }\n' "$1" \
		>"$FAKE/exercises/01-answer.c"
}

# nothing_left_behind: no copy of the answer still running, and no scratch
# folder of the checker's left in $TMPDIR.
nothing_left_behind() {
	sleep 0.5
	run pgrep -x "$PROG"
	printf "left running: %s\n" "$output" >&2
	[ -z "$output" ]
	run ls -A "$TMPDIR"
	ls -lA "$TMPDIR" >&2
	[ -z "$output" ]
}

@test "exercise-lib: a bad option or name is one line on stderr and exit 2" {
	urun_split "$FAKE/exercises/check" --bogus
	assert_status 2
	[ "$stderr_out" = "check: --bogus: unknown option (exercises/check --help says what there is)" ]
	urun_split "$FAKE/exercises/check" 02-nothing
	assert_status 2
	[ "$(printf '%s\n' "$stderr_out" | wc -l)" -eq 1 ]
	[[ "$stderr_out" == "check: no exercise named '02-nothing' here; these are: 01-answer" ]]
	rm "$FAKE/exercises/01-answer.diff"
	urun_split "$FAKE/exercises/check"
	assert_status 2
	[ "$stderr_out" = "check: no exercises here (no exercises/NN-name.diff starter)" ]
}

@test "exercise-lib: the first check writes the copy from its starter; later checks never write over it" {
	urun "$FAKE/exercises/check" 01-answer
	assert_status 1
	[[ "$output" == *"started 01-answer: wrote exercises/01-answer.c"* ]]
	[[ "$output" == *"FAIL 01-answer: it printed 41, not 42"* ]]
	answer 'puts("42"); return 0;'
	cp "$FAKE/exercises/01-answer.c" "$TMP/mine.c"
	urun "$FAKE/exercises/check" 01-answer
	assert_status 0
	[ "$output" = "PASS 01-answer" ]
	cmp "$TMP/mine.c" "$FAKE/exercises/01-answer.c"
}

@test "exercise-lib: a compile error shows the first error, not a warning that mentions one" {
	# The warning comes first and says "error"; the error is the missing
	# semicolon (gcc and clang quote it differently).
	printf '#warning an error-free warning\nint main(void) { return 0 }\n' \
		>"$FAKE/exercises/01-answer.c"
	urun "$FAKE/exercises/check" 01-answer
	assert_status 1
	printf '%s\n' "$output" >&2
	[[ "$output" == "FAIL 01-answer: it does not compile: "*"01-answer.c:2:"*"error: expected"* ]]
}

@test "exercise-lib: a busy-looping answer is cut short at EX_CHECK_T, reported as such, and nothing is left running" {
	answer 'for (;;) ; return 0;'
	EX_CHECK_T=3 urun "$FAKE/exercises/check" 01-answer
	assert_status 1
	[ "$output" = "FAIL 01-answer: the check did not finish within 3 s (a hang, or a busy loop?)" ]
	nothing_left_behind
}

@test "exercise-lib: a check interrupted by SIGTERM exits 130 and leaves no program or scratch folder behind" {
	answer 'for (;;) ; return 0;'
	EX_CHECK_T=60 timeout 30 "$FAKE/exercises/check" 01-answer >"$TMP/out" 2>&1 3>&- &
	local pid=$! n
	for n in $(seq 1 100); do
		pgrep -x "$PROG" >/dev/null && break
		sleep 0.1
	done
	pgrep -x "$PROG" >/dev/null
	# timeout's own pid is not the checker's: signal the checker.
	pkill -TERM -P "$pid"
	local status=0
	wait "$pid" || status=$?
	assert_status 130
	grep -qx 'check: interrupted' "$TMP/out"
	nothing_left_behind
}

@test "exercise-lib: a -Werror in CFLAGS (CI's) does not turn an answer's warning into a compile failure" {
	# Right answer with an unused variable: judged by what it prints.
	answer 'int unused; printf("%d\n", 42); return 0;'
	CFLAGS="-O2 -Wall -Wextra -Werror" urun "$FAKE/exercises/check" 01-answer
	printf '%s\n' "$output" >&2
	assert_status 0
	[[ "$output" == *"PASS 01-answer"* ]]
}
