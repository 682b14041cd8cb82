/*
 * server-common.h: what this lesson's servers do the same way.
 *
 * The parts of an echo server that are not the lesson's subject: the
 * listening socket, signals as a descriptor, the descriptor limit,
 * TCP_NODELAY, the table that finds a connection by its fd, and the command
 * line. They are said once here, so the server files show only how the
 * servers differ: 05-echo-server's echo-server.c (io_uring) and
 * epoll-echo.c (epoll), and 06-buffer-rings' bufring-echo.c. Each of the
 * two lessons keeps an identical copy, so that each folder builds alone;
 * a test checks that the copies stay identical.
 *
 * Include it after defining PROG; the program defines struct conn,
 * usage() and conn_close(). All static: each program compiles it into
 * itself, and the `Build:` lines need nothing more (cc looks for a
 * "quoted" header in the including file's folder).
 */
#ifndef SERVER_COMMON_H
#define SERVER_COMMON_H

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef PROG
#error "define PROG (the program's name, for its messages) before including server-common.h"
#endif

struct conn;                            /* each server's own */
static void usage(FILE *f);             /* each server's own */
static void conn_close(struct conn *c); /* each server's own */

/* ---- setting up ---- */

/* A TCP listener on 127.0.0.1:port (0: any free port), of type
 * SOCK_STREAM | SOCK_CLOEXEC | type_flags. Prints the port it got. */
static int listen_on(unsigned port, int type_flags)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | type_flags, 0);
	if (fd < 0)
		err(1, "socket");
	int one = 1;
	/* Let a restarted server bind while old connections sit in TIME_WAIT;
	 * a live listener on the port still makes bind fail. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		err(1, "bind 127.0.0.1:%u", port);
	if (listen(fd, SOMAXCONN) < 0)
		err(1, "listen");
	socklen_t len = sizeof(a);
	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		err(1, "getsockname");
	/* The line that tells a script the port: if it cannot be written
	 * (>/dev/full, a closed pipe's EPIPE), nobody can reach the server. */
	if (printf("listening on 127.0.0.1:%u\n", ntohs(a.sin_port)) < 0 ||
	    fflush(stdout) == EOF)
		err(1, "stdout");
	return fd;
}

/* SIGINT and SIGTERM arrive as readable data on a descriptor, so the
 * event loop sees them like any other event. */
static int signals_as_fd(void)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		err(1, "sigprocmask");
	int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		err(1, "signalfd");
	return fd;
}

/* Many connections need more than the usual 1024 descriptors. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* An echo can leave in two sends; without NODELAY Nagle holds the second
 * until the first is ACKed, and the peer delays that ACK 40 ms. */
static void set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- the connection table ---- */

/*
 * Slot fd of the table finds the connection on fd. gen counts the
 * connections that have used this fd; the server puts it in what comes
 * back to it (user_data, the epoll token), so news about a connection that
 * closed is not applied to a new one that got the same fd number.
 */
struct slot {
	struct conn *c;
	uint32_t gen;
};

/* The slot of fd in the table *slots of *n slots, grown (zeroed) to hold
 * it. Slots hold pointers, so growing never moves a connection. */
static struct slot *slot_for(struct slot **slots, size_t *n, int fd)
{
	if ((size_t)fd >= *n) {
		size_t want = *n ? *n : 64;
		while (want <= (size_t)fd)
			want *= 2;
		struct slot *s = realloc(*slots, want * sizeof(*s));
		if (!s)
			err(1, "realloc");
		memset(s + *n, 0, (want - *n) * sizeof(*s));
		*slots = s;
		*n = want;
	}
	return &(*slots)[fd];
}

/* Close every connection still in the table (with the server's own
 * conn_close), then free the table. */
static void close_all(struct slot *slots, size_t n)
{
	for (size_t fd = 0; fd < n; fd++)
		if (slots[fd].c)
			conn_close(slots[fd].c);
	free(slots);
}

/* ---- the command line ---- */

/*
 * A descriptor the shell closed (<&-, >&-, 2>&-) is the lowest free number,
 * so the ring, the listener or a client's socket would get it, and the
 * "listening on" line or a message would be written into that instead.
 * stdout carries the contract's one line: closed, it is an error, as for
 * cat. stdin is never read and stderr closed means "say nothing": hold
 * them with /dev/null so no other descriptor takes their numbers.
 */
static void std_fds_held(void)
{
	/* In this order, so each open() gets the number it is for. */
	if (fcntl(STDIN_FILENO, F_GETFD) < 0 &&
	    open("/dev/null", O_RDONLY | O_CLOEXEC) != STDIN_FILENO)
		exit(1);
	if (fcntl(STDOUT_FILENO, F_GETFD) < 0)
		err(1, "stdout");
	if (fcntl(STDERR_FILENO, F_GETFD) < 0 &&
	    open("/dev/null", O_WRONLY | O_CLOEXEC) != STDERR_FILENO)
		exit(1);        /* nowhere to say why */
}

/*
 * -p PORT, -h/--help, and the server's own options: getopt_long with
 * optstring and longopts (both naming "h" and "p:" too), and every option
 * other than those two handed to own(ch), which returns false for one it
 * does not know. Exits 0 after --help, 2 on a bad command line. Returns
 * PORT, 0 if not given. First, std_fds_held(): every server calls parse()
 * before it opens anything.
 */
static unsigned parse(int argc, char **argv, const char *optstring,
		      const struct option *longopts, bool (*own)(int ch))
{
	unsigned long port = 0;
	char *end;
	int ch;
	std_fds_held();
	while ((ch = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			errno = 0;
			port = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || port > 65535) {
				fprintf(stderr, PROG ": bad port: %s\n", optarg);
				usage(stderr);
				exit(2);
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (ch == '?' || !own || !own(ch)) {
				usage(stderr);
				exit(2);
			}
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	return (unsigned)port;
}

#endif
