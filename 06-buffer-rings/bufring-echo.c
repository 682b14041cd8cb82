/*
 * bufring-echo: lesson 05's echo-server, receiving into one shared pool of
 * buffers handed to the kernel through a provided buffer ring.
 *
 * It is echo-server.c with one change (diff the two files to see it, and
 * little else): no connection owns a receive buffer. Each connection has
 * one multishot recv armed with IOSQE_BUFFER_SELECT; when data arrives the
 * kernel takes the next free buffer from the ring, fills it, and names it
 * in the CQE flags. The buffer is echoed back and returned to the ring only
 * once its send has completed. An idle connection costs no buffer; a busy
 * one may hold several, since its recv keeps receiving while a send is in
 * flight, so each connection keeps a FIFO of buffers waiting to be echoed.
 *
 * The pool can run dry. The kernel then ends that connection's multishot
 * recv with -ENOBUFS (the bytes wait in the socket), and it hears nothing
 * more until its recv is armed again. Starved connections wait in a FIFO;
 * after each batch of completions the server re-arms as many of them as
 * there are free buffers, oldest first, and one that starves again goes to
 * the back. Re-arming all of them at once would be a thundering herd: all
 * but a few fail again at once, every batch.
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
 * this server it is a safety net: a connection closes only once none of
 * its requests is in flight, so no CQE can outlive it, and `stale` stays 0.
 *
 * Usage:    bufring-echo [-p PORT] [-n BUFFERS] [-s BUFSIZE] [--no-defer-taskrun]
 * Try:      ./bufring-echo -p 8000 -n 4 &  ../tests/echo-load -p 8000 -c 100 -r 1-4096
 *           (or nc 127.0.0.1 8000); kill %1 prints the counters
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o bufring-echo bufring-echo.c -luring
 * Requires: Linux 6.0 (provided buffer rings 5.19, multishot recv 6.0;
 *           older kernels exit 77 naming the one missing); liburing 2.3
 *           (its buffer-ring helpers; the ring is registered by hand, as
 *           io_uring_setup_buf_ring came in 2.4).
 * Leaves out: IPv6, incremental buffer consumption (IOU_PBUF_RING_INC,
 *           6.12), send bundles, registered files, zero copy.
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
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <liburing.h>

#define PROG "bufring-echo"
#define BGID 1               /* our buffer group: the id recv SQEs name */
#define SQ_ENTRIES 1024
#define CQ_ENTRIES 8192      /* many connections can complete at once */
#define PAUSE_MS 100         /* out of descriptors: retry accept this often */

/* The listener, signals, the fd table, the command line: as lesson 05's. */
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

/* In the table (struct slot) by its fd. No buffer of its own: a FIFO of
 * pool buffers waiting to be echoed, linked through struct buf's next. */
struct conn {
	int fd;
	uint32_t gen;
	bool recv_armed;        /* its multishot recv is in the kernel */
	bool sending;           /* a send of the FIFO's head is in flight */
	bool eof;               /* the peer sent FIN: echo the FIFO, then close */
	bool failed;            /* an error: close once nothing is in flight */
	bool hogging;           /* held too much of the pool: recv cancelled */
	bool starved;           /* on the starved FIFO, waiting for a buffer */
	int32_t head, tail;     /* buffer ids, -1 when the FIFO is empty */
	unsigned held;          /* buffers in the FIFO */
	struct conn *starved_prev, *starved_next;       /* on the starved FIFO */
};

/* What we know of a pool buffer while it is ours (not in the ring). */
struct buf {
	uint32_t len, off;      /* received bytes; [off, len) still to send */
	int32_t next;           /* next buffer in its connection's FIFO */
};

static struct {
	struct io_uring ring;
	int lfd, sfd;
	struct slot *slots;
	size_t nslots;
	unsigned inflight;      /* requests the kernel still holds */
	bool defer_taskrun;     /* try SINGLE_ISSUER | DEFER_TASKRUN (6.1) */
	bool accept_armed, timer_armed, quit;
	bool paused;            /* accept ran out of descriptors and has not
				 * succeeded since: retried, not re-armed */
	struct __kernel_timespec pause;
	struct conn *starved_first, *starved_last;      /* oldest first */
} S = { .lfd = -1, .sfd = -1, .defer_taskrun = true,
	.pause = { .tv_nsec = PAUSE_MS * 1000000L } };

