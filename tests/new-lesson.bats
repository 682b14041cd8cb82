#!/usr/bin/env bats
# tools/new-lesson makes a lesson that passes its own `make check` as made,
# and that the suite-wide tests know about.

load helpers

@test "tools/new-lesson makes a lesson that passes make check" {
	git clone -q "$TOP" "$TMP/repo"
	run "$TMP/repo/tools/new-lesson" 08-scaffold nop-demo "Scaffold"
	assert_status 0
	run timeout 600 make -s -C "$TMP/repo/08-scaffold" check
	printf '%s\n' "$output" >&2
	assert_status 0
	[[ "$output" == *"exercises    ok"* ]]
	# Every suite-wide file with one test per lesson gained one for it: the
	# same line as lesson 01's, byte for byte but the name.
	local f n=0
	for f in "$TMP"/repo/tests/*.bats; do
		grep -q '^@test "01-raw-syscalls: ' "$f" || continue
		n=$((n + 1))
		diff <(grep '^@test "01-raw-syscalls: ' "$f" | head -n 1 | sed 's/01-raw-syscalls/08-scaffold/g') \
			<(grep '^@test "08-scaffold: ' "$f") >&2
	done
	[ "$n" -gt 0 ]
	# The starter is a diff against the lesson's program, not a copy of it.
	[ "$(head -n 1 "$TMP/repo/08-scaffold/exercises/01-more-nops.diff")" = "--- a/nop-demo.c" ]
}

@test "the suite-wide tests pass on a new lesson, and tools/lint finds nothing in it" {
	git clone -q "$TOP" "$TMP/repo"
	"$TMP/repo/tools/new-lesson" 08-scaffold nop-demo "Scaffold" >/dev/null
	make -s -C "$TMP/repo/08-scaffold" all >/dev/null
	git -C "$TMP/repo" add -A    # check-refs and the layout test read git's list
	local f
	for f in exercises manpages readme vary cc-lines references; do
		run timeout 600 bats -f '08-scaffold|every lesson has a test|every link and file' "$TMP/repo/tests/$f.bats"
		printf '%s\n' "$output" >&2
		assert_status 0
	done
	# The exercise layout (exercises.bats checks it for every lesson at once).
	run ls "$TMP/repo/08-scaffold/exercises" "$TMP/repo/08-scaffold/exercises/wrong"
	[ "$(echo $output)" = "$TMP/repo/08-scaffold/exercises: 01-more-nops.diff check solutions wrong $TMP/repo/08-scaffold/exercises/wrong: 01-more-nops.reap-fewer.diff 01-more-nops.two-submits.diff" ]
	if command -v clang-tidy >/dev/null && command -v cppcheck >/dev/null; then
		run timeout 300 "$TMP/repo/tools/lint" "$TMP/repo/08-scaffold/nop-demo.c" \
			"$TMP/repo/08-scaffold/exercises/01-more-nops.diff" "$TMP/repo/08-scaffold/exercises/solutions/01-more-nops.diff"
		printf '%s\n' "$output" >&2
		assert_status 0
	fi
}

@test "tools/new-lesson refuses a bad name or an existing lesson" {
	run "$TOP/tools/new-lesson" 8-bad prog "Bad"
	assert_status 2
	run "$TOP/tools/new-lesson" 01-raw-syscalls prog "Exists"
	assert_status 1
	[[ "$output" == *"already exists"* ]]
}
