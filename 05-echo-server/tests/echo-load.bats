#!/usr/bin/env bats
# The judge: tests/echo-load must notice every way an echo can go wrong, or
# the server tests prove nothing. Against a deliberately broken server:

load ../../tests/helpers
load lib

@test "echo-load catches a flipped bit" { judge_catches flip mismatch; }
@test "echo-load catches lost bytes (as a stuck connection)" { judge_catches drop stuck; }
@test "echo-load catches duplicated bytes" { judge_catches dup mismatch; }
@test "echo-load catches an early close" { judge_catches close failed; }

@test "echo-load: -h, and bad options exit 2" {
	urun echo-load -h
	assert_status 0
	[[ "$output" == "usage: echo-load -p PORT"* ]]
	urun echo-load -c 3
	assert_status 2
	urun echo-load -p 1 -r 5-2
	assert_status 2
}

@test "echo-load: a refused connection is a failure, exit 1" {
	server_start epoll-echo -p 0
	local port=$PORT
	server_stop
	urun echo-load -p "$port" -c 2
	assert_status 1
	[ "$(field failed)" = 2 ]
}
