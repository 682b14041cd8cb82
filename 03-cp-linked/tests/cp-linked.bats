#!/usr/bin/env bats
# cp-linked: byte-exact copies in all three modes, the paths where a link
# chain breaks (short reads, -ECANCELED, short writes), and every error.

load ../../tests/helpers

BLOCK=131072	# cp-linked.c: DEFAULT_BLOCK

setup() {
	# tmpfs for most data; O_DIRECT runs on the disk (/tmp), as a reader would.
	SHM=$(mktemp -d /dev/shm/cp-linked-test.XXXXXX)
	DISK=$(mktemp -d /tmp/cp-linked-test.XXXXXX)
}

teardown() {
	rm -rf "$SHM" "$DISK"
}

# copy_ok DIR SIZE [OPTIONS...]: a random file of SIZE bytes copies exactly.
copy_ok() {
	local dir=$1 size=$2; shift 2
	make_file "$dir/src.$size" "$size"
	urun cp-linked "$@" "$dir/src.$size" "$dir/dst.$size"
	assert_status 0
	[ -z "$output" ] || { echo "unexpected output: $output" >&2; return 1; }
	assert_same "$dir/src.$size" "$dir/dst.$size"
	rm -f "$dir/src.$size" "$dir/dst.$size"
}

# stat_of NAME: the number cp-linked -v printed before NAME, e.g. "-ECANCELED".
stat_of() {
	printf '%s\n' "$output" | grep -o "[0-9]* $1" | head -n 1 | cut -d' ' -f1
}

sizes="0 1 $((BLOCK - 1)) $BLOCK $((BLOCK + 1)) $((5 * 1024 * 1024 + 4321))"

@test "read/write: sizes 0, 1, block-1, block, block+1 and 5 MiB are copied byte for byte" {
	for s in $sizes; do copy_ok "$SHM" "$s"; done
}

@test "--splice: the same sizes, byte for byte" {
	for s in $sizes; do copy_ok "$SHM" "$s" --splice; done
}

@test "--direct on the disk: the same sizes, byte for byte, no fallback" {
	for s in $sizes; do copy_ok "$DISK" "$s" --direct; done
}

@test "odd block sizes and depths: -b 1, -b 4097, -q 1, -q 64" {
	copy_ok "$SHM" 3000 -b 1
	copy_ok "$SHM" 300000 -b 4097 -q 3
	copy_ok "$SHM" 1000000 -q 1
	copy_ok "$SHM" 2000000 -q 64 -b 4k
	copy_ok "$SHM" 300000 --splice -b 5000 -q 7
	copy_ok "$DISK" 3000000 --direct -q 1 -b 8k
}

@test "DST is created 0644, and an existing longer DST is truncated" {
	make_file "$SHM/src" 10
	urun bash -c 'umask 0; cp-linked "$0" "$1"' "$SHM/src" "$SHM/new"
	assert_status 0
	[ "$(stat -c %a "$SHM/new")" = 644 ]
	make_file "$SHM/old" 1000000
	urun cp-linked "$SHM/src" "$SHM/old"
	assert_status 0
	assert_same "$SHM/src" "$SHM/old"
}

# A 5 GiB sparse file with data past the 4 GiB mark: offsets that do not fit
# in 32 bits. Holes are skipped (SEEK_DATA), so this takes milliseconds and
# the copy stays sparse; the data regions and the size are compared.
sparse_ok() {
	local dir=$1; shift
	local big=$((5 * 1024 * 1024 * 1024 + 777)) far=$((4 * 1024 * 1024 * 1024 + 12345))
	truncate -s "$big" "$dir/sparse"
	make_file "$dir/d1" 5000
	make_file "$dir/d2" 100000
	dd if="$dir/d1" of="$dir/sparse" bs=4096 seek=100 conv=notrunc status=none
	dd if="$dir/d2" of="$dir/sparse" bs=1 seek="$far" conv=notrunc status=none 2>/dev/null ||
		dd if="$dir/d2" of="$dir/sparse" oflag=seek_bytes seek="$far" conv=notrunc status=none
	printf 'end!' | dd of="$dir/sparse" oflag=seek_bytes seek=$((big - 4)) conv=notrunc status=none
	urun cp-linked "$@" "$dir/sparse" "$dir/copy"
	assert_status 0
	[ "$(stat -c %s "$dir/copy")" -eq "$big" ]
	cmp -n 1000000 "$dir/sparse" "$dir/copy"
	cmp -i "$((far - 4096)):$((far - 4096))" -n 200000 "$dir/sparse" "$dir/copy"
	cmp -i "$((big - 10000)):$((big - 10000))" "$dir/sparse" "$dir/copy"
	# Still sparse: no more than a few MiB allocated.
	[ "$(du -k "$dir/copy" | cut -f1)" -lt 4096 ]
	rm -f "$dir/sparse" "$dir/copy"
}

