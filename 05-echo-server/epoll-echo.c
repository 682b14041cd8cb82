/*
 * epoll-echo: the lesson's TCP echo server on the readiness model.
 *
 * The twin of echo-server.c, built the way servers were built before
 * io_uring: non-blocking sockets and level-triggered epoll. epoll only says
 * "this socket is ready"; the program then makes the read and the write
 * itself, one syscall each. For M ready sockets that is 1 epoll_wait plus
 * M reads plus M writes, where echo-server makes one io_uring_enter.
 *
 * The readiness model has one real advantage, and this server keeps it:
 * nothing is read until data is there, so one shared buffer serves every
 * connection. A connection owns memory only while the peer is slow to take
 * its echo (a short write): the rest waits in a buffer of its own.
 *
 * Usage:    epoll-echo [-p PORT]
 * Try:      ./epoll-echo -p 8000 &  ../tests/echo-load -p 8000 -c 100 -r 1-4096
 *           (or nc 127.0.0.1 8000); kill %1 prints the counters
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o epoll-echo epoll-echo.c
 * Requires: Linux 2.6.28 (epoll_create1, accept4, signalfd, timerfd).
 * Leaves out: IPv6, edge-triggered mode (a server must then drain each
 *             socket it is told of: read until EAGAIN, one more read per
 *             message, or, as epoll(7) allows for a stream socket, until a
 *             read returns less than it asked for), more than one thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* accept4 */
#endif
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define PROG "epoll-echo"
#define BUF_SIZE 16384   /* the one read buffer all connections share */
#define MAX_EVENTS 512
#define PAUSE_MS 100     /* out of descriptors: retry accept this often */

/* The listener, signals, the fd table, the command line: as echo-server's. */
#include "server-common.h"

/* The three fds that are not connections get tokens no connection can have. */
#define TOKEN_LISTEN UINT64_MAX
#define TOKEN_SIGNAL (UINT64_MAX - 1)
#define TOKEN_TIMER (UINT64_MAX - 2)

/*
 * A connection, found through the table (struct slot) by its fd; the
 * token of its epoll registration carries the slot's gen. Here the gen is
 * only a safety net: epoll reports a descriptor at most once per
 * epoll_wait, and a connection is closed only while its own event is
 * handled, so no event of a closed connection can be left in the batch.
 */
struct conn {
	int fd;
	char *pending;          /* echo bytes the peer has not taken yet */
	size_t len, off;        /* pending[off..len) still to write */
};

static struct {
	int ep, lfd, sfd, tfd;
	struct slot *slots;
	size_t nslots;
	bool listening;         /* the listener is in the epoll set */
	bool paused;            /* accept ran out of descriptors and has not
				 * succeeded since: retried, not watched */
	bool quit;
} S = { .ep = -1, .lfd = -1, .sfd = -1, .tfd = -1 };

static struct {
	unsigned long long accepted, closed, resets, bytes, reads, writes,
		short_writes, waits, pauses, stale;
} count;

static unsigned char rbuf[BUF_SIZE];

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [-p PORT]\n"
		"  TCP echo server on 127.0.0.1 with epoll (PORT 0, the default,\n"
		"  picks a free port). SIGINT or SIGTERM stops it.\n");
}

static uint64_t token(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

static void watch(int op, int fd, uint32_t events, uint64_t tok)
{
	struct epoll_event ev = { .events = events, .data.u64 = tok };
	if (epoll_ctl(S.ep, op, fd, &ev) < 0)
		err(1, "epoll_ctl");
}

/* Watch the listener (again): its next readiness calls accept_some(). */
static void listen_again(void)
{
	if (!S.listening) {
		watch(EPOLL_CTL_ADD, S.lfd, EPOLLIN, TOKEN_LISTEN);
		S.listening = true;
	}
}

/* ---- connections ---- */

static void conn_close(struct conn *c)
{
	close(c->fd);           /* also drops it from the epoll set */
	S.slots[c->fd].c = NULL;
	free(c->pending);
	free(c);
	count.closed++;
	if (S.paused)           /* a descriptor is free again: retry */
		listen_again();
}

static void conn_open(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		warn("calloc");
		close(fd);
		return;
	}
	set_nodelay(fd);
	c->fd = fd;
	struct slot *s = slot_for(&S.slots, &S.nslots, fd);
	s->c = c;
	s->gen++;
	count.accepted++;
	watch(EPOLL_CTL_ADD, fd, EPOLLIN, token(fd, s->gen));
}

/*
 * Write what is pending. On a short write keep the rest and wait for
 * EPOLLOUT instead of EPOLLIN: while a peer does not take its echo we stop
 * reading from it, and TCP flow control slows it down. False if closed.
 */
static bool conn_flush(struct conn *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->pending + c->off, c->len - c->off,
				 MSG_NOSIGNAL);   /* a gone peer: EPIPE, not SIGPIPE */
		count.writes++;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			watch(EPOLL_CTL_MOD, c->fd, EPOLLOUT, token(c->fd, S.slots[c->fd].gen));
			return true;
		}
		if (n < 0) {
			if (errno == ECONNRESET || errno == EPIPE)
				count.resets++;
			else
				warn("send");
			conn_close(c);
			return false;
		}
		c->off += (size_t)n;
	}
	free(c->pending);
	c->pending = NULL;
	c->len = c->off = 0;
	watch(EPOLL_CTL_MOD, c->fd, EPOLLIN, token(c->fd, S.slots[c->fd].gen));
	return true;
}

