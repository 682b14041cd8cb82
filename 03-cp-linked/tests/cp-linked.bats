#!/usr/bin/env bats
# cp-linked: byte-exact copies in all three modes, the paths where a link
# chain breaks (short reads, -ECANCELED, short writes), and every error.

load ../../tests/helpers

BLOCK=131072	# cp-linked.c: DEFAULT_BLOCK

setup() {
	# tmpfs for most data; O_DIRECT runs on a file system that takes it.
	SHM=$(mktemp -d /dev/shm/cp-linked-test.XXXXXX)
	DISK=$(mktemp -d /tmp/cp-linked-test.XXXXXX)
}

# takes_direct DIR: true if a file in DIR can be opened with O_DIRECT.
# tmpfs refuses it before Linux 6.6, and /tmp may be tmpfs.
takes_direct() {
	dd if=/dev/zero of="$1/.direct-probe" bs=4096 count=1 oflag=direct status=none 2>/dev/null
	local ok=$?
	rm -f "$1/.direct-probe"
	return $ok
}

# find_direct: set $DIRECT to a scratch folder on a file system that takes
# O_DIRECT (/tmp, /var/tmp, then /dev/shm), or return 1 with DIRECT empty.
# need_direct: the same, or skip the test saying why.
find_direct() {
	local d
	DIRECT=
	for d in "$DISK" /var/tmp "$SHM"; do
		if [ -d "$d" ] && [ -w "$d" ] && takes_direct "$d"; then
			DIRECT=$(mktemp -d "$d/cp-linked-direct.XXXXXX")
			DISK_CLEAN+=("$DIRECT")
			return 0
		fi
	done
	return 1
}

need_direct() {
	find_direct ||
		skip "no file system here takes O_DIRECT (/tmp, /var/tmp, /dev/shm; tmpfs takes it from Linux 6.6)"
}
DISK_CLEAN=()
LOOP=
teardown() {
	[ -z "$LOOP" ] || losetup -d "$LOOP"
	rm -rf "$SHM" "$DISK" "${DISK_CLEAN[@]}"
}

# enters CMD...: run CMD under strace, counting io_uring_enter calls of
# every thread; sets $status, $output (CMD's stderr) and $ENTERS.
# LeakSanitizer cannot run under ptrace: a SANITIZE=1 build skips its leak
# check here (the other tests run it).
enters() {
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		run timeout -k 5 "$T" strace -f -qq -c -e trace=io_uring_enter -o "$TMP/strace" "$@"
	if [ "$status" -eq 77 ]; then
		skip "exit 77: $(printf '%s' "$output" | tail -n 1)"
	fi
	ENTERS=$(awk '$NF == "io_uring_enter" { print $4 }' "$TMP/strace")
	ENTERS=${ENTERS:-0}
	echo "io_uring_enter calls: $ENTERS" >&2
}

# kib FILE: the space FILE takes on disk, in KiB.
kib() {
	du -k "$1" | cut -f1
}

