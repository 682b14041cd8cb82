#!/bin/bash
# bench.sh: echo servers compared doing the same work. `make bench` runs it
# for echo-server (io_uring) and epoll-echo; lesson 06's bench.sh runs it
# again with bufring-echo added. Never part of `make test`.
#
# Run flat out, every server here is held to the load client's pace: the
# client checks every byte on one core and saturates it first, so round
# trips a second say nothing about the servers. So the client is paced
# (tests/echo-load -R): it offers a fixed number of round trips a second,
# below what it can do itself, and each server is measured doing exactly
# that work:
#   server CPU per round trip   user + system time of all its threads
#                               (from /proc/PID/stat) over the window
#   system calls per round trip perf stat -I 100 -e raw_syscalls:sys_enter
#                               -p PID, in a separate run (the tracepoint is
#                               cheap, but not free): the 100 ms intervals
#                               inside the window of the client (it says when
#                               that opened), over the round trips made in
#                               them, so connecting and closing are left out
# First one flat-out run per server shows what limits an unpaced run. Each run has
# a fresh server pinned to SRV_CPU and the client to CLI_CPU (unpinned runs
# on 2 vCPUs spread 2-4x); the servers take turns run by run, in a rotating
# order, so a noisy neighbour hurts each alike. Figures are medians over
# RUNS; ratios are medians of the ratios of runs made back to back.
#
# Environment (defaults):
#   RUNS=5 SECS=3 CONNS="1 50 500 5000" SIZE=64
#   RATE=5000    offered round trips/s, all connections together
#   RATES="5000 20000 50000 flat"  the offered loads of the rising-load
#                table, at LOAD_CONNS=500 connections ("flat": unpaced)
#   RATE1=1000   the same with one connection, whose pace is one round
#                trip's latency, not CPU: a few stalls of the shared machine
#                would hold it under RATE
#   IDLE=5000    idle connections for the memory table (0 skips it)
#   SERVERS="echo-server=./echo-server epoll-echo=./epoll-echo"
#                NAME=COMMAND...; the last one is the baseline of the ratios
#   LESSON=05-echo-server TSV=bench.tsv   what bench.tsv rows are keyed by
#   SRV_CPU=1 CLI_CPU=0
set -uo pipefail
cd "$(dirname "$0")" || exit 1
RUNS=${RUNS:-5} SECS=${SECS:-3} CONNS=${CONNS:-1 50 500 5000} SIZE=${SIZE:-64}
RATE=${RATE:-5000} RATE1=${RATE1:-1000} IDLE=${IDLE:-5000}
RATES=${RATES:-5000 20000 50000 flat} LOAD_CONNS=${LOAD_CONNS:-500}
SERVERS=${SERVERS:-echo-server=./echo-server epoll-echo=./epoll-echo}
LESSON=${LESSON:-05-echo-server} TSV=${TSV:-bench.tsv}
SRV_CPU=${SRV_CPU:-1} CLI_CPU=${CLI_CPU:-0}
LOAD=$PWD/../tests/echo-load

make -s -C ../tests >/dev/null || exit 1
[ "$LESSON" = 05-echo-server ] && { make -s >/dev/null || exit 1; }
ulimit -n "$(ulimit -Hn)"
RAW=$(mktemp /tmp/bench-echo.XXXXXX)
SPID=
# On any exit, error or not, no server is left behind.
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -f "$RAW" "$RAW".*' EXIT

