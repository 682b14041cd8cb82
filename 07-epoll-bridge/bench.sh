#!/usr/bin/env bash
# bench.sh: wakeups against CQEs for each bridge on a big batch (make bench).
# No speed claim: the three bridges do the same I/O. Wall time is shown for
# information, with a blocking loop as a reference point, not a contest:
# the same job (open, read 16 KiB at a time, close, print "SIZE PATH") in
# perl, one file after the other. coreutils has no such tool: `wc -c` takes
# a size from fstat and reads nothing, `wc -l` spends its time counting
# lines, and `cat` maps and unmaps a fresh 128 KiB buffer per file (a page
# fault per page it touches).
set -eu
cd "$(dirname "$0")"
RUNS=${RUNS:-5}
FILES=${FILES:-3000}
CPU=${CPU:-1}
dir=$(mktemp -d /dev/shm/epoll-bridge-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT

# Two batches of FILES files: fresh ones of 1-64 KiB in tmpfs (/dev/shm),
# and the first FILES headers under /usr/include (a disk file system, read
# once first so they are in the page cache). printf is a bash builtin: no
# process per file.
for i in $(seq 1 "$FILES"); do
	printf '%*s' $(( (RANDOM % 64 + 1) * 1024 )) '' >"$dir/f$i"
	echo "$dir/f$i"
done >"$dir/tmpfs.list"
find /usr/include -type f 2>/dev/null | head -n "$FILES" >"$dir/pagecache.list" || true
xargs -d '\n' cat <"$dir/pagecache.list" >/dev/null

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now_us() { echo $(( $(date +%s%N) / 1000 )); }

# one MODE BATCH: run once, print "wall_us cqes wakeups"
one() {
	local t0 t1 line
	t0=$(now_us)
	line=$(timeout 60 taskset -c "$CPU" ./epoll-bridge $1 <"$dir/$2.list" 2>&1 >/dev/null | tail -n 1)
	t1=$(now_us)
	# "N paths, F failed, C CQEs, W <kind of wakeup> ..."
	echo "$((t1 - t0)) $(echo "$line" | awk '{ print $6, $8 }')"
}

printf '### 07-epoll-bridge: %s files per batch, %s runs each, pinned to CPU %s, medians\n\n' "$FILES" "$RUNS" "$CPU"
echo "| bridge | files | CQEs | wakeups (sleeps for --reverse) | CQEs per wakeup | wall ms |"
echo "|---|---|---|---|---|---|"
: >bench.tsv
for mode in eventfd ring-fd reverse eventfd-defer; do
	case $mode in
	eventfd) args= ;;
	ring-fd) args=--ring-fd ;;
	reverse) args=--reverse ;;
	eventfd-defer) args=--defer ;;
	esac
	for input in tmpfs pagecache; do
		: >"$dir/runs"
		for r in $(seq 1 "$RUNS"); do one "$args" "$input" >>"$dir/runs"; done
		wall=$(cut -d' ' -f1 "$dir/runs" | median)
		cqes=$(cut -d' ' -f2 "$dir/runs" | median)
		wake=$(cut -d' ' -f3 "$dir/runs" | median)
		ratio=$(awk -v c="$cqes" -v w="$wake" 'BEGIN { if (w > 0) printf "%.0f", c / w; else print "no wakeups" }')
		printf '| %s | %s | %s | %s | %s | %.1f |\n' "$mode" "$input" "$cqes" "$wake" "$ratio" "$(echo "$wall / 1000" | bc -l)"
		printf '07-epoll-bridge\t%s-%s\tcqes\t%s\n07-epoll-bridge\t%s-%s\twakeups\t%s\n07-epoll-bridge\t%s-%s\twall_ms\t%s\n' \
			"$mode" "$input" "$cqes" "$mode" "$input" "$wake" "$mode" "$input" "$((wall / 1000))" >>bench.tsv
	done
done
blocking_loop='while (my $p = <STDIN>) {
	chomp $p; open(my $f, "<", $p) or next;
	my ($n, $r, $b) = (0); $n += $r while ($r = sysread($f, $b, 16384));
	close $f; print "$n $p\n" }'
