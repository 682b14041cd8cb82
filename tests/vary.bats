#!/usr/bin/env bats
# A README transcript whose figures are masked for the test (<!-- vary -->)
# tells the reader, in visible words, that those figures change from run to
# run (tools/check-vary): the comment does not show on a rendered page.

load helpers

vary() {
	run timeout 30 "$TOP/tools/check-vary" "$TOP/$1/README.md"
	assert_status 0
}

@test "the top README: masked transcript figures are said to vary" { vary .; }
@test "01-raw-syscalls: masked transcript figures are said to vary" { vary 01-raw-syscalls; }
@test "02-liburing-cat: masked transcript figures are said to vary" { vary 02-liburing-cat; }
@test "03-cp-linked: masked transcript figures are said to vary" { vary 03-cp-linked; }
@test "04-sqpoll: masked transcript figures are said to vary" { vary 04-sqpoll; }
@test "05-echo-server: masked transcript figures are said to vary" { vary 05-echo-server; }
@test "06-buffer-rings: masked transcript figures are said to vary" { vary 06-buffer-rings; }
@test "07-epoll-bridge: masked transcript figures are said to vary" { vary 07-epoll-bridge; }

@test "every lesson has a test in vary.bats" {
	every_lesson_listed
}

# transcript INTRO AFTER: a README with one masked transcript.
transcript() {
	mkdir -p "$TMP/l"
	printf '## Run it\n\n%s\n\n<!-- vary: [0-9]+ ms -->\n```console\n$ echo took 5 ms\ntook 5 ms\n```\n\n%s\n' \
		"$1" "$2" >"$TMP/l/README.md"
	run timeout 30 "$TOP/tools/check-vary" "$TMP/l/README.md"
}

@test "a masked transcript with no word about it fails, naming the comment's line" {
	transcript 'It prints how long it took:' 'That is all.'
	assert_status 1
	[[ "$output" == *"README.md:5: figures masked by <!-- vary -->"* ]]
}

@test "saying so before or after the transcript passes" {
	transcript 'It prints how long it took (the time varies from run to run):' 'That is all.'
	assert_status 0
	transcript 'It prints how long it took:' 'Your times will differ.'
	assert_status 0
}

@test "a paragraph further up does not count" {
	mkdir -p "$TMP/l"
	printf 'Times vary.\n\nIt prints how long it took:\n\n<!-- vary: [0-9]+ ms -->\n```console\n$ echo 5 ms\n5 ms\n```\n' >"$TMP/l/README.md"
	run timeout 30 "$TOP/tools/check-vary" "$TMP/l/README.md"
	assert_status 1
}
