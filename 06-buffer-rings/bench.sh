#!/usr/bin/env bash
# bench.sh: bufring-echo beside lesson 05's echo-server (io_uring, a buffer
# per connection) and epoll-echo (readiness), and beside exercise 2's
# solution (provide-buffers: the legacy IORING_OP_PROVIDE_BUFFERS design).
# `make bench` runs it; it is never part of `make test`.
#
#   1. ../05-echo-server/bench.sh with these four servers: one flat-out
#      run each; server CPU and system calls per round trip at a
#      fixed offered load (tests/echo-load -R) at 1, 50, 500 and 5000
#      connections; memory holding 5000 idle connections. Its knobs (RUNS,
#      SECS, CONNS, RATE, RATE1, IDLE, SRV_CPU, CLI_CPU) work here too.
#   2. Where the time goes: each of bufring-echo, echo-server and
#      epoll-echo profiled (perf record -e cpu-clock, sampled on the
#      server's pid) at PROFILE_CONNS connections and the same offered
#      load; the samples sorted into kinds of work by the kernel or user
#      function they hit, and each kind's share turned into microseconds
#      per round trip.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
RATE=${RATE:-5000} SECS=${SECS:-3} PROFILE_CONNS=${PROFILE_CONNS:-500}
SRV_CPU=${SRV_CPU:-1} CLI_CPU=${CLI_CPU:-0}
LOAD=$PWD/../tests/echo-load
RAW=$(mktemp /tmp/bench-06.XXXXXX)
SPID=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -f "$RAW" "$RAW".*' EXIT

make -s -C ../tests >/dev/null || exit 1
make -s >/dev/null || exit 1
make -s -C ../05-echo-server >/dev/null || exit 1
ulimit -n "$(ulimit -Hn)"

# The legacy design, built aside from exercise 2's reference solution: a
# diff against bufring-echo.c, or (exercise layout with starters as diffs)
# the starter's diff and then the solution's. Left out if neither applies.
legacy() {
	local ex=exercises sol=exercises/solutions
	if [ -f $ex/02-provide-buffers.diff ]; then
		patch -s -f -F0 -o "$RAW.start.c" bufring-echo.c $ex/02-provide-buffers.diff </dev/null &&
			patch -s -f -F0 -o "$RAW.legacy.c" "$RAW.start.c" $sol/02-provide-buffers.diff </dev/null
	else
		patch -s -f -F0 -r - -o "$RAW.legacy.c" bufring-echo.c $sol/2-provide-buffers.diff </dev/null
	fi >/dev/null 2>&1 || return 1
	local uring
	uring=$(pkg-config --cflags --libs liburing 2>/dev/null) || uring=-luring
	# shellcheck disable=SC2086  # the flags are words
	cc -std=gnu11 -O2 -I. -o "$RAW.legacy" "$RAW.legacy.c" $uring
}
SERVERS="bufring-echo=$PWD/bufring-echo echo-server=$PWD/../05-echo-server/echo-server"
if legacy; then
	SERVERS="$SERVERS provide-buffers=$RAW.legacy"
else
	echo "bench: exercise 2's solution did not apply or build: provide-buffers left out" >&2
	echo "(provide-buffers is left out of this run: exercise 2's reference solution did not apply to"
	echo "bufring-echo.c, or did not build.)"
	echo
fi
SERVERS="$SERVERS epoll-echo=$PWD/../05-echo-server/epoll-echo"

RATE=$RATE SECS=$SECS SERVERS=$SERVERS LESSON=06-buffer-rings TSV=$PWD/bench.tsv \
	../05-echo-server/bench.sh || exit 1

# ---- 2. profiles ----
PROFILED=(bufring-echo echo-server epoll-echo)
declare -A CMD=([bufring-echo]=./bufring-echo [echo-server]=../05-echo-server/echo-server
	[epoll-echo]=../05-echo-server/epoll-echo)
if ! perf record -q -e cpu-clock -o "$RAW.probe" -- true >/dev/null 2>&1; then
	echo
	echo "(perf record -e cpu-clock does not work here: no profiles.)"
	exit 0
