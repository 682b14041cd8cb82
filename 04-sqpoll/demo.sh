#!/bin/bash
# make demo: the same checksum with and without SQPOLL, narrated.
set -e
cd "$(dirname "$0")"
field() { sed -n "s/.*$1 *\([0-9.]*\).*/\1/p" "$2"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run REPORT ARGS...: ./sqpoll-demo ARGS with its report in $tmp/REPORT,
# shown. Exit 77 (io_uring, or SQPOLL alone, refused here) ends the demo
# with the program's reason; any other failure ends it with the status.
run() {
	local report=$tmp/$1 status=0
	shift
	echo "\$ ./sqpoll-demo $*"
	./sqpoll-demo "$@" 2>"$report" || status=$?
	cat "$report"
	if [ "$status" -eq 77 ]; then
		echo "(skipped: see the reason above)"
		exit 0
	elif [ "$status" -ne 0 ]; then
		exit "$status"
	fi
}

echo "sqpoll-demo checksums a 16 MiB scratch file in 4 KiB reads, 32 in flight."
echo "First on an ordinary ring: every batch costs one io_uring_enter."
run plain -s 16M --no-sqpoll
echo
echo "Then with IORING_SETUP_SQPOLL: a thread of this process, iou-sqp-PID, takes the"
echo "SQEs as soon as the SQ tail moves; the app spins on the CQ on another CPU."
run sq -s 16M
echo
printf '= the same checksum; io_uring_enter calls: %s without SQPOLL, %s with it\n' \
	"$(field 'io_uring_enter calls:' "$tmp/plain")" "$(field 'io_uring_enter calls:' "$tmp/sq")"
printf '  (a wakeup for the sleeping poller is the usual one); the price: %s ms of CPU in\n' \
	"$(field 'CPU, poller thread:' "$tmp/sq")"
echo "  the poller, on top of the app's own. Times vary: this machine is shared."