@test "a sparse 5 GiB file with data past 4 GiB, in all three modes" {
	sparse_ok "$SHM"
	sparse_ok "$SHM" --splice
	sparse_ok "$DISK" --direct
}

@test "a pipe as SRC (one pair at a time), in read/write and splice modes" {
	make_file "$SHM/src" 3000000
	urun bash -c 'cat "$0" | cp-linked /dev/stdin "$1"' "$SHM/src" "$SHM/a"
	assert_status 0
	assert_same "$SHM/src" "$SHM/a"
	urun bash -c 'cat "$0" | cp-linked --splice -v /dev/stdin "$1"' "$SHM/src" "$SHM/b"
	assert_status 0
	assert_same "$SHM/src" "$SHM/b"
	[[ "$output" == *"1 pair of"* ]]
}

@test "a pipe as DST: writes stay in order, short splices into it are continued" {
	make_file "$SHM/src" 3000000
	urun bash -c 'cp-linked "$0" /dev/stdout | cmp - "$0"' "$SHM/src"
	assert_status 0
	urun bash -c 'cp-linked -v --splice "$0" /dev/stdout 2>"$1" | cmp - "$0"' "$SHM/src" "$SHM/err"
	assert_status 0
	grep -q 'copied 3000000 bytes' "$SHM/err"
}

# A FIFO fed slowly: every read returns what has arrived, less than a block,
# so every chain breaks. The data must still arrive whole and in order.
@test "a slow FIFO breaks every chain: -ECANCELED, resubmitted, byte-exact" {
	for mode in "" --splice; do
		rm -f "$SHM/fifo" "$SHM/out"
		mkfifo "$SHM/fifo"
		(for i in 1 2 3 4 5 6; do printf 'part%d;' "$i"; sleep 0.05; done >"$SHM/fifo") &
		urun cp-linked -v $mode "$SHM/fifo" "$SHM/out"
		wait
		assert_status 0
		[ "$(cat "$SHM/out")" = "part1;part2;part3;part4;part5;part6;" ]
		[ "$(stat_of -ECANCELED)" -ge 1 ]
		[ "$(stat_of 'short reads')" -ge 1 ]
	done
}

# sysfs says every attribute is 4096 bytes long, and holds far fewer: the
# first linked read comes up short on a regular file, its write is cancelled.
@test "a regular file shorter than its st_size (sysfs): chain broken, copy exact" {
	local f=/sys/devices/system/cpu/online
	[ "$(stat -c %s $f)" -eq 4096 ]
	cat $f >"$SHM/expected"
	urun cp-linked -v $f "$SHM/out"
	assert_status 0
	assert_same "$SHM/expected" "$SHM/out"
	[ "$(stat_of -ECANCELED)" -ge 1 ]
	urun cp-linked -v -b 2 $f "$SHM/out2"
	assert_status 0
	assert_same "$SHM/expected" "$SHM/out2"
}

@test "a file whose st_size is 0 (/proc) is read until EOF" {
	cat /proc/filesystems >"$SHM/expected"
	[ "$(stat -c %s /proc/filesystems)" -eq 0 ]
	urun cp-linked -b 64 /proc/filesystems "$SHM/out"
	assert_status 0
	assert_same "$SHM/expected" "$SHM/out"
	[ -s "$SHM/out" ]
}

