#!/usr/bin/env bats
# No test in the suite can pass without checking anything (tools/bats-lint).

load helpers

@test "no bats test hides a failure behind '!' or returns early" {
	run "$TOP/tools/bats-lint" "$TOP"/tests/*.bats "$TOP"/[0-9][0-9]-*/tests/*.bats
	printf '%s\n' "$output" >&2
	assert_status 0
}

@test "bats-lint finds '! cmd' before the end of a test, and an early return" {
	# (written with printf: bats would take an @test line here for its own)
	local t='@test'
	printf '%s "a" {\n\t! false\n\ttrue\n}\n' "$t" >"$TMP/x.bats"
	printf '%s "b" {\n\t[ -e /nonexistent ] || return 0\n\tfalse\n}\n' "$t" >>"$TMP/x.bats"
	printf '%s "c" {\n\trun ! false\n\t! true\n}\n' "$t" >>"$TMP/x.bats"
	printf '%s "d" {\n\tanswer '"'"'for (;;) ; return 0;'"'"'\n\tprintf "%%s" "x; return"\n\ttrue\n}\n' "$t" >>"$TMP/x.bats"
	run "$TOP/tools/bats-lint" "$TMP/x.bats"
	assert_status 1
	[[ "$output" == *"x.bats:2:"* ]]
	[[ "$output" == *"x.bats:6:"* ]]
	[[ "$output" != *"x.bats:10:"* ]]
	[[ "$output" != *"x.bats:11:"* ]]
	# a "return" inside quotes is not one
	[[ "$output" != *"x.bats:14:"* ]]
	[[ "$output" != *"x.bats:15:"* ]]
}
