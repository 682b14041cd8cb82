#!/usr/bin/env bats
# Each .c file's header gives the one cc line that builds it; run it as
# written (tools/cc-lines), one test per lesson.

load helpers

@test "01-raw-syscalls: every program builds with the Build: line in its header" { run "$TOP/tools/cc-lines" 01-raw-syscalls; printf '%s\n' "$output" >&2; assert_status 0; }
@test "02-liburing-cat: every program builds with the Build: line in its header" { run "$TOP/tools/cc-lines" 02-liburing-cat; printf '%s\n' "$output" >&2; assert_status 0; }
@test "03-cp-linked: every program builds with the Build: line in its header" { run "$TOP/tools/cc-lines" 03-cp-linked; printf '%s\n' "$output" >&2; assert_status 0; }
@test "04-sqpoll: every program builds with the Build: line in its header" { run "$TOP/tools/cc-lines" 04-sqpoll; printf '%s\n' "$output" >&2; assert_status 0; }
@test "05-echo-server: every program builds with the Build: line in its header" { run "$TOP/tools/cc-lines" 05-echo-server; printf '%s\n' "$output" >&2; assert_status 0; }
@test "06-buffer-rings: every program builds with the Build: line in its header" { run "$TOP/tools/cc-lines" 06-buffer-rings; printf '%s\n' "$output" >&2; assert_status 0; }
@test "07-epoll-bridge: every program builds with the Build: line in its header" { run "$TOP/tools/cc-lines" 07-epoll-bridge; printf '%s\n' "$output" >&2; assert_status 0; }

@test "every lesson has a test in cc-lines.bats" {
	every_lesson_listed
}

@test "cc-lines fails a Build: line that does not build" {
	mkdir -p "$TMP/99-x"
	printf '/*\n * Build:    cc -o x x.c -lnosuchlib\n */\nint main(void) { return 1 - 1; }\n' >"$TMP/99-x/x.c"
	run "$TOP/tools/cc-lines" "$TMP/99-x"
	assert_status 1
	[[ "$output" == *"FAIL"*"x.c"* ]]
}

@test "cc-lines finds a lesson by name from any folder, and names one that does not exist" {
	cd "$TMP"
	run "$TOP/tools/cc-lines" 02-liburing-cat
	printf '%s\n' "$output" >&2
	assert_status 0
	[[ "$output" == "ok   02-liburing-cat/"* ]]
	run "$TOP/tools/cc-lines" 99-none
	assert_status 1
	[ "$output" = "FAIL 99-none: no such lesson folder" ]
}
