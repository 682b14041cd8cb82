#!/usr/bin/env bats
# stdout shared with others, as a shell shares it: 2>&1, >>, two writers on
# one log, the next command after us. The log must hold every byte cat
# would write there, in cat's order: uring-cat writes at the file's current
# position (offset -1), one write at a time, as write(2) does.

load ../../tests/helpers

# cat_like LOG FILE...: what cat writes to LOG for the same operands, with
# its error lines under uring-cat's name.
cat_like() {
	local log=$1
	shift
	cat "$@" >"$log" 2>&1 || true   # it fails on the missing file, as we will
	sed -i 's/^cat: /uring-cat: /' "$log"
}

@test ">log 2>&1 with -v: both copies, each followed by its -v line" {
	seq 1 100000 >"$TMP/a"   # 588895 bytes: five reads of 128 KiB
	urun bash -c 'cd "$0" && uring-cat -v a a >log 2>&1' "$TMP"
	assert_status 0
	local n
	n=$(wc -l <"$TMP/a")
	# the data lines, in order, are two copies of a
	grep -v '^uring-cat: ' "$TMP/log" >"$TMP/data"
	cat "$TMP/a" "$TMP/a" >"$TMP/expected"
	assert_same "$TMP/expected" "$TMP/data"
	# and each -v line comes right after its copy, the total last
	[[ "$(sed -n "$((n + 1))p" "$TMP/log")" == "uring-cat: a: 588895 bytes, "* ]]
	[[ "$(sed -n "$((2 * n + 2))p" "$TMP/log")" == "uring-cat: a: 588895 bytes, "* ]]
	[[ "$(sed -n "$((2 * n + 3))p" "$TMP/log")" == "uring-cat: total: 1177790 bytes, "* ]]
	[ "$(wc -l <"$TMP/log")" -eq $((2 * n + 3)) ]
}

@test ">log 2>&1 with errors in the middle: exactly what cat writes" {
	seq 1 50000 >"$TMP/a"
	seq 7 70000 >"$TMP/b"
	mkdir "$TMP/dir"
	cat_like "$TMP/expected" "$TMP/a" "$TMP/missing" "$TMP/b" "$TMP/dir" "$TMP/a"
	urun bash -c 'uring-cat "$@" >"$0" 2>&1' "$TMP/log" \
		"$TMP/a" "$TMP/missing" "$TMP/b" "$TMP/dir" "$TMP/a"
	assert_status 1
	assert_same "$TMP/expected" "$TMP/log"
}

@test ">>log 2>&1: appended after what was there, errors in place" {
	seq 1 30000 >"$TMP/a"
	echo "before" >"$TMP/log"
	cp "$TMP/log" "$TMP/expected"
	cat "$TMP/a" "$TMP/missing" "$TMP/a" >>"$TMP/expected" 2>&1 || true
	sed -i 's/^cat: /uring-cat: /' "$TMP/expected"
	urun bash -c 'uring-cat "$1" "$2" "$1" >>"$0" 2>&1' "$TMP/log" "$TMP/a" "$TMP/missing"
	assert_status 1
	assert_same "$TMP/expected" "$TMP/log"
}

@test "the next command's output goes after ours, not over it" {
	seq 1 40000 >"$TMP/a"
	{ cat "$TMP/a"; echo after; cat "$TMP/a"; } >"$TMP/expected"
	urun bash -c '{ uring-cat "$1"; echo after; uring-cat "$1"; } >"$0"' "$TMP/log" "$TMP/a"
	assert_status 0
	assert_same "$TMP/expected" "$TMP/log"
}

@test "a killed run leaves the position after its bytes: the next writer appends" {
	# uring-cat copies "abc" from a FIFO whose writer then stays; once the
	# three bytes are in the log it is killed, and echo writes next.
	mkfifo "$TMP/fifo"
	urun bash -c '
		{
			uring-cat <"$1" & pid=$!
			exec 3>"$1"
			printf abc >&3
			for i in $(seq 1 200); do
				[ "$(stat -c %s "$0")" -ge 3 ] && break
				sleep 0.05
			done
			kill -9 $pid; wait $pid
			exec 3>&-
			echo after
		} >"$0"' "$TMP/log" "$TMP/fifo"
	[ "$(cat "$TMP/log")" = "abcafter" ]
}

@test "two programs appending to one log: every 4 KiB record of each, in order" {
	# Records of exactly 4096 bytes, written 4 KiB at a time with O_APPEND:
	# each write lands whole at the end, so the records of the two never mix.
	local r
	for r in $(seq 1 300); do printf 'A%05d%4089s\n' "$r" | tr ' ' a; done >"$TMP/A"
	for r in $(seq 1 300); do printf 'B%05d%4089s\n' "$r" | tr ' ' b; done >"$TMP/B"
	[ "$(stat -c %s "$TMP/A")" -eq $((300 * 4096)) ]
	: >"$TMP/log"
	urun bash -c 'uring-cat -b 4k "$1" >>"$0" & uring-cat -b 4k "$2" >>"$0"; wait $!' \
		"$TMP/log" "$TMP/A" "$TMP/B"
	assert_status 0
	[ "$(stat -c %s "$TMP/log")" -eq $((600 * 4096)) ]
	grep '^A' "$TMP/log" >"$TMP/gotA"
	grep '^B' "$TMP/log" >"$TMP/gotB"
	assert_same "$TMP/A" "$TMP/gotA"
	assert_same "$TMP/B" "$TMP/gotB"
}

@test "ulimit -f with a log shared by 2>&1: the allowed bytes, then the error" {
	# The write cut short by the limit is where the kernel can leave the
	# position behind (fix_position_after_short_write()).
	seq 1 20000 >"$TMP/a"
	urun bash -c 'ulimit -f 20; uring-cat -b 3000 "$1" >"$0" 2>&1' "$TMP/log" "$TMP/a"
	assert_status 1
	[ "$(stat -c %s "$TMP/log")" -eq 20480 ]
	cmp -n 20480 "$TMP/a" "$TMP/log"
}
