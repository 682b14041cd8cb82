/*
 * echo-server: a TCP echo server on io_uring.
 *
 * Where epoll-echo asks "which sockets are ready?" and then reads and
 * writes them itself, this server asks the kernel to do the work: "accept
 * on this socket", "receive into this buffer", "send these bytes", and is
 * told when each is done. One io_uring_enter submits every request the last
 * batch of completions produced and waits for the next batch, however many
 * sockets that covers.
 *
 * Each connection has exactly one request in flight: a recv, or the send
 * of what that recv brought. So the echo comes back in order, a peer that
 * stops reading its echo stops being read (TCP flow control does the rest),
 * and at EOF every byte before it has been sent. The price of the
 * completion model: every connection waiting in recv owns a buffer the
 * kernel may write into at any moment (lesson 06 shares one pool instead).
 *
 * user_data, 64 bits, says what a completion is for:
 *
 *   63     56 55                 32 31                  0
 *   +--------+---------------------+---------------------+
 *   |   op   |  generation (24 b)  |   fd (connection)   |
 *   +--------+---------------------+---------------------+
 *
 * The fd finds the connection in a table; the generation is bumped each
 * time an fd number starts a new connection, so a completion that arrives
 * after its connection closed, when accept may already have handed the same
 * fd number to somebody else, is recognised and dropped, not applied. In
 * this server it is a safety net: a connection closes only from the CQE of
 * its one request, so no CQE can outlive it, and `stale` stays 0. A second
 * request per connection (exercise 1's idle timer) makes it earn its keep.
 *
 * Usage:    echo-server [-p PORT] [--single-accept] [--no-defer-taskrun]
 * Try:      ./echo-server -p 8000 &  ../tests/echo-load -p 8000 -c 100 -r 1-4096
 *           (or nc 127.0.0.1 8000); kill %1 prints the counters
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o echo-server echo-server.c -luring
 * Requires: Linux 5.6 (IORING_OP_ACCEPT 5.5, RECV/SEND 5.6), 5.7 for
 *           IORING_FEAT_FAST_POLL (without it recvs wait in kernel threads),
 *           5.19 for multishot accept (else one accept per connection);
 *           liburing 2.3 or newer (built and tested against 2.3 and 2.9).
 * Leaves out: IPv6, buffer rings (lesson 06), registered files, zero copy.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <liburing.h>

#define PROG "echo-server"
#define BUF_SIZE 4096        /* each connection's receive buffer */
#define SQ_ENTRIES 1024
#define CQ_ENTRIES 8192      /* many connections can complete at once */
#define PAUSE_MS 100         /* out of descriptors: retry accept this often */

/* The listener, signals, the fd table, the command line: as epoll-echo's. */
#include "server-common.h"

enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_SIGNAL, OP_TIMER, OP_CANCEL };

#define GEN_MASK 0xffffffu

static uint64_t ud_make(enum op op, uint32_t gen, int fd)
{
	return (uint64_t)op << 56 | (uint64_t)(gen & GEN_MASK) << 32 | (uint32_t)fd;
}
static enum op ud_op(uint64_t ud) { return (enum op)(ud >> 56); }
static uint32_t ud_gen(uint64_t ud) { return (uint32_t)(ud >> 32) & GEN_MASK; }
static int ud_fd(uint64_t ud) { return (int)(uint32_t)ud; }

/* In the table (struct slot) by its fd. The table holds pointers, so
 * growing it never moves a buffer the kernel is writing into. */
struct conn {
	int fd;
	uint32_t gen;
	uint64_t inflight;      /* user_data of its one request in flight */
	uint32_t len, off;      /* buf[off..len) is echo still to send */
	unsigned char buf[BUF_SIZE];
};

static struct {
	struct io_uring ring;
	int lfd, sfd;
	struct slot *slots;
	size_t nslots;
	unsigned inflight;      /* requests the kernel still holds */
	bool multishot;         /* accept mode: multishot, or one per CQE */
	bool defer_taskrun;     /* try SINGLE_ISSUER | DEFER_TASKRUN (6.1) */
	bool accept_armed, timer_armed, quit;
	bool paused;            /* accept ran out of descriptors and has not
				 * succeeded since: retried, not re-armed */
	struct __kernel_timespec pause;
} S = { .lfd = -1, .sfd = -1, .multishot = true, .defer_taskrun = true,
	.pause = { .tv_nsec = PAUSE_MS * 1000000L } };

