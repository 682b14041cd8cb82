#!/usr/bin/env bats
# uring-cat on regular files: byte-exact, in order, whatever the size, the
# queue depth or the number of files.

load ../../tests/helpers

BLOCK=131072   # uring-cat.c: DEFAULT_BLOCK, the bytes of one read

# check [OPTION...] -- SIZE...: files of those sizes come out byte for byte.
check() {
	local opts=() args=() s
	while [ "$1" != "--" ]; do opts+=("$1"); shift; done
	shift
	: >"$TMP/expected"
	for s in "$@"; do
		make_file "$TMP/in.$s" "$s"
		args+=("$TMP/in.$s")
		cat "$TMP/in.$s" >>"$TMP/expected"
	done
	urun bash -c 'uring-cat "$@" >"$0"' "$TMP/out" "${opts[@]}" "${args[@]}"
	assert_status 0
	assert_same "$TMP/expected" "$TMP/out"
}

@test "an empty file prints nothing" {
	check -- 0
	[ ! -s "$TMP/out" ]
}

@test "one byte" {
	check -- 1
}

@test "one block, one byte less, one byte more" {
	check -- $((BLOCK - 1))
	check -- $BLOCK
	check -- $((BLOCK + 1))
}

@test "the same sizes around a 4 KiB block, with 1, 3 and 64 reads in flight" {
	local q
	for q in 1 3 64; do
		check -b 4k -q "$q" -- 4095 4096 4097 $((20 * 4096 + 7))
	done
}

@test "several MiB of random bytes, at depths 1, 4 and 32" {
	check -q 1 -- $((5 * 1024 * 1024 + 12345))
	check -q 4 -- $((5 * 1024 * 1024 + 12345))
	check -q 32 -b 64k -- $((5 * 1024 * 1024 + 12345))
}

@test "several reads really are in flight at once on a regular file" {
	make_file "$TMP/in" $((4 * 1024 * 1024))
	urun bash -c 'uring-cat -v -q 8 "$0" 2>&1 >/dev/null' "$TMP/in"
	assert_status 0
	[[ "$output" == *"up to 8 in flight"* ]]
	urun bash -c 'uring-cat -v -q 1 "$0" 2>&1 >/dev/null' "$TMP/in"
	[[ "$output" == *"up to 1 in flight"* ]]
}

@test "reads that complete out of file order still come out in file order" {
	[ "$(stat -f -c %T "$TMP")" != tmpfs ] ||
		skip "$TMP is tmpfs: every page stays cached, no read waits for a disk"
	make_file "$TMP/in" $((3 * 1024 * 1024))
	for try in 1 2 3; do
		# every other 16 KiB block uncached: its read waits for the disk
		# while the cached ones behind it complete at once
		"$LESSON/tests/half-cached" 16384 "$TMP/in"
		urun bash -c 'uring-cat -q 16 -b 16k "$0" >"$1"' "$TMP/in" "$TMP/out"
		assert_status 0
		assert_same "$TMP/in" "$TMP/out"
	done
}

@test "several files come out in order, empty ones included" {
	check -- 3 $BLOCK 0 70000 1 0 $((3 * BLOCK + 5))
}

@test "a thousand files on the command line, with only 32 descriptors allowed" {
	local i
	mkdir "$TMP/many"
	for i in $(seq -w 1 1000); do printf '%s\n' "file $i" >"$TMP/many/f$i"; done
	head -c 300000 /dev/urandom >"$TMP/many/f0500"
	cat "$TMP/many"/f* >"$TMP/expected"
	urun bash -c 'ulimit -n 32; uring-cat "$@" >"$0"' "$TMP/out" "$TMP/many"/f*
	assert_status 0
	assert_same "$TMP/expected" "$TMP/out"
}

@test "files under /proc say size 0 and are still read to the end" {
	[ "$(stat -c %s /proc/version)" -eq 0 ]
	urun uring-cat /proc/version
	assert_status 0
	[ "$output" = "$(cat /proc/version)" ]
	# kallsyms is megabytes long: many reads, one at a time, until EOF.
	cat /proc/kallsyms >"$TMP/expected"
	urun bash -c 'uring-cat /proc/kallsyms >"$0"' "$TMP/out"
	assert_status 0
	assert_same "$TMP/expected" "$TMP/out"
	[ "$(stat -c %s "$TMP/out")" -gt $((4 * BLOCK)) ]
}

@test "a sparse file over 4 GiB: offsets past 32 bits read right" {
	local f=/dev/shm/uring-cat-sparse.$$ want got
	truncate -s $(((1 << 32) + 4096 + 5)) "$f"
	# marks at the start, across the 4 GiB line, and at the very end
	printf 'start' | dd of="$f" conv=notrunc status=none
	printf 'ACROSS' | dd of="$f" bs=1 seek=$(((1 << 32) - 3)) conv=notrunc status=none
	printf 'end' | dd of="$f" bs=1 seek=$(((1 << 32) + 4096 + 2)) conv=notrunc status=none
	# what `cat "$f" | cksum` prints, worked out once: cat takes as long as we do
	want="1009211741 $(((1 << 32) + 4096 + 5))"
	run timeout 120 bash -c 'uring-cat -q 16 -b 1m "$0" | cksum' "$f"
	got=$output
	rm -f "$f"
	assert_status 0
	[ "$got" = "$want" ]
}

@test "stdin a regular file: read from where it stands, and left at the end" {
	make_file "$TMP/in" 300000
	tail -c +1001 "$TMP/in" >"$TMP/expected"
	# dd moves the shared position to 1000; uring-cat goes on from there,
	# and the cat after it finds the position at the end: nothing left.
	urun bash -c '{ dd bs=1000 skip=1 count=0 status=none; uring-cat; cat; } <"$0" >"$1"' \
		"$TMP/in" "$TMP/out"
	assert_status 0
	assert_same "$TMP/expected" "$TMP/out"
}

@test "stdout a regular file: its position moves on, and >> appends" {
	make_file "$TMP/a" 200000
	{ cat "$TMP/a"; echo tail; cat "$TMP/a"; } >"$TMP/expected"
	urun bash -c '{ uring-cat "$0"; echo tail; } >"$1"; uring-cat "$0" >>"$1"' "$TMP/a" "$TMP/out"
	assert_status 0
	assert_same "$TMP/expected" "$TMP/out"
}