/* The pool: nbufs buffers of bufsize bytes, and the ring that lends them. */
static struct {
	unsigned nbufs, bufsize;
	unsigned hold_cap;      /* a connection may hold this many */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	unsigned char *mem;
	struct buf *bufs;
	unsigned out;           /* buffers the kernel gave us, not yet back */
	unsigned pending;       /* added to the ring, not yet published */
} P = { .nbufs = 256, .bufsize = 4096 };

static struct {
	unsigned long long accepted, closed, resets, bytes, recvs, sends,
		short_sends, enters, cqes, pauses, stale, enobufs, rearms,
		hog_pauses;
} count;

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [-p PORT] [-n BUFFERS] [-s BUFSIZE] [--no-defer-taskrun]\n"
		"  TCP echo server on 127.0.0.1 with io_uring and a provided buffer\n"
		"  ring (PORT 0, the default, picks a free port). SIGINT or SIGTERM\n"
		"  stops it.\n"
		"  -n BUFFERS           buffers in the shared pool, a power of 2 up\n"
		"                       to 32768 (default 256)\n"
		"  -s BUFSIZE           bytes per buffer, 1 to 1048576 (default 4096)\n"
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

/* ---- the buffer ring ---- */

/*
 * The ring is an array of nbufs entries {addr, len, bid} in memory we own
 * and register. Two free-running 16-bit counters go round it, reduced with
 * mask = nbufs - 1 to find a slot: the tail is ours (entries up to it are
 * free buffers for the kernel), the head the kernel's (it advances as recvs
 * take buffers). liburing 2.3's helpers do the two steps: write an entry
 * past the tail (io_uring_buf_ring_add), then publish a new tail with a
 * release store (io_uring_buf_ring_advance), so the kernel never sees a
 * tail that covers an entry not yet written.
 */
static unsigned char *buf_addr(unsigned bid)
{
	return P.mem + (size_t)bid * P.bufsize;
}

/* Give buffer bid back: written now, handed over by buf_publish(). */
static void buf_recycle(unsigned bid)
{
	io_uring_buf_ring_add(P.br, buf_addr(bid), P.bufsize, (unsigned short)bid,
			      io_uring_buf_ring_mask(P.nbufs), (int)P.pending);
	P.pending++;
	P.out--;
}

/* One release store hands back every buffer recycled since the last. */
static void buf_publish(void)
{
	io_uring_buf_ring_advance(P.br, (int)P.pending);
	P.pending = 0;
}

/* The buffer a CQE names: ours now, until it is recycled. */
static unsigned buf_taken(const struct io_uring_cqe *cqe)
{
	P.out++;
	return cqe->flags >> IORING_CQE_BUFFER_SHIFT;
}

static void buffers_init(void)
{
	/* The ring must be page-aligned: mmap gives that. */
	P.br_bytes = P.nbufs * sizeof(struct io_uring_buf);
	P.br = mmap(NULL, P.br_bytes, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	P.mem = mmap(NULL, (size_t)P.nbufs * P.bufsize, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	P.bufs = calloc(P.nbufs, sizeof(*P.bufs));
	if (P.br == MAP_FAILED || P.mem == MAP_FAILED || !P.bufs)
		err(1, "buffer pool of %u x %u bytes", P.nbufs, P.bufsize);
	io_uring_buf_ring_init(P.br);
	struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)P.br,
					.ring_entries = P.nbufs, .bgid = BGID };
	int ret = io_uring_register_buf_ring(&S.ring, &reg, 0);
	if (ret == -EINVAL)
		unsupported("provided buffer rings (IORING_REGISTER_PBUF_RING) "
			    "need Linux 5.19");
	if (ret < 0)
		errx(1, "io_uring_register_buf_ring: %s", strerror(-ret));
	P.out = P.nbufs;        /* all ours until recycled into the ring */
	for (unsigned bid = 0; bid < P.nbufs; bid++)
		buf_recycle(bid);
	buf_publish();
}