static struct {
	unsigned long long accepted, closed, resets, bytes, recvs, sends,
		short_sends, enters, cqes, pauses, stale;
} count;

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [-p PORT] [--single-accept] [--no-defer-taskrun]\n"
		"  TCP echo server on 127.0.0.1 with io_uring (PORT 0, the default,\n"
		"  picks a free port). SIGINT or SIGTERM stops it.\n"
		"  --single-accept      one accept request per connection, as\n"
		"                       before Linux 5.19's multishot accept\n"
		"  --no-defer-taskrun   a ring without SINGLE_ISSUER and\n"
		"                       DEFER_TASKRUN, as before Linux 6.1\n");
}

/* ---- the ring ---- */

/* Exit 77 for "this kernel or environment cannot run the lesson". */
static void unsupported(const char *what)
{
	struct utsname u;
	uname(&u);
	fprintf(stderr, PROG ": %s (running Linux %s)\n", what, u.release);
	exit(77);
}

static void ring_init(void)
{
	struct io_uring_params p = { 0 };
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = CQ_ENTRIES;
	/* 6.1: one thread submits, and completion work runs only when it
	 * waits; fewer interruptions, less CPU. Older kernels say EINVAL,
	 * and get the ring that --no-defer-taskrun asks for. */
	if (S.defer_taskrun)
		p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	int ret = io_uring_queue_init_params(SQ_ENTRIES, &S.ring, &p);
	if (ret == -EINVAL && S.defer_taskrun) {
		S.defer_taskrun = false;
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = CQ_ENTRIES;
		ret = io_uring_queue_init_params(SQ_ENTRIES, &S.ring, &p);
	}
	if (ret == -EINVAL)
		unsupported("io_uring_setup: IORING_SETUP_CQSIZE needs Linux 5.5");
	if (ret == -EPERM || ret == -ENOSYS)
		unsupported(ret == -EPERM ?
			"io_uring_setup: Operation not permitted (blocked by a "
			"seccomp profile such as Docker's default, or by the "
			"kernel.io_uring_disabled sysctl)" :
			"io_uring_setup: Function not implemented (a kernel "
			"older than 5.1, or built without io_uring, or a sandbox)");
	if (ret < 0)
		errx(1, "io_uring_queue_init: %s", strerror(-ret));

	struct io_uring_probe *pr = io_uring_get_probe_ring(&S.ring);
	if (!pr)
		unsupported("no opcode probe: io_uring_register PROBE needs Linux 5.6");
	static const struct { int op; const char *name; } need[] = {
		{ IORING_OP_ACCEPT, "IORING_OP_ACCEPT (Linux 5.5)" },
		{ IORING_OP_RECV, "IORING_OP_RECV (Linux 5.6)" },
		{ IORING_OP_SEND, "IORING_OP_SEND (Linux 5.6)" },
		{ IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD (Linux 5.1)" },
		{ IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT (Linux 5.4)" },
		{ IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL (Linux 5.5)" },
	};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (!io_uring_opcode_supported(pr, need[i].op)) {
			char msg[128];
			snprintf(msg, sizeof(msg), "this kernel lacks %s", need[i].name);
			io_uring_free_probe(pr);
			unsupported(msg);
		}
	}
	io_uring_free_probe(pr);
}

/* An SQE, submitting what is queued first if the SQ is full. */
static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&S.ring);
	if (!sqe) {
		int ret = io_uring_submit(&S.ring);
		if (ret < 0)
			errx(1, "io_uring_submit: %s", strerror(-ret));
		count.enters++;
		sqe = io_uring_get_sqe(&S.ring);
		if (!sqe)
			errx(1, "no SQE free even after submitting");
	}
	S.inflight++;
	return sqe;
}

/* ---- requests ---- */

static void arm_accept(void)
{
	if (S.accept_armed || S.quit)
		return;
	struct io_uring_sqe *sqe = sqe_get();
	if (S.multishot)   /* one request, a CQE per connection, until error */
		io_uring_prep_multishot_accept(sqe, S.lfd, NULL, NULL, SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, S.lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud_make(OP_ACCEPT, 0, 0));
	S.accept_armed = true;
}

/*
 * The signalfd is watched with a poll request, and read with read(2) once
 * the poll says a signal is queued (the read cannot block then). Not with
 * a read request: until Linux 6.10 (commit fbe38120eb1d) signalfd had no
 * non-blocking read, so io_uring handed such a read to a worker thread,
 * and a thread reads only its own signals and its process's (signalfd(2));
 * before 5.12 the workers were kernel threads, outside this process.
 */