fi

start() {
	: >"$RAW.out"
	taskset -c "$SRV_CPU" "${CMD[$1]}" -p 0 >"$RAW.out" 2>"$RAW.err" &
	SPID=$!
	for _ in $(seq 100); do
		PORT=$(sed -n 's/^listening on 127\.0\.0\.1://p' "$RAW.out")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	echo "bench: $1 did not start" >&2
	exit 1
}

for n in "${PROFILED[@]}"; do
	start "$n"
	r=$(timeout $((SECS + 90)) taskset -c "$CLI_CPU" perf record -q -e cpu-clock -F 5000 \
		-p "$SPID" -o "$RAW.$n.data" -- "$LOAD" -p "$PORT" -c "$PROFILE_CONNS" -s 64 \
		-d "$SECS" -R "$RATE" -T 60 -P "$SPID" 2>/dev/null) || { echo "bench: profile of $n failed: $r" >&2; exit 1; }
	kill -TERM "$SPID"; wait "$SPID"; SPID=
	sed -n 's/.* srv_us_per_rt=\([^ ]*\).*/\1/p' <<<"$r" >"$RAW.$n.us"
	perf report -i "$RAW.$n.data" --stdio --no-children --sort dso,sym -q -g none 2>/dev/null |
		awk '$1 ~ /%$/ { sub(/%/, "", $1); print $1 "\t" $2 "\t" $NF }' >"$RAW.$n.syms"
done

