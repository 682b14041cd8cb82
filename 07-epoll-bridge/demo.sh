#!/usr/bin/env bash
# demo.sh: a short narrated run of epoll-bridge's three bridges (make demo).
set -eu
cd "$(dirname "$0")"
exec 2>&1    # one stream: results and error lines in the order they happen
list=$(mktemp /dev/shm/epoll-bridge-demo.XXXXXX)
big=$(mktemp /dev/shm/epoll-bridge-demo.XXXXXX)
trap 'rm -f "$list" "$big"' EXIT

echo "== 07-epoll-bridge: the ring's file work inside an epoll loop, and the reverse"
printf '%s\n' samples/hello.txt samples/empty samples/numbers.txt samples missing.txt >"$list"
echo "-- five paths, one at a time (-q 1); each is openat, reads until EOF, close, all through the ring"
echo "-- 1. epoll on top: stdin and the ring's eventfd in one epoll set"
echo "\$ ./epoll-bridge -q 1 <list"
./epoll-bridge -q 1 <"$list" || echo "(exit $?: two paths failed)"
echo "-- 2. the ring on top: it polls the epoll fd, the program sleeps in io_uring_wait_cqe"
echo "\$ cat list | ./epoll-bridge -q 1 --reverse 2>/dev/null"
cat "$list" | ./epoll-bridge -q 1 --reverse 2>/dev/null || true
echo "-- 3. the ring's own fd in the epoll set: same results, its counters"
echo "\$ ./epoll-bridge -q 1 --ring-fd <list >/dev/null"
./epoll-bridge -q 1 --ring-fd <"$list" >/dev/null || true
find /usr/include -type f 2>/dev/null >"$big" || true
echo "-- a batch of $(wc -l <"$big") headers, 32 files in flight: many CQEs, few wakeups"
echo "   (an eventfd post is a hint to drain the CQ, not one per CQE)"
echo "\$ ./epoll-bridge <headers >/dev/null"
./epoll-bridge <"$big" >/dev/null || true
echo "-- which completion wakes which door on this kernel: ./wakeup-probe (README)"