NAMES=()
declare -A CMD
for s in $SERVERS; do
	NAMES+=("${s%%=*}")
	CMD[${s%%=*}]=${s#*=}
	[ -x "${s#*=}" ] || { echo "bench: ${s#*=} missing" >&2; exit 1; }
done

# start NAME: a fresh server on SRV_CPU and a free port; sets SPID and PORT.
start() {
	: >"$RAW.out"   # now, not in the background job: no stale port read
	taskset -c "$SRV_CPU" "${CMD[$1]}" -p 0 >"$RAW.out" 2>"$RAW.err" &
	SPID=$!
	for _ in $(seq 100); do
		PORT=$(sed -n 's/^listening on 127\.0\.0\.1://p' "$RAW.out")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	echo "bench: $1 did not start" >&2
	cat "$RAW.err" >&2
	exit 1
}

stop() {
	kill -TERM "$SPID"
	local rc=0
	wait "$SPID" || rc=$?
	SPID=
	[ "$rc" -eq 0 ] || { echo "bench: server exited $rc" >&2; cat "$RAW.err" >&2; exit 1; }
}

# field KEY LINE: KEY's value in a RESULT line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

rate_for() { if [ "$1" -eq 1 ]; then echo "$RATE1"; else echo "$RATE"; fi; }

# load NAME CONNS SECS RATE [PREFIX...]: one client run (PREFIX, e.g. perf,
# runs it) against the server now running, paced at RATE round trips/s
# unless RATE is "flat"; the RESULT line on stdout, exit on any failure.
load() {
	local name=$1 c=$2 secs=$3 pace=() line
	[ "$4" = flat ] || pace=(-R "$4")
	shift 4
	line=$(timeout $((secs + 90)) taskset -c "$CLI_CPU" "$@" "$LOAD" -p "$PORT" \
		-c "$c" -s "$SIZE" -d "$secs" "${pace[@]}" -T 60 -P "$SPID" 2>"$RAW.lerr") || {
		echo "bench: load against $name at $c connections failed: $line" >&2
		cat "$RAW.lerr" >&2
		exit 1
	}
	printf '%s\n' "$line"
}

# rotate K: the server names, starting at the Kth.
rotate() {
	local n=${#NAMES[@]} i
	for ((i = 0; i < n; i++)); do echo "${NAMES[(i + $1) % n]}"; done
}

echo "bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) vCPUs, Linux $(uname -r)," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs of ${SECS}s per cell" >&2

# 1. Flat out at 500 connections, once per server.
for n in "${NAMES[@]}"; do
	start "$n"
	r=$(load "$n" 500 "$SECS" flat)
	stop
	printf 'ceil\t%s\t%s\t%s\t%s\n' "$n" "$(field rt_per_s "$r")" \
		"$(awk -v c="$(field cli_cpu_s "$r")" -v s="$(field secs "$r")" 'BEGIN{printf "%.0f", 100*c/s}')" \
		"$(field srv_us_per_rt "$r")" >>"$RAW"
done

# 2. Paced: server CPU per round trip, RUNS alternating runs per cell.
for rep in $(seq "$RUNS"); do
	for c in $CONNS; do
		for n in $(rotate "$rep"); do
			start "$n"
			r=$(load "$n" "$c" "$SECS" "$(rate_for "$c")")
			stop
			printf 'cpu\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$c" "$rep" \
				"$(field srv_us_per_rt "$r")" "$(field rt_per_s "$r")" \
				"$(awk -v c="$(field cli_cpu_s "$r")" -v s="$(field secs "$r")" 'BEGIN{printf "%.0f", 100*c/s}')" \
				"$(field kept_up "$r")" >>"$RAW"
			printf '.' >&2
		done
	done
done
echo >&2

# sys_run NAME CONNS RATE: one client run against a fresh server, under
# perf stat -I 100 -e raw_syscalls:sys_enter -p PID. Lines
# "TIME,COUNT,,raw_syscalls:sys_enter,...": TIME ends the interval. Keep
# those wholly inside the client's window (50 ms margin); the client spreads
# its round trips evenly over it (paced or not). Prints "CALLS_PER_RT
# US_PER_RT RT_PER_S".
sys_run() {
	local r
	start "$1"
	r=$(load "$1" "$2" "$SECS" "$3" \
		perf stat -I 100 -x, -o "$RAW.perf" -e raw_syscalls:sys_enter -p "$SPID" --)
	stop
	awk -F, -v from="$(field window_at_s "$r")" -v secs="$(field secs "$r")" \
		-v rt="$(field rt "$r")" -v us="$(field srv_us_per_rt "$r")" -v rps="$(field rt_per_s "$r")" '
		/raw_syscalls/ && $1 - 0.1 >= from + 0.05 && $1 <= from + secs - 0.05 {
			calls += $2; span += 0.1 }
		END { printf "%.3f %s %s\n", (span > 0 && rt > 0 ? calls / (rt * span / secs) : -1), us, rps }' \
		"$RAW.perf"
}

# 3. System calls per round trip, at the same paced load; then at
# LOAD_CONNS connections as the offered load rises to flat out.
COUNT=0
if perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
	COUNT=1
	for c in $CONNS; do
		for n in "${NAMES[@]}"; do
			read -r calls _ _ < <(sys_run "$n" "$c" "$(rate_for "$c")")
			printf 'sys\t%s\t%s\t%s\n' "$n" "$c" "$calls" >>"$RAW"
		done
	done
	for rate in $RATES; do
		for n in "${NAMES[@]}"; do
			read -r calls us rps < <(sys_run "$n" "$LOAD_CONNS" "$rate")
			printf 'rise\t%s\t%s\t%s\t%s\t%s\n' "$n" "$rate" "$calls" "$us" "$rps" >>"$RAW"
		done
	done
	echo "bench: system calls counted" >&2
else
	echo "bench: perf cannot count raw_syscalls:sys_enter here: no system call figures" >&2
fi

# 4. Memory: each server holding IDLE idle connections.
if [ "$IDLE" -gt 0 ]; then
	for rep in $(seq $((RUNS < 3 ? RUNS : 3))); do
		for n in $(rotate "$rep"); do
			start "$n"
			rss0=$(awk '/^VmRSS/{print $2}' "/proc/$SPID/status")
			r=$(timeout 150 taskset -c "$CLI_CPU" "$LOAD" -p "$PORT" -c "$IDLE" -n 1 -i 2 \
				-T 60 -P "$SPID" 2>"$RAW.lerr") || {
				echo "bench: idle run against $n failed: $r" >&2
				cat "$RAW.lerr" >&2
				exit 1
			}
			stop
			printf 'rss\t%s\t%s\t%s\n' "$n" "$rss0" "$(field srv_rss_kb "$r")" >>"$RAW"
		done
	done
fi

# The tables, and bench.tsv.
awk -F'\t' -v names="${NAMES[*]}" -v conns="$CONNS" -v rate="$RATE" -v rate1="$RATE1" \
	-v lesson="$LESSON" -v tsv="$TSV.new" -v count="$COUNT" -v idle="$IDLE" -v size="$SIZE" \
	-v rates="$RATES" -v lconns="$LOAD_CONNS" '
function median(list,   n, i, j, t, a) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n ? (n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2) : 0
}
# heading TITLE TEXT: the heading of a table and the lines that explain it.
function heading(title, text) { printf "\n### %s\n\n%s\n\n", title, text }
function tsvrow(kase, metric, v) { printf "%s\t%s\t%s\t%s\n", lesson, kase, metric, v > tsv }
$1 == "ceil" { ceil_rt[$2] = $3; ceil_cli[$2] = $4; ceil_us[$2] = $5 }
$1 == "cpu"  { k = $2 " " $3; us[k] = us[k] " " $5; rt[k] = rt[k] " " $6; cli[k] = cli[k] " " $7
               run[$2 " " $3 " " $4] = $5; if ($8 != 1) behind[k] = 1 }
$1 == "sys"  { sys[$2 " " $3] = $4 }
$1 == "rise" { rsys[$2 " " $3] = $4; rus[$2 " " $3] = $5; rrps[$2 " " $3] = $6 }
$1 == "rss"  { rss0[$2] = rss0[$2] " " $3; rss[$2] = rss[$2] " " $4 }
END {
	ns = split(names, S, " "); base = S[ns]; nc = split(conns, C, " ")
	print "### Flat out (500 connections, unpaced, one run each)"
	print ""
	print "Round trips a second here are set by whichever runs out first, the client (one core,"
	print "checking every byte) or the CPU time the machine gives the two; client CPU is the share"
	print "of its core the client used. Not a figure of the servers: the tables below are."
	print ""
	print "| server | round trips/s | client CPU | server us/rt |"
	print "|---|---|---|---|"
	for (m = 1; m <= ns; m++)
		printf "| %s | %d | %d%% | %.2f |\n", S[m], ceil_rt[S[m]], ceil_cli[S[m]], ceil_us[S[m]]
	print ""
	printf "### Server CPU per round trip at a fixed offered load (%d B messages)\n\n", size
	printf "The client offers %d round trips/s in all (%d with one connection). Server CPU time per\n", rate, rate1
	print "round trip in us, median of the runs; the ratios are medians of the ratios of runs made back"
	print "to back; client CPU is the highest median share of its core."
	print ""
	hdr = "| conns | offered rt/s |"; sep = "|---|---|"
	for (m = 1; m <= ns; m++) { hdr = hdr " " S[m] " us/rt |"; sep = sep "---|" }
	for (m = 1; m < ns; m++) { hdr = hdr " " S[m] " / " base " |"; sep = sep "---|" }
	print hdr " client CPU |"; print sep "---|"
	for (i = 1; i <= nc; i++) {
		c = C[i]; off = c == 1 ? rate1 : rate
		row = sprintf("| %s | %d |", c, off); clmax = 0; tsvrow(c "x" size, "offered_per_s", off)
		for (m = 1; m <= ns; m++) {
			k = S[m] " " c; med = median(us[k])
			row = row sprintf(" %.2f%s |", med, behind[k] ? " (fell behind)" : "")
			tsvrow(S[m] "/" c "x" size, "srv_us_per_rt", sprintf("%.2f", med))
			cl = median(cli[k]); if (cl > clmax) clmax = cl
		}
		for (m = 1; m < ns; m++) {
			list = ""
			for (r = 1; (S[m] " " c " " r) in run; r++)
				if (run[base " " c " " r] > 0) list = list " " run[S[m] " " c " " r] / run[base " " c " " r]
			ratio = median(list)
			row = row sprintf(" **%.2f** |", ratio)
			tsvrow(c "x" size, "cpu_ratio_" S[m] "_" base, sprintf("%.3f", ratio))
		}
		print row sprintf(" %d%% |", clmax)
	}
	if (count) {
		heading("System calls per round trip at the same offered load",
			"One run each, counted by perf (raw_syscalls:sys_enter, 100 ms intervals inside the measuring window of the client,\n" \
			"so connecting and closing are left out):")
		hdr = "| conns |"; sep = "|---|"
		for (m = 1; m <= ns; m++) { hdr = hdr " " S[m] " |"; sep = sep "---|" }
		print hdr; print sep
		for (i = 1; i <= nc; i++) {
			c = C[i]; row = "| " c " |"
			for (m = 1; m <= ns; m++) {
				v = sys[S[m] " " c]
				row = row sprintf(" %.2f |", v)
				tsvrow(S[m] "/" c "x" size, "syscalls_per_rt", sprintf("%.2f", v))
			}
			print row
		}
		heading("As the offered load rises (" lconns " connections, one run each)",
			"System calls and server CPU per round trip, both from the perf-counted run (the tracepoint\n" \
			"adds a little CPU to every server alike); \"flat out\" is unpaced, and its rate is what the\n" \
			"client reached. The busier the server, the more completions one io_uring_enter finds.")
		hdr = "| offered rt/s |"; sep = "|---|"
		for (m = 1; m <= ns; m++) { hdr = hdr " " S[m] " calls/rt |"; sep = sep "---|" }
		for (m = 1; m <= ns; m++) { hdr = hdr " " S[m] " us/rt |"; sep = sep "---|" }
		for (m = 1; m < ns; m++) { hdr = hdr " " S[m] " / " base " CPU |"; sep = sep "---|" }
		print hdr; print sep
		nr = split(rates, R, " ")
		for (i = 1; i <= nr; i++) {
			q = R[i]
			if (q == "flat") row = sprintf("| flat out (%d reached by %s) |", rrps[base " " q], base)
			else row = sprintf("| %d |", q)
			for (m = 1; m <= ns; m++) {
				row = row sprintf(" %.2f |", rsys[S[m] " " q])
				tsvrow(S[m] "/" lconns "x" q, "rising_syscalls_per_rt", sprintf("%.2f", rsys[S[m] " " q]))
			}
			for (m = 1; m <= ns; m++) row = row sprintf(" %.2f |", rus[S[m] " " q])
			for (m = 1; m < ns; m++) {
				ratio = rus[base " " q] > 0 ? rus[S[m] " " q] / rus[base " " q] : 0
				row = row sprintf(" %.2f |", ratio)
				tsvrow(lconns "x" q, "rising_cpu_ratio_" S[m] "_" base, sprintf("%.3f", ratio))
			}
			print row
		}
	}
	if (idle > 0) {
		print ""
		print "### Memory holding " idle " idle connections"
		print ""
		print "VmRSS at start, and with " idle " idle connections open (one 64 B echo each), median:"
		print ""
		print "| server | RSS at start | RSS, " idle " idle | vs " base " |"
		print "|---|---|---|---|"
		b = median(rss[base])
		for (m = 1; m <= ns; m++) {
			r = median(rss[S[m]])
			printf "| %s | %d KiB | %d KiB | %.2f |\n", S[m], median(rss0[S[m]]), r, b ? r / b : 0
			tsvrow(S[m] "/idle" idle, "rss_kb", r)
		}
	}
}' "$RAW" || exit 1
mv "$TSV.new" "$TSV"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) vCPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), Linux $(uname -r);"
echo "server on CPU $SRV_CPU, client on CPU $CLI_CPU; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
echo "The machine is a shared, virtualised 2-vCPU VM: expect noise, read the ratios."
