#!/usr/bin/env bats
# Every "Run it" (```console) block of every lesson README is run and its
# output compared with what the README shows: a reader always sees real output.

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

@test "tools/run-readme runs a block as a reader's shell would, even under make -C" {
	# `make -C LESSON check` puts -w in MAKEFLAGS; a block's own make must
	# not inherit it (it would print "Entering directory" lines).
	mkdir -p "$TMP/l"
	printf 'all:\n\t@echo built\n' >"$TMP/l/Makefile"
	printf '```console\n$ make -s\nbuilt\n```\n' >"$TMP/l/README.md"
	MAKEFLAGS=w MAKELEVEL=1 run "$TOP/tools/run-readme" "$TMP/l/README.md"
	assert_status 0
}

@test "a changed line in a real lesson README fails the check" {
	# A copy of the lesson beside the shared tests/ its Makefile builds.
	mkdir -p "$TMP/repo"
	cp -r "$TOP/01-raw-syscalls" "$TMP/repo/01"
	ln -s "$TOP/tests" "$TMP/repo/tests"
	make -s -C "$TMP/repo/01" all >/dev/null
	# The first line of output of the first block, changed by one character.
	awk '/^```console/{b=1} b&&!/^\$/&&!/^```/&&!done{sub(/.$/,"?");done=1} {print}' \
		"$TOP/01-raw-syscalls/README.md" >"$TMP/repo/01/README.md"
	run cmp -s "$TOP/01-raw-syscalls/README.md" "$TMP/repo/01/README.md"
	[ "$status" -eq 1 ]
	run "$TOP/tools/run-readme" "$TMP/repo/01/README.md"
	assert_status 1
}

# transcripts DIR: every Run it block of DIR/README.md matches a real run
# (after the lesson's `make`: a reader builds first).
transcripts() {
	if [ "$1" != . ]; then
		make -s -C "$TOP/$1" all >/dev/null
	fi
	run timeout 900 "$TOP/tools/run-readme" "$TOP/$1/README.md"
	printf '%s\n' "$output" >&2
	assert_status 0
}

@test "the top README's Run it blocks match a real run" { transcripts .; }
@test "01-raw-syscalls: the README's Run it blocks match a real run" { transcripts 01-raw-syscalls; }
@test "02-liburing-cat: the README's Run it blocks match a real run" { transcripts 02-liburing-cat; }
@test "03-cp-linked: the README's Run it blocks match a real run" { transcripts 03-cp-linked; }
@test "04-sqpoll: the README's Run it blocks match a real run" { transcripts 04-sqpoll; }
@test "05-echo-server: the README's Run it blocks match a real run" { transcripts 05-echo-server; }
@test "06-buffer-rings: the README's Run it blocks match a real run" { transcripts 06-buffer-rings; }
@test "07-epoll-bridge: the README's Run it blocks match a real run" { transcripts 07-epoll-bridge; }

@test "every lesson has a test in readme.bats" {
	every_lesson_listed
}
