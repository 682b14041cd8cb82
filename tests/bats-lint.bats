#!/usr/bin/env bats
# No test in the suite can pass without checking anything (tools/bats-lint).

load helpers

@test "no bats test hides a failure behind '!' or returns early, and every background job is bounded" {
	run "$TOP/tools/bats-lint" "$TOP"/tests/*.bats "$TOP"/[0-9][0-9]-*/tests/*.bats \
		"$TOP"/tests/*.bash "$TOP"/[0-9][0-9]-*/tests/*.bash
	printf '%s\n' "$output" >&2
	assert_status 0
}

@test "bats-lint finds '! cmd' and '[ a ] && [ b ]' before the end of a test, and an early return" {
	# (written with printf: bats would take an @test line here for its own)
	local t='@test'
	printf '%s "a" {\n\t! false\n\ttrue\n}\n' "$t" >"$TMP/x.bats"
	printf '%s "b" {\n\t[ -e /nonexistent ] || return 0\n\tfalse\n}\n' "$t" >>"$TMP/x.bats"
	printf '%s "c" {\n\trun ! false\n\t! true\n}\n' "$t" >>"$TMP/x.bats"
	printf '%s "d" {\n\tanswer '"'"'for (;;) ; return 0;'"'"'\n\tprintf "%%s" "x; return"\n\ttrue\n}\n' "$t" >>"$TMP/x.bats"
	printf '%s "e" {\n\t[ 1 -eq 2 ] && [ 1 -eq 1 ]\n\t[ 1 -eq 2 ] || { [ 1 -eq 2 ] && [ 1 -eq 1 ]; }\n' "$t" >>"$TMP/x.bats"
	printf '\tfor i in 1; do [ "$i" = 2 ] && continue; done\n\t[ 1 -eq 1 ] && [ 2 -eq 2 ]\n}\n' >>"$TMP/x.bats"
	run "$TOP/tools/bats-lint" "$TMP/x.bats"
	assert_status 1
	[[ "$output" == *"x.bats:2:"* ]]
	[[ "$output" == *"x.bats:6:"* ]]
	[[ "$output" != *"x.bats:10:"* ]]
	[[ "$output" != *"x.bats:11:"* ]]
	# a "return" inside quotes is not one
	[[ "$output" != *"x.bats:14:"* ]]
	[[ "$output" != *"x.bats:15:"* ]]
	# "[ a ] && [ b ]" before the end checks only b; as the last line, both
	[[ "$output" == *"x.bats:19:"* ]]
	[[ "$output" == *"x.bats:20:"* ]]
	[[ "$output" != *"x.bats:21:"* ]]
	[[ "$output" != *"x.bats:22:"* ]]
}

@test "bats-lint finds a background job that could outlive its test and hold bats up" {
	local t='@test'
	printf '%s "f" {\n\tsleep 100 &\n\ttimeout 9 sleep 100 &\n' "$t" >"$TMP/x.bats"
	printf '\tbackground sleep 100\n\ttimeout 9 sleep 100 3>&- &\n' >>"$TMP/x.bats"
	printf '\ttimeout 9 sleep 100 \\\n\t\t3>&- &\n\ttrue && true\n' >>"$TMP/x.bats"
	printf '\tsleep 1 & # bats-lint: ok (testing)\n\techo "a & b" >&2\n}\n' >>"$TMP/x.bats"
	printf 'helper() {\n\tsleep 100 >/dev/null 2>&1 &\n}\n' >"$TMP/x.bash"
	run "$TOP/tools/bats-lint" "$TMP/x.bats" "$TMP/x.bash"
	assert_status 1
	[[ "$output" == *"x.bats:2:"* ]]
	[[ "$output" == *"x.bats:3:"* ]]
	[[ "$output" == *"x.bash:2:"* ]]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 3 ]
}
