#!/usr/bin/env bats
# echo-server (io_uring): the server contract, under the shared load client.

load ../../tests/helpers
load lib

@test "echo-server: 1 connection, random sizes, byte for byte" { scenario_random echo-server 1 500; }
@test "echo-server: 100 connections, random sizes, byte for byte" { scenario_random echo-server 100 100; }
@test "echo-server: 1000 connections, random sizes, byte for byte" { scenario_random echo-server 1000 10; }
@test "echo-server: a client bursting 8 MiB before reading loses nothing, others served" { scenario_burst echo-server; }
@test "echo-server: a short send (a peer slow to read) is continued, byte for byte" { scenario_short_send echo-server short_sends; }
@test "echo-server: clients resetting mid-stream close only their own connection" { scenario_reset echo-server; }
@test "echo-server: a half-closed client gets every byte back, then EOF" { scenario_halfclose echo-server; }
@test "echo-server: port in use is a clear error, exit 1" { scenario_port_in_use echo-server; }
@test "echo-server: SIGTERM under load closes everything, exit 0" { scenario_sigterm_under_load echo-server; }
@test "echo-server: SIGINT stops it cleanly too, exit 0" { scenario_sigint echo-server; }
@test "echo-server: no descriptor leaks after 2000 short connections" { scenario_churn echo-server; }
@test "echo-server: EMFILE on accept is survived, everyone served" { scenario_emfile echo-server; }
@test "echo-server: -h and bad options" { scenario_usage echo-server; }
@test "echo-server: stdout closed (>&-) or full (/dev/full) is one line and exit 1" { scenario_closed_stdout echo-server; }
@test "echo-server: stdin and stderr closed (<&- 2>&-): held by /dev/null, serves, exit 0" { scenario_closed_stdin_stderr echo-server; }

@test "echo-server --single-accept (pre-5.19 path): 100 connections" {
	server_start echo-server --single-accept -p 0
	urun echo-load -p "$PORT" -c 100 -n 50 -r 1-8192
	expect_clean 100
	server_stop
	grep -q 'accept=single' "$SERVER_ERR"
}

@test "echo-server uses multishot accept where the kernel has it" {
	server_start echo-server -p 0
	urun echo-load -p "$PORT" -c 10 -n 10
	expect_clean 10
	server_stop
	grep -q 'accept=multishot' "$SERVER_ERR"
}

@test "echo-server: io_uring blocked (EPERM) is exit 77 with the cause" {
	run timeout 10 deny-uring echo-server -p 0
	[ "$status" -eq 77 ]
	[[ "$output" == "echo-server: io_uring_setup: Operation not permitted"*seccomp*io_uring_disabled* ]]
}

@test "echo-server: no io_uring in the kernel (ENOSYS) is exit 77" {
	run timeout 10 deny-uring -e ENOSYS echo-server -p 0
	[ "$status" -eq 77 ]
	[[ "$output" == "echo-server: io_uring_setup: Function not implemented"* ]]
}

@test "echo-server: out of descriptors with none closing: one pause, one line, resumed by the timer" { scenario_emfile_held echo-server --single-accept; }

@test "echo-server --no-defer-taskrun (pre-6.1 ring): 100 connections" {
	server_start echo-server --no-defer-taskrun -p 0
	urun echo-load -p "$PORT" -c 100 -n 50 -r 1-8192
	expect_clean 100
	server_stop
	grep -q 'ring=plain' "$SERVER_ERR"
}

@test "echo-server uses SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them" {
	server_start echo-server -p 0
	urun echo-load -p "$PORT" -c 10 -n 10
	expect_clean 10
	server_stop
	grep -q 'ring=defer_taskrun' "$SERVER_ERR" ||
		{ uname -r | awk -F. '$1 < 6 || ($1 == 6 && $2 < 1) { exit 0 } { exit 1 }' &&
		  skip "exit 77: DEFER_TASKRUN needs Linux 6.1, running $(uname -r)"; false; }
}