static void arm_signal(void)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_poll_add(sqe, S.sfd, POLLIN);
	io_uring_sqe_set_data64(sqe, ud_make(OP_SIGNAL, 0, 0));
}

static void arm_timer(void)
{
	if (S.timer_armed)
		return;
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_timeout(sqe, &S.pause, 0, 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_TIMER, 0, 0));
	S.timer_armed = true;
}

static void arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_recv(sqe, c->fd, c->buf, BUF_SIZE, 0);
	c->inflight = ud_make(OP_RECV, c->gen, c->fd);
	io_uring_sqe_set_data64(sqe, c->inflight);
}

static void arm_send(struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();
	/* MSG_NOSIGNAL: a peer that has gone gives EPIPE, not a SIGPIPE that
	 * kills the whole server. */
	io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
	c->inflight = ud_make(OP_SEND, c->gen, c->fd);
	io_uring_sqe_set_data64(sqe, c->inflight);
}

static void arm_cancel(uint64_t target)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_cancel64(sqe, target, 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
}

/* ---- connections ---- */

/* The live connection a completion belongs to, or NULL if it is stale. */
static struct conn *conn_of(uint64_t ud)
{
	int fd = ud_fd(ud);
	if ((size_t)fd >= S.nslots || !S.slots[fd].c ||
	    S.slots[fd].gen != ud_gen(ud)) {
		count.stale++;
		return NULL;
	}
	return S.slots[fd].c;
}

/* Only called when the connection has no request in flight, so nothing in
 * the kernel still points at its buffer. */
static void conn_close(struct conn *c)
{
	close(c->fd);
	S.slots[c->fd].c = NULL;
	free(c);
	count.closed++;
	if (S.paused)           /* a descriptor is free again: retry */
		arm_accept();
}

static void conn_open(int fd)
{
	struct conn *c = malloc(sizeof(*c));
	if (!c) {
		warn("malloc");
		close(fd);
		return;
	}
	set_nodelay(fd);
	struct slot *s = slot_for(&S.slots, &S.nslots, fd);
	s->gen = (s->gen + 1) & GEN_MASK;
	s->c = c;
	c->fd = fd;
	c->gen = s->gen;
	c->len = c->off = 0;
	count.accepted++;
	arm_recv(c);
}

/* A request of c failed with -res: the peer is gone, or worse. */
static void conn_failed(struct conn *c, int res, const char *what)
{
	if (res == -ECONNRESET || res == -EPIPE)
		count.resets++;
	else if (res != -ECANCELED)
		warnx("%s: %s", what, strerror(-res));
	conn_close(c);
}

/* ---- completions ---- */

/*
 * Out of descriptors (or memory). The connection waits in the listen
 * backlog. Say so once per pause, and do not re-arm the accept now (it
 * would fail again at once: a spin). Retry when one of our connections
 * closes, or every PAUSE_MS, since a descriptor can also come free another
 * way (the limit raised, another process closing files).
 */
static void pause_accept(int res)
{
	if (!S.paused) {
		warnx("accept: %s (pausing until a descriptor is free)",
		      strerror(-res));
		count.pauses++;
		S.paused = true;
	}
	arm_timer();
}

static void on_accept(struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	if (!more)
		S.accept_armed = false;
	if (cqe->res >= 0) {
		S.paused = false;       /* accepting again */
		if (S.quit)
			close(cqe->res);
		else
			conn_open(cqe->res);
	} else if (cqe->res == -EINVAL && S.multishot && count.accepted == 0) {
		/* Before 5.19 the multishot flag is an invalid field. */
		S.multishot = false;
	} else if (cqe->res == -EMFILE || cqe->res == -ENFILE ||
		   cqe->res == -ENOBUFS || cqe->res == -ENOMEM) {
		pause_accept(cqe->res);
		return;         /* retried by a close or the timer */
	} else if (cqe->res != -ECANCELED && cqe->res != -ECONNABORTED &&
		   cqe->res != -EINTR) {
		warnx("accept: %s", strerror(-cqe->res));
	}
	if (!more)
		arm_accept();
}

static void on_recv(struct conn *c, int res)
{
	count.recvs++;
	if (res > 0 && !S.quit) {
		count.bytes += (unsigned)res;
		c->len = (uint32_t)res;
		c->off = 0;
		arm_send(c);
	} else if (res == 0) {
		conn_close(c);  /* EOF: every byte before it has been echoed */
	} else if ((res == -EINTR || res == -EAGAIN) && !S.quit) {
		arm_recv(c);
	} else {        /* after quit, on_signal's cancel ends it, whatever res */
		conn_failed(c, S.quit ? -ECANCELED : res, "recv");
	}
}

