#!/usr/bin/env bats
# Every lesson's exercise checker proves itself (exercises/check --self-test,
# in a scratch folder, never on a student's copy): the untouched starter
# fails, every wrong answer fails with the hint that names its
# misconception, the reference solution passes. A checker that passes a
# wrong answer teaches the mistake.

load helpers

# self_test LESSON: the lesson's checker proves itself; exit 77 (the kernel
# lacks a feature) is a skip with the checker's reason.
self_test() {
	make -s -C "$TOP/$1" all >/dev/null
	run timeout 1200 "$TOP/$1/exercises/check" --self-test
	if [ "$status" -eq 77 ]; then
		skip "$(grep -m1 '^skip' <<<"$output")"
	fi
	printf '%s\n' "$output" >&2
	assert_status 0
	[[ "$output" == *"the solution passes"* ]]
}

@test "01-raw-syscalls: the exercises' checker fails the starter and every wrong answer, passes the solution" { self_test 01-raw-syscalls; }
@test "02-liburing-cat: the exercises' checker fails the starter and every wrong answer, passes the solution" { self_test 02-liburing-cat; }
@test "03-cp-linked: the exercises' checker fails the starter and every wrong answer, passes the solution" { self_test 03-cp-linked; }
@test "04-sqpoll: the exercises' checker fails the starter and every wrong answer, passes the solution" { self_test 04-sqpoll; }
@test "05-echo-server: the exercises' checker fails the starter and every wrong answer, passes the solution" { self_test 05-echo-server; }
@test "06-buffer-rings: the exercises' checker fails the starter and every wrong answer, passes the solution" { self_test 06-buffer-rings; }
@test "07-epoll-bridge: the exercises' checker fails the starter and every wrong answer, passes the solution" { self_test 07-epoll-bridge; }

@test "every lesson has a test in exercises.bats" {
	every_lesson_listed
}

@test "every lesson lays its exercises out the same way" {
	local d name ex bad=0
	for d in "$TOP"/[0-9][0-9]-*/; do
		name=$(basename "$d")
		[ -x "$d/exercises/check" ] || { echo "$name: no executable exercises/check" >&2; bad=1; continue; }
		ls "$d"/exercises/[0-9][0-9]-*.diff >/dev/null 2>&1 || { echo "$name: no exercises/NN-name.diff starter" >&2; bad=1; }
		for ex in "$d"/exercises/*; do
			case ${ex##*/} in
			check|solutions|wrong|[0-9][0-9]-*.diff|README.md) ;;
			[0-9][0-9]-*.c) git -C "$TOP" ls-files --error-unmatch "$ex" >/dev/null 2>&1 &&
				{ echo "$name: ${ex##*/} is committed; students' copies must stay out of git" >&2; bad=1; } ;;
			*) echo "$name: exercises/${ex##*/} does not belong to the exercise layout" >&2; bad=1 ;;
			esac
		done
		for ex in "$d"/exercises/[0-9][0-9]-*.diff; do
			[ -e "$ex" ] || continue
			[ -f "$d/exercises/solutions/${ex##*/}" ] || { echo "$name: no solutions/${ex##*/}" >&2; bad=1; }
		done
	done
	[ "$bad" -eq 0 ]
}

@test "starting an exercise leaves git status clean" {
	git clone -q "$TOP" "$TMP/repo"
	local d name first
	for d in "$TMP"/repo/[0-9][0-9]-*/; do
		first=$("$d/exercises/check" --list | head -n 1)
		[ -n "$first" ] || { echo "$(basename "$d"): no exercises listed" >&2; return 1; }
		EX_CHECK_T=120 timeout 300 "$d/exercises/check" "$first" >/dev/null 2>&1 || true
		[ -e "$d/exercises/$first.c" ] || { echo "$(basename "$d"): check $first wrote no exercises/$first.c" >&2; return 1; }
	done
	run git -C "$TMP/repo" status --porcelain
	[ -z "$output" ] || { echo "git status after starting exercises: $output" >&2; return 1; }
}
