#!/bin/bash
# make bench: sqpoll-demo in every mode against the ordinary ring (the
# baseline), RUNS rounds; each round runs every case once, in turn, so
# they share the machine's noise. Prints a markdown table of medians and
# writes bench.tsv (lesson case metric value). The figures come from the
# program's own report (it times only the reads, not making the scratch
# file); its io_uring_enter count is exact (the tests check it with strace).
set -eu
cd "$(dirname "$0")"
RUNS=${RUNS:-7}
out=$(mktemp -d /dev/shm/iou-bench-04.XXXXXX)
trap 'rm -rf "$out"' EXIT

# label|arguments|row of the baseline the ratios refer to (an ordinary ring).
cases=(
	"ordinary ring, depth 32|--no-sqpoll|"
	"SQPOLL, spin reap, depth 32||0"
	"SQPOLL, blocking reap, depth 32|--wait|0"
	"ordinary ring, depth 1|--no-sqpoll -q 1|"
	"SQPOLL, spin reap, depth 1|-q 1|3"
	"SQPOLL, blocking reap, depth 1|-q 1 --wait|3"
	"bursty: ordinary ring|--no-sqpoll -s 8M -p 20|"
	"bursty: SQPOLL spin, idle 5 ms|-s 8M -p 20 -i 5|6"
	"bursty: SQPOLL spin, idle 1000 ms|-s 8M -p 20 -i 1000|6"
	"bursty: SQPOLL blocking, idle 5 ms|-s 8M -p 20 -i 5 --wait|6"
	"same CPU: SQPOLL spin, depth 32|-s 64K --sq-cpu 0 --app-cpu 0|"
	"same CPU: SQPOLL spin, depth 1|-s 64K -q 1 --sq-cpu 0 --app-cpu 0|"
	"same CPU: SQPOLL blocking, depth 1|-s 64K -q 1 --sq-cpu 0 --app-cpu 0 --wait|"
	"bursty: SQPOLL spin, idle 1 ms|-s 8M -p 20 -i 1|6"
	"bursty: SQPOLL spin, idle 12 ms|-s 8M -p 20 -i 12|6"
	"fresh poller, idle 60 s, no pauses|-s 64K -q 4 -i 60000|"
)

# metrics FILE: "reads enters wakeups wall app poller proc" from one report.
metrics() {
	awk '
	/reads done:/            { reads = $3 }
	/io_uring_enter calls:/  { enters = $3 }
	/wakeups needed:/        { wake = $3 }
	/wall time:/             { wall = $3 }
	/CPU, app thread:/       { app = $4 }
	/CPU, poller thread:/    { poll = ($4 ~ /^[0-9.]+$/) ? $4 : "-" }
	/CPU, whole process:/    { proc = $4 }
	END { print reads, enters, wake, wall, app, (poll == "" ? "-" : poll), proc }' "$1"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

load=$(cut -d" " -f1-3 /proc/loadavg)
# The kernel's tick rate: sq_thread_idle is counted in ticks of 1000/HZ ms.
hz=$(grep -h '^CONFIG_HZ=' "/boot/config-$(uname -r)" 2>/dev/null || zgrep -h '^CONFIG_HZ=' /proc/config.gz 2>/dev/null || echo CONFIG_HZ=unknown)
./sqpoll-demo -s 1M >/dev/null 2>&1 || { echo "sqpoll-demo cannot run here" >&2; exit 1; }
for r in $(seq "$RUNS"); do
	for i in "${!cases[@]}"; do
		args=$(cut -d'|' -f2 <<<"${cases[$i]}")
		# shellcheck disable=SC2086
		timeout 120 ./sqpoll-demo $args >/dev/null 2>"$out/report" ||
			{ echo "failed: sqpoll-demo $args" >&2; cat "$out/report" >&2; exit 1; }
		metrics "$out/report" >>"$out/case$i"
	done
	printf 'round %d/%d done\n' "$r" "$RUNS" >&2
done

col() { awk -v c="$2" '{print $c}' "$out/case$1" | median; }
range() { awk -v c="$2" 'NR == 1 || $c < lo {lo = $c} NR == 1 || $c > hi {hi = $c} END {printf "%.0f–%.0f", lo, hi}' "$out/case$1"; }

printf '### 04-sqpoll: checksum a tmpfs file in 4 KiB reads (default 64 MiB), median of %d rounds\n\n' "$RUNS"
printf '%s, %s CPUs, kernel %s (%s), load average before: %s\n\n' "$(date -u '+%F %H:%M UTC')" "$(nproc)" "$(uname -r)" "$hz" "$load"
printf '| case | arguments | reads | io_uring_enter | wakeups | wall ms (min–max) | app CPU ms | poller CPU ms | process CPU ms | wall µs/read | wall vs ordinary | CPU vs ordinary |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
: >bench.tsv
for i in "${!cases[@]}"; do
	IFS='|' read -r label args base <<<"${cases[$i]}"
	reads=$(col "$i" 1); enters=$(col "$i" 2); wake=$(col "$i" 3)
	wall=$(col "$i" 4); app=$(col "$i" 5); proc=$(col "$i" 7)
	poll=$(awk '$6 != "-" {print $6}' "$out/case$i" | median)
	[ -n "$poll" ] || poll=-
	ratio_w=-; ratio_c=-
	if [ -n "$base" ]; then
		ratio_w=$(awk -v a="$wall" -v b="$(col "$base" 4)" 'BEGIN {printf "%.2f", a / b}')
		ratio_c=$(awk -v a="$proc" -v b="$(col "$base" 7)" 'BEGIN {printf "%.2f", a / b}')
	fi
	printf '| %s | `%s` | %s | %s | %s | %.1f (%s) | %.1f | %s | %.1f | %.2f | %s | %s |\n' \
		"$label" "${args:-(none)}" "$reads" "$enters" "$wake" "$wall" "$(range "$i" 4)" "$app" \
		"$([ "$poll" = - ] && echo - || printf '%.1f' "$poll")" "$proc" \
		"$(awk -v w="$wall" -v n="$reads" 'BEGIN {print (n > 0) ? w * 1000 / n : 0}')" \
		"$ratio_w" "$ratio_c"
	for m in "enters $enters" "wakeups $wake" "wall_ms $wall" "app_cpu_ms $app" \
		 "poller_cpu_ms $poll" "process_cpu_ms $proc"; do
		[ "${m#* }" = - ] && continue
		printf '04-sqpoll\t%s\t%s\t%s\n' "$label" "${m% *}" "${m#* }" >>bench.tsv
	done
done
printf '\nRatios compare each SQPOLL row with the ordinary ring of its group (same depth, same pauses).\n'
printf 'Bursty rows pause 20 ms after every 32 blocks (64 pauses); the same-CPU rows pin\n'
printf 'poller and app to one CPU on purpose (16 reads: the pathology). The fresh poller\n'
printf 'row never pauses: any wakeup it counts is the poller that slept as soon as it\n'
printf 'started (0 when the first SQE was there before the poller first looked).\n'
