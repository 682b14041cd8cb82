#!/usr/bin/env bats
# Every lesson's exercise checker fails on the untouched starters and passes
# on the reference solutions: a checker that cannot fail checks nothing.

load helpers

checkers() {
	ls "$TOP"/[0-9][0-9]-*/exercises/check 2>/dev/null
}

@test "every lesson has an exercises/check" {
	local d missing=0
	for d in "$TOP"/[0-9][0-9]-*/; do
		[ -x "$d/exercises/check" ] || { echo "no $d/exercises/check" >&2; missing=1; }
	done
	[ "$missing" -eq 0 ]
}

@test "each checker fails every untouched starter, with a hint" {
	local c bad=0
	for c in $(checkers); do
		d=$(dirname "$c")
		make -s -C "$d/.." all >/dev/null
		run timeout 300 "$c" "$d"
		if [ "$status" -eq 0 ] || [[ "$output" == *"PASS "* ]] || [[ "$output" != *"FAIL "*": "* ]]; then
			echo "$c on the starters: exit $status:" >&2
			printf '%s\n' "$output" >&2
			bad=1
		fi
	done
	[ "$bad" -eq 0 ]
}

@test "each checker passes every reference solution" {
	local c bad=0
	for c in $(checkers); do
		d=$(dirname "$c")
		run timeout 300 "$c" "$d/solutions"
		if [ "$status" -ne 0 ] || [[ "$output" == *"FAIL "* ]] || [[ "$output" != *"PASS "* ]]; then
			echo "$c on the solutions: exit $status:" >&2
			printf '%s\n' "$output" >&2
			bad=1
		fi
	done
	[ "$bad" -eq 0 ]
}