# The source is cut short while it is copied: blocks past the new end read
# short, their writes are cancelled, and the copy ends where a read found the
# end. Whatever the timing: exit 0, and DST is a prefix of what SRC held.
@test "SRC truncated by another process during the copy: a clean prefix, no hang" {
	make_file "$SHM/orig" $((32 * 1024 * 1024))
	for mode in "" --splice --direct; do
		cp "$SHM/orig" "$SHM/src"
		(sleep 0.03; truncate -s 1000001 "$SHM/src") &
		urun cp-linked $mode -b 4k -q 8 "$SHM/src" "$SHM/dst"
		wait
		assert_status 0
		size=$(stat -c %s "$SHM/dst")
		[ "$size" -ge 1000001 ]
		cmp -n "$size" "$SHM/orig" "$SHM/dst"
	done
}

# --splice: a short splice in leaves a partly filled slot in the pipe, and a
# pipe counts slots, not bytes. With -b 4k the pipe has one slot: a splice of
# the rest of the block into it would wait for room forever (the old hang:
# its reader is the splice out linked behind it). The pipe must be emptied
# first. Three sources whose first splice in comes up short every time,
# without any race: a /proc file (st_size 0, a lone probe read), a sysfs
# file (st_size 4096, a linked pair), a FIFO fed in two parts.
@test "--splice -b 4k after a short splice in: the pipe is emptied first, no hang" {
	local T=10
	cat /proc/version >"$SHM/expected"
	urun cp-linked -v --splice -b 4k /proc/version "$SHM/out"
	assert_status 0
	assert_same "$SHM/expected" "$SHM/out"
	[ "$(stat_of 'short reads')" -ge 1 ]
	local f=/sys/devices/system/cpu/online
	cat $f >"$SHM/expected"
	urun cp-linked -v --splice -b 4k $f "$SHM/out"
	assert_status 0
	assert_same "$SHM/expected" "$SHM/out"
	[ "$(stat_of -ECANCELED)" -ge 1 ]
	rm -f "$SHM/fifo"
	mkfifo "$SHM/fifo"
	(printf 'first;'; sleep 0.2; printf 'second;') >"$SHM/fifo" &
	urun cp-linked -v --splice -b 4k "$SHM/fifo" "$SHM/out"
	wait
	assert_status 0
	[ "$(cat "$SHM/out")" = "first;second;" ]
	[ "$(stat_of 'short reads')" -ge 1 ]
}

# The same trap, hit by the race the test above sets up on purpose: the
# block that straddles the new end splices in short, and the rest of it
# would wait for room in a full pipe. Before the fix this hung within a few
# runs; now none of 20 may.
@test "--splice -b 4k, SRC truncated during the copy, 20 times: no hang, clean prefixes" {
	local T=20
	make_file "$SHM/orig" $((32 * 1024 * 1024))
	for i in $(seq 1 20); do
		cp "$SHM/orig" "$SHM/src"
		(sleep 0.03; truncate -s 1000001 "$SHM/src") &
		urun cp-linked --splice -b 4k -q 8 "$SHM/src" "$SHM/dst"
		wait
		[ "$status" -eq 0 ] || { echo "run $i: exit $status (124: hung)" >&2; return 1; }
		size=$(stat -c %s "$SHM/dst")
		[ "$size" -ge 1000001 ]
		cmp -n "$size" "$SHM/orig" "$SHM/dst"
	done
}

# The source grows while it is copied, block by block: the copy reads on
# past the size fstat gave until a read finds the end.
@test "SRC appended to during the copy: copied past its first size, a clean prefix" {
	for mode in "" --splice; do
		make_file "$SHM/src" $((4 * 1024 * 1024))
		(for i in $(seq 1 100); do head -c 65536 /dev/urandom >>"$SHM/src"; done) &
		urun cp-linked $mode -b 4k -q 4 "$SHM/src" "$SHM/dst"
		wait
		assert_status 0
		size=$(stat -c %s "$SHM/dst")
		[ "$size" -ge $((4 * 1024 * 1024)) ]
		cmp -n "$size" "$SHM/src" "$SHM/dst"
	done
}

