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
	# Every suite-wide file with one test per lesson gained one for it.
	run grep -l '^@test "08-scaffold: ' "$TMP"/repo/tests/*.bats
	[ "$(grep -c . <<<"$output")" -eq "$(grep -l '^@test "01-raw-syscalls: ' "$TMP"/repo/tests/*.bats | wc -l)" ]
}

@test "tools/new-lesson refuses a bad name or an existing lesson" {
	run "$TOP/tools/new-lesson" 8-bad prog "Bad"
	assert_status 2
	run "$TOP/tools/new-lesson" 01-raw-syscalls prog "Exists"
	assert_status 1
	[[ "$output" == *"already exists"* ]]
}
