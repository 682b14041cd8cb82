#!/usr/bin/env bats
# make demo (demo.sh): it runs where SQPOLL cannot, and says why.

load ../../tests/helpers

# A copy of demo.sh beside a stand-in sqpoll-demo that behaves as on a
# machine where an ordinary ring works but SQPOLL is refused (exit 77,
# its reason on stderr), or where the SQPOLL run fails outright (exit 1).
fake_demo() {
	cp "$LESSON/demo.sh" "$TMP/demo.sh"
	cat >"$TMP/sqpoll-demo" <<-EOF2
	#!/bin/bash
	case " \$* " in
	*" --no-sqpoll "*) echo "1 16777216"; echo "  io_uring_enter calls: 175 (submit 175)" >&2 ;;
	*) echo "sqpoll-demo: IORING_SETUP_SQPOLL: Operation not permitted: SQPOLL itself is refused" >&2; exit $1 ;;
	esac
	EOF2
	chmod +x "$TMP/sqpoll-demo"
}

@test "SQPOLL refused (exit 77) on the demo's second run: the reason is shown and the demo ends as a skip" {
	fake_demo 77
	run timeout 60 "$TMP/demo.sh"
	assert_status 0
	[[ $output == *"SQPOLL itself is refused"* ]]
	[[ $output == *"(skipped: see the reason above)"* ]]
}

@test "the SQPOLL run failing: its error is shown and the demo fails with its status" {
	fake_demo 1
	run timeout 60 "$TMP/demo.sh"
	assert_status 1
	[[ $output == *"SQPOLL itself is refused"* ]]
	[[ $output != *"the same checksum"* ]]
}