# RLIMIT_FSIZE at 100 KiB: the write that crosses it comes back short (the
# tail of a chain), is continued, and the continuation fails with EFBIG.
@test "short write then EFBIG under ulimit -f: one line, exit 1, the limit's worth written" {
	make_file "$SHM/src" 300000
	for mode in "" --splice --direct; do
		rm -f "$DISK/dst"
		urun bash -c 'ulimit -f 100; cp-linked -v '"$mode"' -b 64k "$0" "$1"' "$SHM/src" "$DISK/dst"
		assert_status 1
		[ "$(printf '%s\n' "$output" | tail -n 1)" = "cp-linked: $DISK/dst: File too large" ]
		[ "$(stat_of 'short writes')" -ge 1 ]
		[ "$(stat -c %s "$DISK/dst")" -eq 102400 ]
		cmp -n 102400 "$SHM/src" "$DISK/dst"
	done
}

@test "DST on a full device (/dev/full): ENOSPC, one line, exit 1" {
	make_file "$SHM/src" 1000
	urun cp-linked "$SHM/src" /dev/full
	assert_status 1
	[ "$output" = "cp-linked: /dev/full: No space left on device" ]
	# /dev/full cannot be spliced into at all: say so rather than a bare EINVAL.
	urun cp-linked --splice "$SHM/src" /dev/full
	assert_status 1
	[ "$output" = "cp-linked: /dev/full: Invalid argument (this file does not support splice)" ]
}

# all_reaped: from cp-linked -v output, every SQE submitted got its CQE seen
# before exit (2 per linked pair, 1 per lone read or write). A program that
# quit at the first error would leave requests in flight, writing into or
# out of buffers it is about to free.
all_reaped() {
	local sqes=$(( 2 * $(stat_of 'linked pairs') + $(stat_of 'lone reads') + $(stat_of 'lone writes') ))
	echo "SQEs $sqes, CQEs $(stat_of CQEs)" >&2
	[ "$(stat_of CQEs)" -eq "$sqes" ]
}

@test "a write error (ENOSPC, splice EINVAL, EFBIG) with many pairs in flight: all reaped before exit" {
	make_file "$SHM/src" 3000000
	for mode in "" --splice; do
		urun cp-linked -v $mode -q 16 -b 4k "$SHM/src" /dev/full
		assert_status 1
		[ "$(stat_of 'linked pairs')" -ge 16 ]
		all_reaped
	done
	rm -f "$DISK/dst"
	urun bash -c 'ulimit -f 100; cp-linked -v -q 16 -b 3k "$0" "$1"' "$SHM/src" "$DISK/dst"
	assert_status 1
	[ "$(printf '%s\n' "$output" | tail -n 1)" = "cp-linked: $DISK/dst: File too large" ]
	all_reaped
}

@test "missing SRC, SRC a directory, DST in a missing directory: one line, exit 1" {
	make_file "$SHM/src" 10
	urun cp-linked "$SHM/nope" "$SHM/dst"
	assert_status 1
	[ "$output" = "cp-linked: $SHM/nope: No such file or directory" ]
	[ ! -e "$SHM/dst" ]
	urun cp-linked "$SHM" "$SHM/dst"
	assert_status 1
	[ "$output" = "cp-linked: $SHM: Is a directory" ]
	urun cp-linked "$SHM/src" "$SHM/no/such/dir/dst"
	assert_status 1
	[ "$output" = "cp-linked: $SHM/no/such/dir/dst: No such file or directory" ]
	urun cp-linked "$SHM/src" "$SHM"
	assert_status 1
	[ "$output" = "cp-linked: $SHM: Is a directory" ]
}