static void on_send(struct conn *c, int res)
{
	count.sends++;
	if (res >= 0 && !S.quit) {
		c->off += (uint32_t)res;
		if (c->off < c->len) {
			count.short_sends++;   /* send the rest from where it stopped */
			arm_send(c);
		} else {
			arm_recv(c);
		}
	} else if ((res == -EINTR || res == -EAGAIN) && !S.quit) {
		arm_send(c);
	} else {
		conn_failed(c, S.quit ? -ECANCELED : res, "send");
	}
}

/* Stop: cancel every request still in flight. Their CQEs (mostly
 * -ECANCELED) close the connections; the loop ends when none is left. */
static void on_signal(void)
{
	struct signalfd_siginfo si;
	if (read(S.sfd, &si, sizeof(si)) != (ssize_t)sizeof(si)) {
		arm_signal();   /* woken for nothing: watch again */
		return;
	}
	S.quit = true;
	if (S.accept_armed)
		arm_cancel(ud_make(OP_ACCEPT, 0, 0));
	if (S.timer_armed)
		arm_cancel(ud_make(OP_TIMER, 0, 0));
	for (size_t fd = 0; fd < S.nslots; fd++)
		if (S.slots[fd].c)
			arm_cancel(S.slots[fd].c->inflight);
}

static void on_cqe(struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	struct conn *c;
	count.cqes++;
	if (!(cqe->flags & IORING_CQE_F_MORE))
		S.inflight--;   /* the kernel is done with this request */
	switch (ud_op(ud)) {
	case OP_ACCEPT:
		on_accept(cqe);
		break;
	case OP_RECV:
		if ((c = conn_of(ud)))
			on_recv(c, cqe->res);
		break;
	case OP_SEND:
		if ((c = conn_of(ud)))
			on_send(c, cqe->res);
		break;
	case OP_SIGNAL:
		if (!S.quit)
			on_signal();
		break;
	case OP_TIMER:          /* -ETIME: retry the paused accept */
		S.timer_armed = false;
		if (S.paused)
			arm_accept();
		break;
	case OP_CANCEL:         /* 0, or -ENOENT if it had completed already */
		break;
	default:
		errx(1, "completion with unknown user_data %#llx",
		     (unsigned long long)ud);
	}
}

/* ---- the loop ---- */

static void serve(void)
{
	while (!S.quit || S.inflight > 0) {
		/* One syscall: submit what the last batch queued, wait for one
		 * completion at least. */
		int ret = io_uring_submit_and_wait(&S.ring, 1);
		count.enters++;
		if (ret < 0 && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN)
			errx(1, "io_uring_submit_and_wait: %s", strerror(-ret));
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&S.ring, head, cqe) {
			on_cqe(cqe);
			seen++;
		}
		io_uring_cq_advance(&S.ring, seen);
	}
}

static void shut_down(void)
{
	S.paused = false;
	close_all(S.slots, S.nslots);   /* no connection left, normally */
	close(S.lfd);
	close(S.sfd);
	io_uring_queue_exit(&S.ring);
	fprintf(stderr, PROG ": accepted=%llu closed=%llu resets=%llu bytes=%llu "
		"recvs=%llu sends=%llu short_sends=%llu io_uring_enters=%llu "
		"cqes=%llu accept=%s ring=%s accept_pauses=%llu stale=%llu\n",
		count.accepted, count.closed, count.resets, count.bytes,
		count.recvs, count.sends, count.short_sends, count.enters,
		count.cqes, S.multishot ? "multishot" : "single",
		S.defer_taskrun ? "defer_taskrun" : "plain",
		count.pauses, count.stale);
}

/* --single-accept, --no-defer-taskrun: each forces the path an older
 * kernel takes, so it can be tested here. -p and -h are server-common.h's. */
static bool own_option(int ch)
{
	switch (ch) {
	case '1':
		S.multishot = false;
		return true;
	case 'D':
		S.defer_taskrun = false;
		return true;
	default:
		return false;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "single-accept", no_argument, NULL, '1' },
		{ "no-defer-taskrun", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 } };
	unsigned port = parse(argc, argv, "hp:", longopts, own_option);
	raise_nofile();
	ring_init();
	S.sfd = signals_as_fd();
	S.lfd = listen_on(port, 0);
	arm_signal();
	arm_accept();
	serve();
	shut_down();
	return 0;
}