/*
 * Multishot recv has no probe bit: try it. Before 6.0 the kernel rejects
 * the flag with -EINVAL. A socketpair with one byte and then EOF waiting
 * answers at once, and the recv ends by itself.
 */
static void probe_multishot_recv(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		err(1, "socketpair");
	if (write(sv[1], "x", 1) != 1)
		err(1, "write to socketpair");
	close(sv[1]);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&S.ring);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	bool more = true, took = false;
	unsigned bid = 0;
	while (more) {
		struct io_uring_cqe *cqe;
		int ret = io_uring_submit_and_wait(&S.ring, 1);
		if (ret < 0 && ret != -EINTR)
			errx(1, "io_uring_submit_and_wait: %s", strerror(-ret));
		if (io_uring_peek_cqe(&S.ring, &cqe) != 0)
			continue;
		if (cqe->res == -EINVAL)
			unsupported("multishot recv (IORING_RECV_MULTISHOT) needs Linux 6.0");
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			bid = buf_taken(cqe);   /* one byte: one buffer at most */
			took = true;
		}
		more = cqe->flags & IORING_CQE_F_MORE;
		io_uring_cqe_seen(&S.ring, cqe);
	}
	if (took)               /* given back once the probe is over */
		buf_recycle(bid);
	buf_publish();
	close(sv[0]);
}

/* ---- requests ---- */

static void arm_accept(void)
{
	if (S.accept_armed || S.quit)
		return;
	struct io_uring_sqe *sqe = sqe_get();
	/* one request, a CQE per connection, until error */
	io_uring_prep_multishot_accept(sqe, S.lfd, NULL, NULL, SOCK_CLOEXEC);
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

/*
 * No buffer is passed: IOSQE_BUFFER_SELECT tells the kernel to pick one
 * from group BGID each time data arrives. Multishot keeps the request
 * armed: one SQE, a CQE per chunk of data, until one comes without
 * IORING_CQE_F_MORE.
 */
static void arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, ud_make(OP_RECV, c->gen, c->fd));
	c->recv_armed = true;
}

/* Send the rest of the FIFO's head. One send in flight per connection
 * keeps the echo in order. */
