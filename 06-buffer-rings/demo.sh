#!/usr/bin/env bash
# demo.sh: a narrated run of bufring-echo. A pool far too small for the
# load runs dry, every starved connection is re-armed, and no byte is lost;
# then many idle connections cost the pool nothing.
set -eu
cd "$(dirname "$0")"
make -s -C ../tests >/dev/null
LOAD=../tests/echo-load
OUT=$(mktemp -d /dev/shm/bufring-demo.XXXXXX)
trap 'kill "$SPID" 2>/dev/null || true; rm -rf "$OUT"' EXIT
ulimit -n "$(ulimit -Hn)"

start() {
	: >"$OUT/out"   # now, not in the background job: no stale port read
	./bufring-echo -p 0 "$@" >"$OUT/out" 2>"$OUT/err" &
	SPID=$!
	for _ in $(seq 100); do grep -q listening "$OUT/out" && break; sleep 0.05; done
	PORT=$(sed -n 's/^listening on 127\.0\.0\.1://p' "$OUT/out")
}
stop() { kill -TERM "$SPID"; wait "$SPID"; }

echo "# 1. 100 connections share a pool of 4 buffers of 64 bytes."
start -n 4 -s 64
echo "\$ ./bufring-echo -p 0 -n 4 -s 64      -> $(cat "$OUT/out")"
echo "\$ echo-load -c 100 -r 1-2000 -n 10   (random sizes, every echoed byte checked)"
r=$(timeout 60 "$LOAD" -p "$PORT" -c 100 -r 1-2000 -n 10)
echo "  $(grep -o 'rt=[0-9]* bytes=[0-9]*' <<<"$r") $(grep -o 'failed=.*stuck=[0-9]*' <<<"$r")"
stop
echo "  server: $(cat "$OUT/err")"
enobufs=$(grep -o 'ENOBUFS=[0-9]*' "$OUT/err" | cut -d= -f2)
echo "  -> the pool ran dry $enobufs times (recv CQE res -ENOBUFS, multishot ended);"
echo "     starved connections waited in a FIFO and were re-armed one per free buffer, oldest first."

echo
echo "# 2. 2000 idle connections, default pool (256 x 4 KiB = 1 MiB, shared)."
start
rss0=$(awk '/^VmRSS/{print $2}' "/proc/$SPID/status")
r=$(timeout 60 "$LOAD" -p "$PORT" -c 2000 -n 1 -i 1 -P "$SPID")
echo "  RSS at start ${rss0} KiB; holding 2000 connections: $(grep -o 'srv_rss_kb=[0-9]*' <<<"$r" | cut -d= -f2) KiB"
echo "  -> no connection owns a buffer: an idle one costs its 48-byte struct conn and a 16-byte table slot, not 4 KiB."
stop