# kind SYMBOL DSO: which kind of work a sample's function does. The order
# matters: the first pattern that matches wins.
awk -F'\t' -v names="${PROFILED[*]}" -v raw="$RAW" -v conns="$PROFILE_CONNS" -v rate="$RATE" '
function kind(dso, sym) {
	if (dso !~ /kernel/) return "user space (the server, liburing, libc)"
	if (sym ~ /^(io_|__io_|tctx_|io_uring)/) return "io_uring: submission, completion, task work"
	if (sym ~ /^(ep_|do_epoll|__ep_|__x64_sys_epoll|sock_poll|tcp_poll|tcp_stream_is_readable)/) \
		return "readiness: epoll and poll callbacks"
	if (sym ~ /(copy_to_iter|copy_from_iter|copy_user|__skb_datagram_iter|memcpy|memmove|check_object_size|virt_addr_valid|check_heap_object)/) \
		return "copying the bytes"
	if (sym ~ /(do_syscall|entry_SYSCALL|syscall_exit|syscall_enter|^__x64_sys_|^x64_sys_call|^__sys_|fdget|^fget|^fput|^__fget|sock_from_file|^ksys_|vfs_read|vfs_write|rw_verify_area|security_file|fsnotify|^__fsnotify)/) \
		return "system call entry, exit and file lookup"
	if (sym ~ /(tcp|^ip_|^__ip|inet|sock|skb|^sk_|^__sk|netif|net_rx|napi|loopback|dev_queue|dev_hard|^__dev|validate_xmit|raw_local|raw_v4|nf_|xfrm|bbr|^__local_bh|softirq|process_backlog|neigh|dst_|^__netdev|eth_|rps_|^__napi|csum)/) \
		return "TCP/IP over loopback (both ends)"
	if (sym ~ /(schedule|finish_task_switch|_raw_spin|__wake_up|try_to_wake|ttwu|enqueue|dequeue|pick_next|update_curr|update_load|select_task|^native_|pvm|hrtimer|irq|tick|sched|read_tsc|clock|ktime|llist|wake_q|task_work|set_next|put_prev|psi_|cpuacct|rcu)/) \
		return "sleeping and waking (scheduler, timers, irq)"
	if (sym ~ /(kmem_cache|kfree|kmalloc|slab|page|alloc_pages|free_pages|memcg|obj_cgroup)/) \
		return "allocating memory"
	return "other kernel"
}
BEGIN {
	n = split(names, S, " ")
	for (m = 1; m <= n; m++) {
		f = raw "." S[m] ".us"; getline us[m] < f; close(f)
		f = raw "." S[m] ".syms"
		while ((getline line < f) > 0) {
			split(line, a, "\t")
			k = kind(a[2], a[3]); share[m, k] += a[1]; kinds[k] = 1
			if (++rank[m] <= 12) top[m, rank[m]] = sprintf("%s %.1f%%", a[3], a[1])
		}
		close(f)
	}
	printf "### Where the time goes at %d connections, %d round trips/s: server CPU by kind of work\n\n", conns, rate
	hdr = "| kind of work |"; sep = "|---|"
	for (m = 1; m <= n; m++) { hdr = hdr " " S[m] " |"; sep = sep "---|" }
	print hdr; print sep
	split("io_uring: submission, completion, task work|readiness: epoll and poll callbacks|system call entry, exit and file lookup|TCP/IP over loopback (both ends)|copying the bytes|allocating memory|sleeping and waking (scheduler, timers, irq)|other kernel|user space (the server, liburing, libc)", K, "|")
	for (i = 1; i in K; i++) {
		row = "| " K[i] " |"
		for (m = 1; m <= n; m++)
			row = row sprintf(" %.1f%% = %.2f us |", share[m, K[i]], share[m, K[i]] * us[m] / 100)
		print row
	}
	row = "| **all** (us per round trip in this profiled run) |"
	for (m = 1; m <= n; m++) row = row sprintf(" %.2f us |", us[m])
	print row
	print ""
	printf "### The functions most sampled, same runs\n\n"
	hdr = "| rank |"; sep = "|---|"
	for (m = 1; m <= n; m++) { hdr = hdr " " S[m] " |"; sep = sep "---|" }
	print hdr; print sep
	for (i = 1; i <= 12; i++) {
		row = "| " i " |"
		for (m = 1; m <= n; m++) row = row " " top[m, i] " |"
		print row
	}
	print ""
	print "Sampled by perf record -e cpu-clock -F 5000 on the server'"'"'s pid (no hardware counters in this"
	print "VM: a timer sample lands where interrupts come back on, which is why"
	print "_raw_spin_unlock_irqrestore is high for all)."
	summary()
}
# The sums the README draws on, said once here so that they come from
# the same run as the tables.
function us_of(m, k) { return share[m, k] * us[m] / 100 }
function summary(   b, e, m, same, api_e, api_b, net) {
	for (m = 1; m <= n; m++) { if (S[m] == "bufring-echo") b = m; if (S[m] == "epoll-echo") e = m }
	if (!b || !e) return
	api_e = us_of(e, K[2]) + us_of(e, K[3])
	api_b = us_of(b, K[1]) + us_of(b, K[2]) + us_of(b, K[3])
	net = api_e - api_b
	print ""
	printf "### What the profiles add up to\n\n"
	printf "In these profiled runs bufring-echo spent %.2f us per round trip and epoll-echo %.2f us.\n", us[b], us[e]
	printf "TCP/IP over loopback took %.2f and %.2f us of it, sleeping and waking %.2f and %.2f us: the same\n", \
		us_of(b, K[4]), us_of(e, K[4]), us_of(b, K[7]), us_of(e, K[7])
	printf "work in both models, %.0f%% of epoll-echo'"'"'s time. What the API changes is the rest: epoll-echo\n", \
		share[e, K[4]] + share[e, K[7]]
	printf "spent %.2f us in system call entry and exit and in epoll; bufring-echo spent %.2f us there\n", api_e, \
		us_of(b, K[2]) + us_of(b, K[3])
	printf "and %.2f us in io_uring itself. Net: bufring-echo spent %.2f us %s per round trip there,\n", \
		us_of(b, K[1]), (net < 0 ? -net : net), (net < 0 ? "more" : "less")
	printf "%.0f%% of epoll-echo'"'"'s time; a CPU ratio of 0.85 would need %.2f us less.\n", \
		(us[e] > 0 ? 100 * (net < 0 ? -net : net) / us[e] : 0), 0.15 * us[e]
}' </dev/null