@test "DST not writable: Permission denied, one line, exit 1" {
	chmod 755 "$SHM"
	make_file "$SHM/src" 10
	chmod 644 "$SHM/src"
	printf 'keep' >"$SHM/ro"
	chmod 444 "$SHM/ro"
	cp "$LESSON/cp-linked" "$SHM/cp-linked"
	if [ "$(id -u)" -eq 0 ]; then	# root writes anywhere: be nobody
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	else
		as=()
	fi
	urun "${as[@]}" "$SHM/cp-linked" "$SHM/src" "$SHM/ro"
	assert_status 1
	[ "$output" = "cp-linked: $SHM/ro: Permission denied" ]
	[ "$(cat "$SHM/ro")" = keep ]
}

# The check must come before O_TRUNC: a cp that truncates first has already
# destroyed the file when it notices.
@test "copying a file onto itself is refused and leaves it whole (path, symlink, hard link)" {
	make_file "$SHM/f" 500000
	cp "$SHM/f" "$SHM/orig"
	ln -s "$SHM/f" "$SHM/sym"
	ln "$SHM/f" "$SHM/hard"
	for dst in "$SHM/f" "$SHM/sym" "$SHM/hard"; do
		for mode in "" --splice --direct; do
			urun cp-linked $mode "$SHM/f" "$dst"
			assert_status 1
			[ "$output" = "cp-linked: '$SHM/f' and '$dst' are the same file" ]
			assert_same "$SHM/orig" "$SHM/f"
		done
	done
}

@test "--direct where O_DIRECT is refused (procfs) or means something else (a pipe): says so, copies" {
	cat /proc/filesystems >"$SHM/expected"
	urun cp-linked --direct /proc/filesystems "$DISK/out"
	assert_status 0
	[ "$output" = "cp-linked: /proc/filesystems: O_DIRECT refused by its file system, copying it through the page cache" ]
	assert_same "$SHM/expected" "$DISK/out"
	make_file "$SHM/src" 100000
	urun bash -c 'cp-linked --direct "$0" /dev/stdout | cmp - "$0"' "$SHM/src"
	assert_status 0
	[[ "$output" == *"/dev/stdout: not a file or a block device, no O_DIRECT for it"* ]]
}

@test "io_uring blocked (seccomp EPERM, ENOSYS): exit 77 naming the cause, DST untouched" {
	make_file "$SHM/src" 10
	printf 'keep' >"$SHM/dst"
	run timeout 10 deny-uring cp-linked "$SHM/src" "$SHM/dst"
	assert_status 77
	[[ "$output" == *"io_uring_queue_init: Operation not permitted"*"seccomp"*"io_uring_disabled"* ]]
	run timeout 10 deny-uring -e ENOSYS cp-linked "$SHM/src" "$SHM/dst"
	assert_status 77
	[[ "$output" == *"Function not implemented"*"Linux 5.1"* ]]
	[ "$(cat "$SHM/dst")" = keep ]
}

@test "usage: -h on stdout exit 0; bad options and arguments exit 2" {
	urun cp-linked -h
	assert_status 0
	[[ "$output" == "Usage: cp-linked "* ]]
	urun cp-linked --help
	assert_status 0
	for args in "--bogus a b" "a" "a b c" "--splice --direct a b" "--direct -b 1000 a b" \
		"-q 0 a b" "-b 0 a b" "-q x a b" "-b 65M a b"; do
		urun cp-linked $args
		assert_status 2
		[[ "$output" == *"Usage: cp-linked"* ]] || [[ "$output" == *"exclude"* ]] || [[ "$output" == *"multiple of"* ]]
	done
}

@test "-v tells pairs, CQEs, -ECANCELED and bytes" {
	make_file "$SHM/src" $((3 * BLOCK + 5))
	urun cp-linked -v -q 2 "$SHM/src" "$SHM/dst"
	assert_status 0
	[[ "$output" == *"read/write mode, 2 pairs of $BLOCK bytes"* ]]
	[ "$(stat_of 'linked pairs')" -eq 4 ]
	[ "$(stat_of CQEs)" -eq 9 ]
	[ "$(stat_of -ECANCELED)" -eq 0 ]
	[[ "$output" == *"copied $((3 * BLOCK + 5)) bytes in 5 blocks"* ]]
}
