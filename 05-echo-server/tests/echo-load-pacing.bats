#!/usr/bin/env bats
# echo-load -R RATE: the paced load the benchmarks compare servers at. These
# tests count round trips and slots; none asserts how fast anything ran.
# A slot is one round trip's turn: RATE of them fall due a second, dealt
# round-robin to the connections, and a message goes out only on a slot.

load ../../tests/helpers
load lib

# A number from the RESULT line, or fail saying which key is missing.
num() {
	local v
	v=$(field "$1")
	[[ "$v" =~ ^[0-9.]+$ ]] || { echo "no $1= in: $output" >&2; return 1; }
	printf '%s\n' "$v"
}

@test "echo-load -R: never more round trips than slots, and no slot lost" {
	server_start epoll-echo -p 0
	urun echo-load -p "$PORT" -c 10 -d 2 -R 500
	expect_clean 10
	[ "$(field offered_per_s)" = 500 ]
	local rt due behind secs
	rt=$(num rt); due=$(num due); behind=$(num behind); secs=$(num secs)
	# Slot k falls due k/RATE after the start, so by the end of the window
	# at most RATE * secs + 1 have: an unpaced client would do many times more.
	awk -v d="$due" -v s="$secs" 'BEGIN { exit !(d <= 500 * s + 1) }'
	[ "$rt" -le "$due" ]
	# Every slot became a message, except the backlog at the end; every
	# message came back, except the one each connection may have in flight.
	[ "$rt" -ge $((due - behind - 10)) ]
	# Generous: a quarter of the offered count, to show the slots were dealt.
	awk -v d="$due" -v s="$secs" 'BEGIN { exit !(d >= 500 * s / 4) }'
	server_stop
}

@test "echo-load -R: the rate is spread over the connections, one slot each in turn" {
	server_start epoll-echo -p 0
	# 50 connections sharing 20 round trips a second: each one's turn comes
	# every 2.5 s, so in 1 s at most 21 messages go out, each on its own
	# connection, and every connection still ends clean.
	urun echo-load -p "$PORT" -c 50 -d 1 -R 20
	expect_clean 50
	local rt
	rt=$(num rt)
	[ "$rt" -le 21 ]
	[ "$(num due)" -le 21 ]
	server_stop
}

@test "echo-load -R with -n: exactly the messages asked for, none owed at the end" {
	server_start epoll-echo -p 0
	urun echo-load -p "$PORT" -c 4 -n 25 -R 10000
	expect_clean 4
	[ "$(num rt)" = 100 ]
	[ "$(num due)" = 100 ]
	[ "$(num behind)" = 0 ]
	[ "$(num kept_up)" = 1 ]
	server_stop
}

@test "echo-load without -R prints no pacing fields" {
	server_start epoll-echo -p 0
	urun echo-load -p "$PORT" -c 2 -n 10
	expect_clean 2
	[[ "$output" != *offered_per_s=* ]]
	server_stop
}

@test "echo-load -R: a bad rate, or -R with -b or -H, is a usage error" {
	local bad
	for bad in "-R 0" "-R -5" "-R x" "-R 1e9" "-R 100 -b" "-R 100 -H"; do
		# shellcheck disable=SC2086
		urun echo-load -p 1 $bad
		assert_status 2
		[[ "$output" == echo-load:* ]]
	done
}