for input in tmpfs pagecache; do
	: >"$dir/runs"
	for r in $(seq 1 "$RUNS"); do
		t0=$(now_us)
		timeout 60 taskset -c "$CPU" perl -e "$blocking_loop" <"$dir/$input.list" >/dev/null
		echo $(( $(now_us) - t0 )) >>"$dir/runs"
	done
	wall=$(median <"$dir/runs")
	printf '| reference: a blocking loop (perl) | %s | - | - | - | %.1f |\n' "$input" "$(echo "$wall / 1000" | bc -l)"
	printf '07-epoll-bridge\tblocking-loop-%s\twall_ms\t%s\n' "$input" "$((wall / 1000))" >>bench.tsv
done
echo
echo "Wall times include process start-up and vary with the other load on this 2-vCPU machine."

# Where the reads complete: requests punted to an io-wq worker, counted by
# the io_uring:io_uring_queue_async_work tracepoint over one run of the
# default bridge per batch (needs perf and the right to read tracepoints).
punts() {
	perf stat -x, -o "$dir/perf" -e io_uring:io_uring_queue_async_work \
		timeout 60 taskset -c "$CPU" ./epoll-bridge <"$dir/$1.list" >/dev/null 2>&1 || return 1
	awk -F, '/queue_async_work/ { print $1 }' "$dir/perf"
}
echo
if command -v perf >/dev/null && n_tmpfs=$(punts tmpfs) && n_cache=$(punts pagecache) &&
	[ -n "$n_tmpfs" ] && [ -n "$n_cache" ]; then
	echo "Requests punted to io-wq (perf stat -e io_uring:io_uring_queue_async_work, one eventfd run):"
	echo "tmpfs batch: $n_tmpfs; pagecache batch: $n_cache"
else
	echo "(perf could not count io_uring:io_uring_queue_async_work here: no io-wq figures)"
fi
echo "$(date -u '+%F %H:%M UTC'), kernel $(uname -r), load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

# The eventfd toggle (IORING_CQ_EVENTFD_DISABLED while the loop drains the
# CQ) against --no-toggle, for both eventfd bridges: runs alternate between
# the two, and each column is its own median. The counters are the
# program's last line on stderr.
# counters ARGS BATCH: "cqes wakeups posts found_nothing missed" of one run
counters() {
	timeout 60 taskset -c "$CPU" ./epoll-bridge $1 <"$dir/$2.list" 2>&1 >/dev/null | tail -n 1 |
		sed -n 's/.* \([0-9]*\) CQEs, \([0-9]*\) eventfd wakeups (\([0-9]*\) posts, \([0-9]*\) found nothing), \([0-9]*\) missed.*/\1 \2 \3 \4 \5/p'
}
col() { cut -d' ' -f"$1" "$2" | median; }
echo
printf '#### 07-epoll-bridge: the eventfd toggle against --no-toggle, %s runs each, alternating, medians\n\n' "$RUNS"
echo "| bridge | files | wakeups | found nothing | posts | CQEs per wakeup | missed |"
echo "|---|---|---|---|---|---|---|"
for bridge in eventfd defer; do
	base=; [ $bridge = defer ] && base=--defer
	for input in tmpfs pagecache; do
		: >"$dir/on"; : >"$dir/off"
		for r in $(seq 1 "$RUNS"); do
			counters "$base" "$input" >>"$dir/on"
			counters "$base --no-toggle" "$input" >>"$dir/off"
		done
		for t in on off; do
			name="$bridge, toggle"; [ $t = off ] && name="$bridge, \`--no-toggle\`"
			[ $bridge = defer ] && name="\`--defer\`${name#defer}"
			c=$(col 1 "$dir/$t") w=$(col 2 "$dir/$t")
			printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$input" "$w" \
				"$(col 4 "$dir/$t")" "$(col 3 "$dir/$t")" \
				"$(awk -v c="$c" -v w="$w" 'BEGIN { if (w > 0) printf "%.1f", c / w; else print "no wakeups" }')" \
				"$(col 5 "$dir/$t")"
			printf '07-epoll-bridge\t%s-%s-toggle-%s\twakeups\t%s\n' "$bridge" "$input" "$t" "$w" >>bench.tsv
		done
	done
done