static void arm_send(struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();
	struct buf *b = &P.bufs[c->head];
	/* MSG_NOSIGNAL: a peer that has gone gives EPIPE, not a SIGPIPE that
	 * kills the whole server. */
	io_uring_prep_send(sqe, c->fd, buf_addr((unsigned)c->head) + b->off,
			   b->len - b->off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(OP_SEND, c->gen, c->fd));
	c->sending = true;
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

static void fifo_push(struct conn *c, unsigned bid, unsigned len)
{
	P.bufs[bid] = (struct buf){ .len = len, .off = 0, .next = -1 };
	if (c->head < 0)
		c->head = (int32_t)bid;
	else
		P.bufs[c->tail].next = (int32_t)bid;
	c->tail = (int32_t)bid;
	c->held++;
}

/* The head has been sent: only now may its buffer go back to the ring. */
static void fifo_pop(struct conn *c)
{
	unsigned bid = (unsigned)c->head;
	c->head = P.bufs[bid].next;
	if (c->head < 0)
		c->tail = -1;
	c->held--;
	buf_recycle(bid);
}

/* The starved FIFO: a doubly linked list through the connections, so a
 * connection that closes while it waits can leave from the middle. */
static void starved_append(struct conn *c)
{
	c->starved = true;
	c->starved_next = NULL;
	c->starved_prev = S.starved_last;
	if (S.starved_last)
		S.starved_last->starved_next = c;
	else
		S.starved_first = c;
	S.starved_last = c;
}

static void starved_remove(struct conn *c)
{
	if (c->starved_prev)
		c->starved_prev->starved_next = c->starved_next;
	else
		S.starved_first = c->starved_next;
	if (c->starved_next)
		c->starved_next->starved_prev = c->starved_prev;
	else
		S.starved_last = c->starved_prev;
	c->starved = false;
}

/* Only called when the connection has no request in flight, so no CQE
 * can come for it and its buffers are ours to give back. */
static void conn_close(struct conn *c)
{
	while (c->held)
		fifo_pop(c);
	if (c->starved)
		starved_remove(c);
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
	*c = (struct conn){ .fd = fd, .gen = s->gen, .head = -1, .tail = -1 };
	count.accepted++;
	arm_recv(c);
}

/* Close c if it is finished and none of its requests is in flight. */
static void conn_close_when_idle(struct conn *c)
{
	bool done = c->failed || S.quit || (c->eof && c->held == 0);
	if (done && !c->recv_armed && !c->sending)
		conn_close(c);
}

/* A request of c failed with -res: the peer is gone, or worse. Stop its
 * recv; it closes once nothing of it is in flight. */
static void conn_failed(struct conn *c, int res, const char *what)
{
	if (res == -ECONNRESET || res == -EPIPE)
		count.resets++;
	else if (res != -ECANCELED)
		warnx("%s: %s", what, strerror(-res));
	if (c->recv_armed && !c->failed)
		arm_cancel(ud_make(OP_RECV, c->gen, c->fd));
	c->failed = true;
	conn_close_when_idle(c);
}

/* The pool ran dry for c: it waits at the back of the starved FIFO. */
static void conn_starve(struct conn *c)
{
	count.enobufs++;
	starved_append(c);
}

/*
 * After each batch of completions: re-arm as many starved connections as
 * there are free buffers, oldest first. More would only fail again at once
 * (a herd); fewer could leave a connection waiting while buffers sit free.
 */
static void rearm_starved(void)
{
	unsigned free_bufs = P.nbufs - P.out;
	while (free_bufs > 0 && !S.quit && S.starved_first) {
		struct conn *c = S.starved_first;
		starved_remove(c);
		count.rearms++;
		arm_recv(c);
		free_bufs--;
	}
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

/* The multishot recv of c ended (a CQE without IORING_CQE_F_MORE). */
static void recv_ended(struct conn *c, int res)
{
	c->recv_armed = false;
	if (S.quit || c->failed) {
		conn_close_when_idle(c);
	} else if (res == 0) {
		c->eof = true;  /* echo what is queued, then close */
		conn_close_when_idle(c);
	} else if (res < 0 && res != -ENOBUFS && res != -ECANCELED &&
		   res != -EINTR && res != -EAGAIN) {
		conn_failed(c, res, "recv");
	} else if (c->hogging) {
		;               /* armed again once its FIFO drains (on_send) */
	} else if (res == -ENOBUFS) {
		conn_starve(c); /* armed again when a buffer is free */
	} else {
		arm_recv(c);    /* ended for its own reasons: go on */
	}
}

static void on_recv(struct conn *c, struct io_uring_cqe *cqe)
{
	count.recvs++;
	/* A buffer id exists only when the kernel says so. */
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = buf_taken(cqe);
		if (cqe->res > 0 && !S.quit && !c->failed) {
			count.bytes += (unsigned)cqe->res;
			fifo_push(c, bid, (unsigned)cqe->res);
			if (!c->sending)
				arm_send(c);
		} else {
			buf_recycle(bid);
		}
	}
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		recv_ended(c, cqe->res);
	} else if (c->held > P.hold_cap && !c->hogging && !S.quit && !c->failed) {
		/* A peer that does not read its echo would pile the whole
		 * pool onto its FIFO and starve everyone else. Stop receiving
		 * from it until its FIFO drains. */
		c->hogging = true;
		count.hog_pauses++;
		arm_cancel(ud_make(OP_RECV, c->gen, c->fd));
	}
}

