#!/usr/bin/env bats
# epoll-echo (the readiness twin): the same contract, under the shared load client.

load ../../tests/helpers
load lib

@test "epoll-echo: 1 connection, random sizes, byte for byte" { scenario_random epoll-echo 1 500; }
@test "epoll-echo: 100 connections, random sizes, byte for byte" { scenario_random epoll-echo 100 100; }
@test "epoll-echo: 1000 connections, random sizes, byte for byte" { scenario_random epoll-echo 1000 10; }
@test "epoll-echo: a client bursting 8 MiB before reading loses nothing, others served" { scenario_burst epoll-echo; }
@test "epoll-echo: a short send (a peer slow to read) is continued, byte for byte" { scenario_short_send epoll-echo short_writes; }
@test "epoll-echo: clients resetting mid-stream close only their own connection" { scenario_reset epoll-echo; }
@test "epoll-echo: a half-closed client gets every byte back, then EOF" { scenario_halfclose epoll-echo; }
@test "epoll-echo: port in use is a clear error, exit 1" { scenario_port_in_use epoll-echo; }
@test "epoll-echo: SIGTERM under load closes everything, exit 0" { scenario_sigterm_under_load epoll-echo; }
@test "epoll-echo: SIGINT stops it cleanly too, exit 0" { scenario_sigint epoll-echo; }
@test "epoll-echo: no descriptor leaks after 2000 short connections" { scenario_churn epoll-echo; }
@test "epoll-echo: EMFILE on accept is survived, everyone served" { scenario_emfile epoll-echo; }
@test "epoll-echo: -h and bad options" { scenario_usage epoll-echo; }
@test "epoll-echo: stdout closed (>&-) or full (/dev/full) is one line and exit 1" { scenario_closed_stdout epoll-echo; }
@test "epoll-echo: stdin and stderr closed (<&- 2>&-): held by /dev/null, serves, exit 0" { scenario_closed_stdin_stderr epoll-echo; }

@test "epoll-echo needs no io_uring: it serves with io_uring blocked" {
	server_start deny-uring epoll-echo -p 0
	urun echo-load -p "$PORT" -c 10 -n 100
	expect_clean 10
	server_stop
}

@test "epoll-echo: out of descriptors with none closing: one pause, one line, resumed by the timer" { scenario_emfile_held epoll-echo; }
