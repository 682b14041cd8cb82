#!/usr/bin/env bats
# exercises/check reads what the programs really did from strace; these
# tests hold it to the traces other liburing versions and kernels produce.

load ../../tests/helpers

# A strace that makes every ring look as liburing 2.6 and later set it up on
# a kernel before 6.6: a first io_uring_setup with IORING_SETUP_NO_SQARRAY
# refused with EINVAL, then the same call without it (liburing commit
# 3401b06c, "setup: default to IORING_SETUP_NO_SQARRAY").
make_retrying_strace() {
	local real
	real=$(command -v strace) || skip "strace is needed (apt-get install strace)"
	mkdir -p "$TMP/bin"
	cat >"$TMP/bin/strace" <<-SHIM
	#!/bin/bash
	trace=
	for a in "\$@"; do [ "\$prev" = -o ] && trace=\$a; prev=\$a; done
	"$real" "\$@"
	rc=\$?
	[ -n "\$trace" ] && [ -f "\$trace" ] && awk '
	    /io_uring_setup\(/ && / = [0-9]+\$/ {
	        refused = \$0
	        sub(/flags=/, "flags=IORING_SETUP_NO_SQARRAY|", refused)
	        sub(/ = [0-9]+\$/, " = -1 EINVAL (Invalid argument)", refused)
	        print refused
	    }
	    { print }' "\$trace" >"\$trace.tmp" && mv "\$trace.tmp" "\$trace"
	exit \$rc
	SHIM
	chmod +x "$TMP/bin/strace"
}

@test "01-attach-wq: a ring that took two io_uring_setup calls (liburing 2.6+, kernel before 6.6) is one ring" {
	make_retrying_strace
	PATH=$TMP/bin:$PATH run timeout 600 "$LESSON/exercises/check" --self-test 01-attach-wq
	printf '%s\n' "$output" >&2
	if [[ $output == *"could not trace"* ]]; then
		skip "strace cannot trace here (no ptrace)"
	fi
	assert_status 0
	[[ $output == *"01-attach-wq: the solution passes"* ]]
	[[ $output == *"flag-on-ring-a fails with its hint"* ]]
}