/* Echo the n bytes just read into the shared buffer. */
static void conn_echo(struct conn *c, size_t n)
{
	ssize_t w = send(c->fd, rbuf, n, MSG_NOSIGNAL);
	count.writes++;
	if (w == (ssize_t)n)
		return;                 /* the usual case: all taken at once */
	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		if (errno == ECONNRESET || errno == EPIPE)
			count.resets++;
		else
			warn("send");
		conn_close(c);
		return;
	}
	/* Short: the shared buffer is needed for the next socket, so the
	 * rest moves into a buffer of this connection's own. */
	size_t done = w > 0 ? (size_t)w : 0;
	count.short_writes++;
	c->pending = malloc(n - done);
	if (!c->pending) {
		warn("malloc");
		conn_close(c);
		return;
	}
	memcpy(c->pending, rbuf + done, n - done);
	c->len = n - done;
	c->off = 0;
	conn_flush(c);
}

static void conn_readable(struct conn *c)
{
	ssize_t n = read(c->fd, rbuf, sizeof(rbuf));
	count.reads++;
	if (n > 0) {
		count.bytes += (unsigned long long)n;
		conn_echo(c, (size_t)n);
	} else if (n == 0) {
		conn_close(c);          /* EOF: every byte before it was echoed */
	} else if (errno != EAGAIN && errno != EINTR) {
		if (errno == ECONNRESET)
			count.resets++;
		else
			warn("read");
		conn_close(c);
	}
}

static void conn_event(uint64_t tok, uint32_t events)
{
	int fd = (int)(uint32_t)tok;
	uint32_t gen = (uint32_t)(tok >> 32);
	if ((size_t)fd >= S.nslots || !S.slots[fd].c || S.slots[fd].gen != gen) {
		count.stale++;          /* cannot happen: see struct conn */
		return;
	}
	struct conn *c = S.slots[fd].c;
	if (c->pending)         /* waiting for EPOLLOUT (or an error) */
		conn_flush(c);
	else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_readable(c);
}

/* ---- accepting ---- */

/*
 * Out of descriptors (or memory). The connection waits in the listen
 * backlog, and level-triggered epoll would report the listener ready again
 * at once: a spin. So say so once per pause, stop watching the listener,
 * and retry when one of our connections closes, or when the timerfd fires
 * PAUSE_MS later (a descriptor can also come free another way, and under
 * steady traffic epoll_wait never times out, so its timeout would not do).
 */
static void pause_accept(void)
{
	if (!S.paused) {
		warn("accept (pausing until a descriptor is free)");
		count.pauses++;
		S.paused = true;
	}
	if (S.listening) {
		watch(EPOLL_CTL_DEL, S.lfd, 0, 0);
		S.listening = false;
	}
	struct itimerspec once = { .it_value.tv_nsec = PAUSE_MS * 1000000L };
	if (timerfd_settime(S.tfd, 0, &once, NULL) < 0)
		err(1, "timerfd_settime");
}

static void on_timer(void)
{
	uint64_t expirations;
	if (read(S.tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		err(1, "read timerfd");
	if (S.paused)
		listen_again();
}

static void accept_some(void)
{
	for (int i = 0; i < 64; i++) {   /* then let the others have a turn */
		int fd = accept4(S.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			S.paused = false;       /* accepting again */
			conn_open(fd);
			continue;
		}
		if (errno == EAGAIN)
			return;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			pause_accept();
			return;
		}
		if (errno != ECONNABORTED && errno != EINTR && errno != EPROTO)
			warn("accept");
	}
}

static void on_signal(void)
{
	struct signalfd_siginfo si;
	if (read(S.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		S.quit = true;
}

/* ---- the loop ---- */

static void serve(void)
{
	static struct epoll_event evs[MAX_EVENTS];
	while (!S.quit) {
		int n = epoll_wait(S.ep, evs, MAX_EVENTS, -1);
		count.waits++;
		if (n < 0 && errno != EINTR)
			err(1, "epoll_wait");
		for (int i = 0; i < n; i++) {
			uint64_t tok = evs[i].data.u64;
			if (tok == TOKEN_LISTEN)
				accept_some();
			else if (tok == TOKEN_SIGNAL)
				on_signal();
			else if (tok == TOKEN_TIMER)
				on_timer();
			else
				conn_event(tok, evs[i].events);
		}
	}
}

static void shut_down(void)
{
	S.paused = false;       /* no accept to resume any more */
	close_all(S.slots, S.nslots);
	close(S.lfd);
	close(S.sfd);
	close(S.tfd);
	close(S.ep);
	fprintf(stderr, PROG ": accepted=%llu closed=%llu resets=%llu bytes=%llu "
		"reads=%llu writes=%llu short_writes=%llu epoll_waits=%llu "
		"accept_pauses=%llu stale=%llu\n",
		count.accepted, count.closed, count.resets, count.bytes,
		count.reads, count.writes, count.short_writes, count.waits,
		count.pauses, count.stale);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	unsigned port = parse(argc, argv, "hp:", longopts, NULL);
	raise_nofile();
	S.sfd = signals_as_fd();
	S.ep = epoll_create1(EPOLL_CLOEXEC);
	if (S.ep < 0)
		err(1, "epoll_create1");
	S.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (S.tfd < 0)
		err(1, "timerfd_create");
	S.lfd = listen_on(port, SOCK_NONBLOCK);
	listen_again();
	watch(EPOLL_CTL_ADD, S.sfd, EPOLLIN, TOKEN_SIGNAL);
	watch(EPOLL_CTL_ADD, S.tfd, EPOLLIN, TOKEN_TIMER);
	serve();
	shut_down();
	return 0;
}