# same_space SRC COPY: COPY takes as much space as SRC, within one 4 KiB block.
same_space() {
	local a b
	a=$(kib "$1") b=$(kib "$2")
	echo "du: $1 $a KiB, $2 $b KiB" >&2
	[ "$b" -le $((a + 4)) ] && [ "$b" -ge $((a - 4)) ]
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

# copy_ok_quiet DIR SIZE [OPTIONS...]: as copy_ok, but the program may
# print its O_DIRECT fallback lines (and nothing else).
copy_ok_quiet() {
	local dir=$1 size=$2; shift 2
	make_file "$dir/src.$size" "$size"
	urun cp-linked "$@" "$dir/src.$size" "$dir/dst.$size"
	assert_status 0
	if printf '%s\n' "$output" | grep -v -e '^$' -e 'copying it through the page cache$' >&2; then
		echo "unexpected output: $output" >&2
		return 1
	fi
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

@test "--direct on a file system that takes O_DIRECT: the same sizes, byte for byte, no fallback" {
	need_direct
	for s in $sizes; do copy_ok "$DIRECT" "$s" --direct; done
}

# The path a kernel takes when the file system refuses O_DIRECT (tmpfs
# before 6.6), forced on any kernel: one line per side, and the copy. The
# side not forced is tried: on a tmpfs that refuses O_DIRECT (5.10, 6.1)
# it says so in a line of its own.
@test "--direct-fallback=src|dst|both: the page-cache path, said once per side, byte for byte" {
	local side name
	make_file "$SHM/src" 300001
	for side in src dst both; do
		rm -f "$SHM/dst"
		urun cp-linked --direct --direct-fallback=$side "$SHM/src" "$SHM/dst"
		assert_status 0
		assert_same "$SHM/src" "$SHM/dst"
		local want=()
		for name in src dst; do
			if [ $side = $name ] || [ $side = both ]; then
				want+=("cp-linked: $SHM/$name: O_DIRECT not tried (--direct-fallback), copying it through the page cache")
			elif ! takes_direct "$SHM"; then
				want+=("cp-linked: $SHM/$name: O_DIRECT refused by its file system, copying it through the page cache")
			fi
		done
		[ "$output" = "$(printf '%s\n' "${want[@]}")" ]
	done
	urun cp-linked --direct-fallback=both "$SHM/src" "$SHM/dst"
	assert_status 2
	[ "$output" = "cp-linked: --direct-fallback needs --direct" ]
	urun cp-linked --direct --direct-fallback=neither "$SHM/src" "$SHM/dst"
	assert_status 2
	[ "$output" = "cp-linked: --direct-fallback takes src, dst or both" ]
}

# Where tmpfs refuses O_DIRECT this is the path --direct takes on /dev/shm:
# every case of the direct test above, through the forced fallback, on tmpfs
# and (if there is one) on a file system that takes O_DIRECT for the other side.
@test "--direct with one side or both through the page cache: the same sizes, byte for byte" {
	for s in $sizes; do copy_ok_quiet "$SHM" "$s" --direct --direct-fallback=both; done
	need_direct
	for s in $sizes; do
		make_file "$SHM/src.$s" "$s"
		urun cp-linked --direct --direct-fallback=src "$SHM/src.$s" "$DIRECT/dst.$s"
		assert_status 0
		assert_same "$SHM/src.$s" "$DIRECT/dst.$s"
		urun cp-linked --direct --direct-fallback=dst "$DIRECT/dst.$s" "$SHM/back.$s"
		assert_status 0
		assert_same "$SHM/src.$s" "$SHM/back.$s"
		rm -f "$SHM/src.$s" "$DIRECT/dst.$s" "$SHM/back.$s"
	done
}

@test "odd block sizes and depths: -b 1, -b 4097, -q 1, -q 64" {
	copy_ok "$SHM" 3000 -b 1
	copy_ok "$SHM" 300000 -b 4097 -q 3
	copy_ok "$SHM" 1000000 -q 1
	copy_ok "$SHM" 2000000 -q 64 -b 4k
	copy_ok "$SHM" 300000 --splice -b 5000 -q 7
	need_direct
	copy_ok "$DIRECT" 3000000 --direct -q 1 -b 8k
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
# the copy stays sparse; the data regions and the size are compared. TAIL
# "data" ends the file with 4 bytes of data, "hole" with 1 GiB of hole: both
# copy in a handful of io_uring_enter calls (before the trailing hole was
# skipped, the second one wrote 1 GiB of zeros in 16387 calls).
sparse_ok() {
	local dir=$1 tail=$2; shift 2
	local big=$((5 * 1024 * 1024 * 1024 + 777)) far=$((4 * 1024 * 1024 * 1024 + 12345))
	truncate -s "$big" "$dir/sparse"
	make_file "$dir/d1" 5000
	make_file "$dir/d2" 100000
	dd if="$dir/d1" of="$dir/sparse" bs=4096 seek=100 conv=notrunc status=none
	dd if="$dir/d2" of="$dir/sparse" oflag=seek_bytes seek="$far" conv=notrunc status=none
	if [ "$tail" = data ]; then
		printf 'end!' | dd of="$dir/sparse" oflag=seek_bytes seek=$((big - 4)) conv=notrunc status=none
	fi
	enters cp-linked "$@" "$dir/sparse" "$dir/copy"
	assert_status 0
	[ "$(stat -c %s "$dir/copy")" -eq "$big" ]
	cmp -n 1000000 "$dir/sparse" "$dir/copy"
	cmp -i "$((far - 4096)):$((far - 4096))" -n 200000 "$dir/sparse" "$dir/copy"
	cmp -i "$((big - 10000)):$((big - 10000))" "$dir/sparse" "$dir/copy"
	same_space "$dir/sparse" "$dir/copy"
	[ "$ENTERS" -le 16 ]
	rm -f "$dir/sparse" "$dir/copy"
}

@test "a sparse 5 GiB file with data past 4 GiB and at its end, in all three modes" {
	sparse_ok "$SHM" data
	sparse_ok "$SHM" data --splice
	need_direct
	sparse_ok "$DIRECT" data --direct
}

@test "a 5 GiB file with data at 0 and past 4 GiB that ends in a 1 GiB hole: a hole in the copy, few enters" {
	sparse_ok "$SHM" hole
	sparse_ok "$SHM" hole --splice
	sparse_ok "$SHM" hole --direct --direct-fallback=both
	need_direct
	sparse_ok "$DIRECT" hole --direct
}

# hole_ok DIR SIZE [OPTIONS...]: SIZE bytes of hole, after DATA bytes of data
# (0: none), copy with the same size, the same bytes, the same space, in at
# most MAX io_uring_enter calls.
hole_ok() {
	local dir=$1 data=$2 size=$3 max=$4; shift 4
	rm -f "$dir/src" "$dir/copy"
	[ "$data" -eq 0 ] || make_file "$dir/src" "$data"
	truncate -s "$size" "$dir/src"
	enters cp-linked "$@" "$dir/src" "$dir/copy"
	assert_status 0
	[ "$(stat -c %s "$dir/copy")" -eq "$size" ]
	cmp "$dir/src" "$dir/copy"
	same_space "$dir/src" "$dir/copy"
	[ "$ENTERS" -le "$max" ]
}

# truncate -s 512M: all hole. Before the fix: 512 MiB of zeros written in
# 8193 io_uring_enter calls. Now one probe read at the end, one enter.
@test "an all-hole 512 MiB file (truncate -s 512M): an all-hole copy in a few enters, all three modes" {
	local big=$((512 * 1024 * 1024))
	hole_ok "$SHM" 0 "$big" 3
	hole_ok "$SHM" 0 "$big" 3 --splice
	hole_ok "$SHM" 0 "$big" 3 --direct --direct-fallback=both
	need_direct
	hole_ok "$DIRECT" 0 "$big" 3 --direct
}

# 300001 bytes of data then a hole to 100 MiB + 5 (not a multiple of the
# block or of 4096: the O_DIRECT probe starts at the aligned offset below).
@test "a file that ends in a hole (data, then a hole to an odd size): the same, all three modes" {
	local size=$((100 * 1024 * 1024 + 5))
	hole_ok "$SHM" 300001 "$size" 6
	hole_ok "$SHM" 300001 "$size" 6 --splice
	hole_ok "$SHM" 300001 "$size" 6 --direct --direct-fallback=both
	need_direct
	hole_ok "$DIRECT" 300001 "$size" 6 --direct
	# 74 blocks of data at one pair in flight: two enters a block at most.
	hole_ok "$DIRECT" 300001 "$size" 160 --direct -b 4k -q 1
}

# O(segments): 40 data segments of 10000 bytes, 1 MiB apart, then a hole.
# The enters grow with the segments (one block each), not with the size.
@test "40 data segments in a 1 GiB file: io_uring_enter calls grow with the segments, not the size" {
	local i
	truncate -s $((1024 * 1024 * 1024)) "$SHM/src"
	for i in $(seq 0 39); do
		head -c 10000 /dev/urandom |
			dd of="$SHM/src" bs=1M seek="$i" conv=notrunc status=none
	done
	for mode in "" --splice; do
		enters cp-linked -q 1 $mode "$SHM/src" "$SHM/copy"
		assert_status 0
		cmp "$SHM/src" "$SHM/copy"
		same_space "$SHM/src" "$SHM/copy"
		[ "$ENTERS" -ge 40 ]
		[ "$ENTERS" -le 88 ]
	done
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

# Holes are skipped only where DST reads them back as zeros by itself: a
# regular file, truncated first. A pipe (or a device) gets every zero.
@test "a sparse SRC into a pipe: the holes arrive as zeros, all three modes" {
	truncate -s 1M "$SHM/src"
	printf 'middle' | dd of="$SHM/src" bs=1 seek=500000 conv=notrunc status=none
	printf 'end' >>"$SHM/src"
	truncate -s 3M "$SHM/src"
	for mode in "" --splice "--direct --direct-fallback=both"; do
		urun bash -c 'cp-linked $1 "$0" /dev/stdout 2>/dev/null | cmp - "$0"' "$SHM/src" "$mode"
		assert_status 0
	done
}

# A device keeps its old bytes where we write nothing: a loop device full
# of 0xff must read back the hole's zeros after the copy.
@test "a sparse SRC onto a block device: the holes are written as zeros" {
	head -c 4194304 /dev/zero | tr '\0' '\377' >"$DISK/dev.img"
	LOOP=$(losetup -f --show "$DISK/dev.img" 2>/dev/null) ||
		skip "no loop device here (losetup needs root and the loop driver)"
	truncate -s 1M "$SHM/src"
	printf 'data' >>"$SHM/src"
	truncate -s 3M "$SHM/src"
	urun cp-linked "$SHM/src" "$LOOP"
	assert_status 0
	cmp -n 3145728 "$SHM/src" "$LOOP"
}

# `| head -c 10`: the reader leaves with most of the copy unwritten. The
# write fails with EPIPE: one line and exit 1 (or death by SIGPIPE, 141,
# on a kernel that sends it to the submitter), never a hang or exit 0.
@test "a pipe reader that goes away (| head): Broken pipe, one line, exit 1, no hang" {
	make_file "$SHM/src" 3000000
	for mode in "" --splice; do
		urun bash -c 'cp-linked $2 "$0" /dev/stdout 2>"$1" | head -c 10 >/dev/null; exit "${PIPESTATUS[0]}"' \
			"$SHM/src" "$SHM/err" "$mode"
		[ "$status" -eq 1 ] || [ "$status" -eq 141 ] || { echo "exit $status" >&2; return 1; }
		[ "$status" -eq 141 ] || [ "$(cat "$SHM/err")" = "cp-linked: /dev/stdout: Broken pipe" ]
	done
}

# A FIFO fed slowly: every read returns what has arrived, less than a block,
# so every chain breaks. The data must still arrive whole and in order.
@test "a slow FIFO breaks every chain: -ECANCELED, resubmitted, byte-exact" {
	for mode in "" --splice; do
		rm -f "$SHM/fifo" "$SHM/out"
		mkfifo "$SHM/fifo"
		background bash -c 'for i in 1 2 3 4 5 6; do printf "part%d;" "$i"; sleep 0.05; done >"$1"' _ "$SHM/fifo"
		urun cp-linked -v $mode "$SHM/fifo" "$SHM/out"
		wait
		assert_status 0
		[ "$(cat "$SHM/out")" = "part1;part2;part3;part4;part5;part6;" ]
		[ "$(stat_of -ECANCELED)" -ge 1 ]
		[ "$(stat_of 'short reads')" -ge 1 ]
	done
}

# A sysfs text attribute says it is one page long (4096 bytes here; binary
# attributes give their own size) and holds far fewer bytes: the
# first linked read comes up short on a regular file, its write is cancelled.
@test "a regular file shorter than its st_size (sysfs): chain broken, copy exact" {
	local f=/sys/devices/system/cpu/online
	[ "$(stat -c %s $f)" -eq "$(getconf PAGESIZE)" ]
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
		background bash -c 'sleep 0.03; truncate -s 1000001 "$1"' _ "$SHM/src"
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
	background bash -c 'exec >"$1"; printf "first;"; sleep 0.2; printf "second;"' _ "$SHM/fifo"
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
		background bash -c 'sleep 0.03; truncate -s 1000001 "$1"' _ "$SHM/src"
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
		background bash -c 'for i in $(seq 1 100); do head -c 65536 /dev/urandom >>"$1"; done' _ "$SHM/src"
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
# With --direct the write goes to a file system that takes O_DIRECT if
# there is one (else through the fallback, as the test above allows).
@test "short write then EFBIG under ulimit -f: one line, exit 1, the limit's worth written" {
	make_file "$SHM/src" 300000
	find_direct || true
	local out=${DIRECT:-$DISK}/dst
	for mode in "" --splice --direct "--direct --direct-fallback=both"; do
		rm -f "$out"
		urun bash -c 'ulimit -f 100; cp-linked -v '"$mode"' -b 64k "$0" "$1"' "$SHM/src" "$out"
		assert_status 1
		[ "$(printf '%s\n' "$output" | tail -n 1)" = "cp-linked: $out: File too large" ]
		[ "$(stat_of 'short writes')" -ge 1 ]
		[ "$(stat -c %s "$out")" -eq 102400 ]
		cmp -n 102400 "$SHM/src" "$out"
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
		for mode in "" --splice --direct "--direct --direct-fallback=src"; do
			urun cp-linked $mode "$SHM/f" "$dst"
			assert_status 1
			# Before the refusal, --direct may say that tmpfs refused
			# O_DIRECT (before 6.6) or that it was not tried.
			[ "$(printf '%s\n' "$output" | tail -n 1)" = "cp-linked: '$SHM/f' and '$dst' are the same file" ]
			local others
			others=$(printf '%s\n' "$output" | head -n -1 | grep -v 'copying it through the page cache$' || true)
			[ -z "$others" ]
			assert_same "$SHM/orig" "$SHM/f"
		done
	done
}

@test "--direct where O_DIRECT is refused (procfs) or means something else (a pipe): says so, copies" {
	cat /proc/filesystems >"$SHM/expected"
	find_direct || true
	urun cp-linked --direct /proc/filesystems "${DIRECT:-$DISK}/out"
	assert_status 0
	[ "$(printf '%s\n' "$output" | head -n 1)" = "cp-linked: /proc/filesystems: O_DIRECT refused by its file system, copying it through the page cache" ]
	# A second line only where no file system here takes O_DIRECT.
	[ -z "$DIRECT" ] || [ "$output" = "cp-linked: /proc/filesystems: O_DIRECT refused by its file system, copying it through the page cache" ]
	assert_same "$SHM/expected" "${DIRECT:-$DISK}/out"
	make_file "$SHM/src" 100000
	urun bash -c 'cp-linked --direct "$0" /dev/stdout | cmp - "$0"' "$SHM/src"
	assert_status 0
	[[ "$output" == *"/dev/stdout: not a file or a block device, no O_DIRECT for it"* ]]
}

# Every set-up step that can fail runs before DST is opened: a failure
# there leaves an existing DST as it was and creates no new one.
# dst_untouched: $SHM/dst still holds "keep!", $SHM/new was never created.
dst_untouched() {
	[ "$(cat "$SHM/dst")" = "keep!" ] || { echo "DST changed: '$(cat "$SHM/dst")'" >&2; return 1; }
	[ ! -e "$SHM/new" ] || { echo "a new DST was created" >&2; return 1; }
}

@test "set-up failures leave DST unchanged: pipe size (F_SETPIPE_SZ), pipes (EMFILE), buffers (ENOMEM)" {
	chmod 755 "$SHM"
	make_file "$SHM/src" 100000
	chmod 644 "$SHM/src"
	printf 'keep!' >"$SHM/dst"
	chmod 666 "$SHM/dst"
	# A pipe bigger than pipe-max-size: refused to anyone without
	# CAP_SYS_RESOURCE, so run as nobody when we are root.
	local max big as=()
	max=$(cat /proc/sys/fs/pipe-max-size)
	big=$((max * 2 > 64 * 1024 * 1024 ? 64 * 1024 * 1024 : max * 2))
	[ "$big" -gt "$max" ] || skip "pipe-max-size is $max: no -b can exceed it"
	cp "$LESSON/cp-linked" "$SHM/cp-linked"
	[ "$(id -u)" -ne 0 ] || as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	for dst in dst new; do
		urun "${as[@]}" "$SHM/cp-linked" --splice -b "$big" "$SHM/src" "$SHM/$dst"
		assert_status 1
		[ "$output" = "cp-linked: -b $big: pipe of that size (see /proc/sys/fs/pipe-max-size): Operation not permitted" ]
		dst_untouched
	done
	# Sixteen pipes need 32 descriptors. (LeakSanitizer needs descriptors
	# of its own at exit: a SANITIZE=1 build skips its leak check here.)
	for dst in dst new; do
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
			urun bash -c 'ulimit -n 20; cp-linked --splice -q 16 "$0" "$1"' "$SHM/src" "$SHM/$dst"
		assert_status 1
		[ "$output" = "cp-linked: pipe2: Too many open files" ]
		dst_untouched
	done
	# 64 buffers of 64 MiB in a 1 GB address space. An ASan build reserves
	# terabytes for itself: cap its allocator instead of the address space.
	local cap='ulimit -v 1000000;'
	if nm "$LESSON/cp-linked" 2>/dev/null | grep -q __asan_init; then
		cap='export ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=1000;'
	fi
	for dst in dst new; do
		urun bash -c "$cap"' cp-linked -q 64 -b 64M "$0" "$1"' "$SHM/src" "$SHM/$dst"
		assert_status 1
		# (ASan warns on a line of its own first.)
		[ "$(printf '%s\n' "$output" | grep -v '^==[0-9]*==WARNING: AddressSanitizer failed to allocate')" = \
			"cp-linked: posix_memalign: Cannot allocate memory" ]
		dst_untouched
	done
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
	run timeout 10 deny-uring cp-linked "$SHM/src" "$SHM/new"
	assert_status 77
	[ ! -e "$SHM/new" ]
}

# /dev/stdout opens the shell's file again, at offset 0, without O_APPEND:
# a copy through that second description would overwrite what `>>` keeps,
# and the -v lines written through descriptor 2 would overwrite the copy.
@test "DST /dev/stdout sent to a file: >> appends, >log 2>&1 holds the copy, then the -v lines" {
	make_file "$SHM/src" 300000
	for mode in "" "--direct --direct-fallback=src"; do
		echo kept >"$SHM/log"
		urun bash -c 'cp-linked $2 "$0" /dev/stdout >>"$1"' "$SHM/src" "$SHM/log" "$mode"
		assert_status 0
		{ echo kept; cat "$SHM/src"; } >"$SHM/want"
		assert_same "$SHM/want" "$SHM/log"
	done
	urun bash -c 'cp-linked -v "$0" /dev/stdout >"$1" 2>&1' "$SHM/src" "$SHM/log"
	assert_status 0
	head -c 300000 "$SHM/log" | cmp - "$SHM/src"
	[ "$(tail -c +300001 "$SHM/log" | grep -c '^cp-linked: ')" -eq 5 ]
	tail -n 1 "$SHM/log" | grep -q 'copied 300000 bytes'
	# splice(2) refuses a file opened for appending: one line, the file kept.
	echo kept >"$SHM/log"
	urun bash -c 'cp-linked --splice "$0" /dev/stdout 2>&1 >>"$1"' "$SHM/src" "$SHM/log"
	assert_status 1
	[ "$output" = "cp-linked: /dev/stdout: Invalid argument (this file does not support splice)" ]
	[ "$(cat "$SHM/log")" = kept ]
}

# With 0, 1 and 2 closed, the files the program opens take those numbers:
# DST must not become "stderr" and receive the -v report or an error line.
@test "closed stdin, stdout and stderr: nothing but the copy lands in DST" {
	make_file "$SHM/src" 300000
	urun bash -c 'cp-linked -v "$0" "$1" <&- >&- 2>&-' "$SHM/src" "$SHM/dst"
	assert_status 0
	assert_same "$SHM/src" "$SHM/dst"
	urun bash -c 'cp-linked -v --splice "$0" "$1" <&- >&- 2>&-' "$SHM/src" "$SHM/dst2"
	assert_status 0
	assert_same "$SHM/src" "$SHM/dst2"
	urun bash -c 'cp-linked "$0" /dev/full <&- >&- 2>&-' "$SHM/src"
	assert_status 1
}

@test "usage: -h on stdout exit 0 (1 if stdout fails); bad options and arguments exit 2" {
	urun cp-linked -h
	assert_status 0
	[[ "$output" == "Usage: cp-linked "* ]]
	urun cp-linked --help
	assert_status 0
	urun bash -c 'cp-linked -h >/dev/full'
	assert_status 1
	[ "$output" = "cp-linked: stdout: No space left on device" ]
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

# --direct's default block is 1 MiB (16 MiB in flight); -b still wins.
@test "--direct defaults to 1 MiB blocks, and -b overrides it" {
	make_file "$SHM/src" 3000000
	urun cp-linked -v --direct --direct-fallback=both "$SHM/src" "$SHM/dst"
	assert_status 0
	[[ "$output" == *"direct mode, 16 pairs of 1048576 bytes"* ]]
	assert_same "$SHM/src" "$SHM/dst"
	urun cp-linked -v --direct --direct-fallback=both -b 64k "$SHM/src" "$SHM/dst"
	assert_status 0
	[[ "$output" == *"direct mode, 16 pairs of 65536 bytes"* ]]
	urun cp-linked -v "$SHM/src" "$SHM/dst"
	assert_status 0
	[[ "$output" == *"read/write mode, 16 pairs of $BLOCK bytes"* ]]
}

# async_reads CMD...: run CMD with tests/uring-opcodes preloaded; sets
# $READS (READ SQEs submitted) and $ASYNC (those of them with IOSQE_ASYNC).
# The preload reads the flags on the SQEs themselves: it needs a cp-linked
# linked against the shared liburing (what `make` builds); with a static
# one (tools/liburing-matrix) only the -v line can be checked.
async_reads() {
	if ! ldd "$LESSON/cp-linked" | grep -q liburing; then
		echo "# cp-linked has liburing linked in statically: the SQE flags are out of reach" >&3
		urun "$@"
		READS=
		return
	fi
	${CC:-cc} -shared -fPIC -o "$TMP/uring-opcodes.so" "$TOP/tests/uring-opcodes.c" -ldl
	urun env LD_PRELOAD="$TMP/uring-opcodes.so" ASAN_OPTIONS=verify_asan_link_order=0 \
		URING_OPCODES_OUT="$TMP/ops" "$@"
	READS=$(awk '$1 == "READ" { print $2 }' "$TMP/ops")
	ASYNC=$(awk '$1 == "READ+ASYNC" { print $2 }' "$TMP/ops")
	ASYNC=${ASYNC:-0}
	echo "READ SQEs: $READS, with IOSQE_ASYNC: $ASYNC" >&2
}

# expect_async all|none: what async_reads counted (6 blocks and a read
# that finds the end of file), if it could count.
expect_async() {
	if [ -n "$READS" ]; then
		[ "$READS" -eq 7 ]
		[ "$ASYNC" -eq "$([ "$1" = all ] && echo 7 || echo 0)" ]
	fi
}

# async_copy all|none LINE SRC [OPTION...]: cp-linked -v OPTIONS SRC to
# $SHM/dst copies SRC exactly, says LINE, and marks all or none of its
# READ SQEs IOSQE_ASYNC.
async_copy() {
	local want=$1 line=$2 src=$3
	shift 3
	async_reads cp-linked -v "$@" "$src" "$SHM/dst"
	assert_status 0
	assert_same "$src" "$SHM/dst"
	[[ "$output" == *"$line"* ]]
	expect_async "$want"
}

# choose_async(): from tmpfs every read carries IOSQE_ASYNC (io-wq then runs
# them side by side, README.md "What the punt costs"), from anywhere else
# none does unless --async-reads=always; never turns it off on tmpfs; and
# --splice keeps its own path (it has no READ SQEs to count).
@test "--async-reads: auto marks every read IOSQE_ASYNC from tmpfs, never turns that off, --splice keeps its path" {
	make_file "$SHM/src" $((5 * BLOCK + 77))
	async_copy all "reads marked IOSQE_ASYNC (SRC is on tmpfs)" "$SHM/src"
	async_copy none "reads tried inline first (--async-reads=never)" "$SHM/src" --async-reads=never
	async_copy none "reads tried inline first (SRC is not on tmpfs, or not read/write mode)" "$SHM/src" --splice
}

# The same from a disk file system (/tmp, else /var/tmp: the kernel
# matrix's guests have /var/tmp on ext4).
@test "--async-reads: auto leaves the reads from a disk file system alone, always marks them" {
	local d disk=
	for d in "$DISK" /var/tmp; do
		[ "$(stat -f -c %T "$d")" = tmpfs ] && continue
		disk=$(mktemp -d "$d/cp-linked-async.XXXXXX")
		DISK_CLEAN+=("$disk")
		break
	done
	echo "a folder on a disk file system: '$disk' (/tmp and /var/tmp tried)" >&2
	[ -n "$disk" ]
	make_file "$disk/src" $((5 * BLOCK + 77))
	async_copy none "reads tried inline first (SRC is not on tmpfs" "$disk/src"
	async_copy all "reads marked IOSQE_ASYNC (--async-reads=always)" "$disk/src" --async-reads=always
}

@test "--async-reads takes auto, always or never" {
	make_file "$SHM/src" 100
	urun cp-linked --async-reads=sometimes "$SHM/src" "$SHM/dst"
	assert_status 2
	[ "$output" = "cp-linked: --async-reads takes auto, always or never" ]
	[ ! -e "$SHM/dst" ]
}

# setups CMD...: run CMD under strace, keeping its io_uring_setup calls;
# sets $status, $output and SETUP, the flags each call asked for, as
# strace prints them ("0", "0x3000 /* IORING_SETUP_??? */" or the names).
setups() {
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		urun strace -qq -e trace=io_uring_setup -o "$TMP/setup" "$@"
	mapfile -t SETUP < <(sed -n 's/^io_uring_setup([0-9]*, {flags=\([^,]*\),.*/\1/p' "$TMP/setup")
	echo "io_uring_setup flags: ${SETUP[*]}" >&2
}

# defer_bit FLAGS: 1 if FLAGS has IORING_SETUP_DEFER_TASKRUN (1 << 13).
defer_bit() {
	case $1 in
	*DEFER_TASKRUN*) echo 1 ;;
	*) echo $(( ${1%% *} >> 13 & 1 )) ;;
	esac
}

# setup_ring(): IOSQE_ASYNC reads come with DEFER_TASKRUN, so that the
# linked writes start in this thread and not in the worker that read.
@test "IOSQE_ASYNC reads ask for DEFER_TASKRUN (plain ring before 6.1, or with --no-defer-taskrun); other reads get a plain ring" {
	local major minor
	read -r major minor _ < <(uname -r | tr '.-' '  ')
	make_file "$SHM/src" $((5 * BLOCK + 77))
	setups cp-linked -v "$SHM/src" "$SHM/dst"
	assert_status 0
	assert_same "$SHM/src" "$SHM/dst"
	[ "$(defer_bit "${SETUP[0]}")" = 1 ]
	if (( major > 6 || (major == 6 && minor >= 1) )); then
		[[ "$output" == *"reads marked IOSQE_ASYNC (SRC is on tmpfs), ring with DEFER_TASKRUN"* ]]
		[ "${#SETUP[@]}" -eq 1 ]
	else
		# refused with EINVAL, then a plain ring
		[[ "$output" == *"plain ring (DEFER_TASKRUN needs Linux 6.1)"* ]]
		[ "${#SETUP[@]}" -eq 2 ]
		[ "$(defer_bit "${SETUP[1]}")" = 0 ]
	fi

	setups cp-linked -v --no-defer-taskrun "$SHM/src" "$SHM/dst"
	assert_status 0
	assert_same "$SHM/src" "$SHM/dst"
	[[ "$output" == *"reads marked IOSQE_ASYNC (SRC is on tmpfs), plain ring (--no-defer-taskrun)"* ]]
	[ "${#SETUP[@]}" -eq 1 ]
	[ "$(defer_bit "${SETUP[0]}")" = 0 ]

	for opt in --async-reads=never --splice; do
		setups cp-linked -v $opt "$SHM/src" "$SHM/dst"
		assert_status 0
		assert_same "$SHM/src" "$SHM/dst"
		[[ "$output" == *"), plain ring"* ]]
		[ "${#SETUP[@]}" -eq 1 ]
		[ "$(defer_bit "${SETUP[0]}")" = 0 ]
	done
}
