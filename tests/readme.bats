#!/usr/bin/env bats
# Every "Run it" (```console) block of every lesson README, and of the top
# README, is run and its output compared with what the README shows: a reader
# always sees real output.

load helpers

@test "tools/run-readme passes a block whose output matches" {
	mkdir -p "$TMP/l"
	cat >"$TMP/l/README.md" <<-'MD'
	<!-- vary: [0-9]+ ms -->
	```console
	$ printf 'one\ntwo\n'
	one
	two
	$ x=5; echo "took $((x * 7)) ms"
	took 12 ms
	$ echo $x
	5
	```
	MD
	run "$TOP/tools/run-readme" "$TMP/l/README.md"
	assert_status 0
}

@test "tools/run-readme fails when one README line differs from the run" {
	mkdir -p "$TMP/l"
	printf '```console\n$ printf "one\\ntwo\\n"\none\nTWO\n```\n' >"$TMP/l/README.md"
	run "$TOP/tools/run-readme" "$TMP/l/README.md"
	assert_status 1
	[[ "$output" == *"| TWO"* ]]
}

@test "tools/run-readme fails when a run prints a line the README lacks" {
	mkdir -p "$TMP/l"
	printf '```console\n$ echo a; echo b >&2\na\n```\n' >"$TMP/l/README.md"
	run "$TOP/tools/run-readme" "$TMP/l/README.md"
	assert_status 1
}

@test "a changed line in a real lesson README fails the check" {
	cp -r "$TOP/01-raw-syscalls" "$TMP/01"
	make -s -C "$TMP/01" all >/dev/null
	# The first line of output of the first block, changed by one character.
	awk '/^```console/{b=1} b&&!/^\$/&&!/^```/&&!done{sub(/.$/,"?");done=1} {print}' \
		"$TOP/01-raw-syscalls/README.md" >"$TMP/01/README.md"
	run cmp -s "$TOP/01-raw-syscalls/README.md" "$TMP/01/README.md"
	assert_status 1
	run "$TOP/tools/run-readme" "$TMP/01/README.md"
	assert_status 1
}

@test "every lesson README's Run it blocks match a real run" {
	local r fails=0
	for r in "$TOP"/[0-9][0-9]-*/README.md; do
		make -s -C "$(dirname "$r")" all >/dev/null
		if ! timeout 600 "$TOP/tools/run-readme" "$r" >"$TMP/out" 2>&1; then
			cat "$TMP/out" >&2
			fails=$((fails + 1))
		fi
	done
	[ "$fails" -eq 0 ]
}

@test "the top README's console blocks match a real run" {
	grep -q '^```console' "$TOP/README.md"
	make -s -C "$TOP/01-raw-syscalls" all >/dev/null
	run timeout 600 "$TOP/tools/run-readme" "$TOP/README.md"
	[ "$status" -eq 0 ] || printf '%s\n' "$output" >&2
	assert_status 0
}