static void on_send(struct conn *c, int res)
{
	count.sends++;
	c->sending = false;
	if (res >= 0 && !S.quit && !c->failed) {
		struct buf *b = &P.bufs[c->head];
		b->off += (uint32_t)res;
		if (b->off < b->len) {
			count.short_sends++;   /* send the rest from where it stopped */
			arm_send(c);
			return;
		}
		fifo_pop(c);
		if (c->held > 0) {
			arm_send(c);
		} else if (c->hogging) {
			c->hogging = false;     /* drained: receive again */
			if (!c->recv_armed && !c->eof)
				arm_recv(c);
		}
		conn_close_when_idle(c);
	} else if ((res == -EINTR || res == -EAGAIN) && !S.quit && !c->failed) {
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
	for (size_t fd = 0; fd < S.nslots; fd++) {
		struct conn *c = S.slots[fd].c;
		if (!c)
			continue;
		if (c->recv_armed)
			arm_cancel(ud_make(OP_RECV, c->gen, c->fd));
		if (c->sending)
			arm_cancel(ud_make(OP_SEND, c->gen, c->fd));
		conn_close_when_idle(c);        /* a starved one has nothing in flight */
	}
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
			on_recv(c, cqe);
		else if (cqe->flags & IORING_CQE_F_BUFFER)
			buf_recycle(buf_taken(cqe));    /* or the pool shrinks */
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
		buf_publish();
		rearm_starved();
	}
}

static void shut_down(void)
{
	S.paused = false;
	close_all(S.slots, S.nslots);   /* no connection left, normally */
	close(S.lfd);
	close(S.sfd);
	/* serve() returned only once no request was in flight (S.inflight
	 * is 0), so nothing in the kernel can still use the memory unmapped
	 * below. io_uring_queue_exit() would not make that safe by itself: it
	 * starts cancelling what is still in flight and returns without
	 * waiting for it. */
	io_uring_queue_exit(&S.ring);
	munmap(P.mem, (size_t)P.nbufs * P.bufsize);
	munmap(P.br, P.br_bytes);
	free(P.bufs);
	fprintf(stderr, PROG ": accepted=%llu closed=%llu resets=%llu bytes=%llu "
		"recvs=%llu sends=%llu short_sends=%llu io_uring_enters=%llu "
		"cqes=%llu ring=%s accept_pauses=%llu stale=%llu "
		"ENOBUFS=%llu rearms=%llu pauses=%llu\n",
		count.accepted, count.closed, count.resets, count.bytes,
		count.recvs, count.sends, count.short_sends, count.enters,
		count.cqes, S.defer_taskrun ? "defer_taskrun" : "plain",
		count.pauses, count.stale, count.enobufs, count.rearms,
		count.hog_pauses);
}

/* optarg as a number from lo to hi, or exit 2. */
static unsigned number(const char *what, unsigned long lo, unsigned long hi)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(optarg, &end, 10);
	if (errno || end == optarg || *end || v < lo || v > hi) {
		fprintf(stderr, PROG ": %s must be a number from %lu to %lu: %s\n",
			what, lo, hi, optarg);
		usage(stderr);
		exit(2);
	}
	return (unsigned)v;
}

/* -n, -s, and --no-defer-taskrun, which forces the path a kernel before
 * 6.1 takes, so it can be tested here. -p and -h are server-common.h's. */
static bool own_option(int ch)
{
	switch (ch) {
	case 'n':
		P.nbufs = number("BUFFERS", 1, 32768);
		return true;
	case 's':
		P.bufsize = number("BUFSIZE", 1, 1 << 20);
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
		{ "no-defer-taskrun", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 } };
	unsigned port = parse(argc, argv, "hp:n:s:", longopts, own_option);
	if (P.nbufs & (P.nbufs - 1)) {  /* the ring's mask needs it */
		fprintf(stderr, PROG ": BUFFERS must be a power of 2: %u\n", P.nbufs);
		usage(stderr);
		exit(2);
	}
	/* A connection may hold a quarter of the pool before it is paused. */
	P.hold_cap = P.nbufs / 4 ? P.nbufs / 4 : 1;
	raise_nofile();
	ring_init();
	buffers_init();
	probe_multishot_recv();
	S.sfd = signals_as_fd();
	S.lfd = listen_on(port, 0);
	arm_signal();
	arm_accept();
	serve();
	shut_down();
	return 0;
}
