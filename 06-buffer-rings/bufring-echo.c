/*
 * bufring-echo: a TCP echo server that receives into one shared pool of
 * buffers, handed to the kernel through a provided buffer ring.
 *
 * What it shows: a connection does not own a receive buffer. Each
 * connection has one multishot recv armed with IOSQE_BUFFER_SELECT; when
 * data arrives the kernel takes the next free buffer from the ring, fills
 * it, and names it in the CQE flags. The buffer is echoed back and only
 * returned to the ring once its send has completed. 5000 idle connections
 * therefore cost nothing in buffers, where a server that arms a plain recv
 * per connection (05-echo-server) holds 5000 buffers that wait for data.
 *
 * Why it matters: the pool can run dry. The kernel then ends the multishot
 * recv with -ENOBUFS, and the connection hears nothing more until we arm it
 * again. This server keeps a list of starved connections and re-arms all of
 * them once buffers come back, so no connection stalls (liburing's own
 * echo-server example re-arms only the connection whose send freed them).
 *
 * Usage:    bufring-echo [-p PORT] [-n BUFFERS] [-s BUFSIZE]
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o bufring-echo bufring-echo.c -luring
 * Requires: Linux 6.0 (buffer rings and multishot accept 5.19, multishot
 *           recv 6.0); liburing 2.3 (the ring is registered by hand, so
 *           io_uring_setup_buf_ring from 2.4 is not needed).
 * Leaves out: incremental buffer consumption (IOU_PBUF_RING_INC, 6.12),
 *           send bundles, zero-copy send, direct descriptors.
 *
 * Test with: ./bufring-echo -p 8006 & then: nc 127.0.0.1 8006
 */
#include <errno.h>
#include <err.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#define PROG "bufring-echo"
#define BGID 1			/* our buffer group: the id recv SQEs name */
#define SQ_ENTRIES 256
#define CQ_ENTRIES 2048
#define MAX_FDS (1 << 20)	/* cap on the connection table */

/*
 * user_data of every SQE: | op (8 bits) | generation (24) | fd (32) |.
 * The connection table is indexed by fd, and the kernel reuses the lowest
 * free fd. The generation is bumped each time a slot gets a new connection,
 * so a late CQE meant for a closed connection never acts on its successor.
 */
enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_CANCEL, OP_SIGNAL, OP_PROBE, OP_TIMER };

static uint64_t pack(enum op op, uint32_t gen, int fd)
{
	return (uint64_t)op << 56 | (uint64_t)(gen & 0xffffff) << 32 |
	       (uint32_t)fd;
}
static enum op ud_op(uint64_t ud) { return (enum op)(ud >> 56); }
static uint32_t ud_gen(uint64_t ud) { return (ud >> 32) & 0xffffff; }
static int ud_fd(uint64_t ud) { return (int)(uint32_t)ud; }

/* Connection state flags. */
enum {
	C_OPEN = 1,		/* slot in use */
	C_RECV = 2,		/* a multishot recv is armed */
	C_SENDING = 4,		/* a send of the queue's head is in flight */
	C_EOF = 8,		/* peer sent FIN: echo what is queued, then close */
	C_CLOSING = 16,		/* error: close once nothing is in flight */
	C_PAUSED = 32,		/* holds too many buffers; recv cancelled */
	C_STARVED = 64,		/* got -ENOBUFS; on the starved list */
};

/*
 * A connection is small on purpose: no buffer of its own, only a FIFO of
 * pool buffers waiting to be echoed, linked through bufs[].next.
 */
struct conn {
	uint32_t gen;
	int32_t q_head, q_tail;	/* buffer ids, -1 when empty */
	uint16_t held;		/* buffers in the queue */
	uint8_t flags;
};

/* What we know of each pool buffer while user space owns it. */
struct buf {
	uint32_t len;		/* bytes received into it */
	uint32_t off;		/* bytes of it already sent */
	int32_t next;		/* next buffer in the owner's queue */
};

static struct io_uring ring;
static struct conn *conns;
static int nconns_max;

/* The pool and its ring. */
static struct io_uring_buf_ring *br;
static size_t br_bytes;
static char *pool;
static struct buf *bufs;
static unsigned nbufs = 256, bufsize = 4096, hold_cap;
static uint16_t br_tail;	/* our copy of the tail we last published */
static unsigned br_pending;	/* entries written since, not yet published */
static unsigned bufs_out;	/* buffers the kernel handed us, not yet back */

/* Connections that hit -ENOBUFS, as (generation, fd) keys. */
static uint64_t *starved;
static size_t nstarved, starved_cap;

static int listen_fd = -1, sig_fd = -1;
static struct signalfd_siginfo sig_info;
static int accept_paused, stopping;
/* Out of descriptors with no connection of ours to close: accept again
 * after this long, instead of at once (which would fail at once, a spin). */
static struct __kernel_timespec accept_retry = { .tv_nsec = 100 * 1000000 };
static unsigned nopen;

static struct {
	unsigned long accepted, closed, bytes, recvs, sends, short_sends,
		enobufs, rearms, pauses, accept_pauses, refused, stale;
} count;

static void usage(FILE *f)
{
	fprintf(f, "usage: %s [-p PORT] [-n BUFFERS] [-s BUFSIZE]\n"
		"  -p PORT     TCP port on 127.0.0.1, 0 picks a free one (default 0)\n"
		"  -n BUFFERS  buffers in the shared pool, a power of 2 up to 32768 (default 256)\n"
		"  -s BUFSIZE  bytes per buffer, 1 to 1048576 (default 4096)\n", PROG);
}

static long number(const char *s, const char *what, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		warnx("%s must be a number from %ld to %ld: %s", what, lo, hi, s);
		usage(stderr);
		exit(2);
	}
	return v;
}

/* ------------------------------------------------------------------ */
/* Submission helpers                                                 */

/* A full SQ is not an error: submit what is queued and take a fresh slot. */
static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	int ret;

	if (sqe)
		return sqe;
	ret = io_uring_submit(&ring);
	if (ret < 0)
		errx(1, "io_uring_submit: %s", strerror(-ret));
	sqe = io_uring_get_sqe(&ring);
	if (!sqe)
		errx(1, "io_uring_get_sqe: submission queue still full");
	return sqe;
}

static void arm_accept(void)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, pack(OP_ACCEPT, 0, listen_fd));
}

static void arm_accept_timer(void)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_timeout(sqe, &accept_retry, 0, 0);
	io_uring_sqe_set_data64(sqe, pack(OP_TIMER, 0, listen_fd));
}

/*
 * No buffer is passed: IOSQE_BUFFER_SELECT tells the kernel to pick one
 * from group BGID each time data arrives. Multishot keeps the request
 * armed: one SQE, one CQE per chunk of data, until it ends without
 * IORING_CQE_F_MORE.
 */
static void arm_recv(int fd)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, pack(OP_RECV, conns[fd].gen, fd));
	conns[fd].flags |= C_RECV;
}

/* Send what is left of the head of the queue. One send in flight per
 * connection keeps the echo in order. */
static void send_head(int fd)
{
	struct conn *c = &conns[fd];
	struct buf *b = &bufs[c->q_head];
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_send(sqe, fd, pool + (size_t)c->q_head * bufsize + b->off,
			   b->len - b->off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, pack(OP_SEND, c->gen, fd));
	c->flags |= C_SENDING;
	count.sends++;
}

static void cancel_recv(int fd)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_cancel64(sqe, pack(OP_RECV, conns[fd].gen, fd), 0);
	io_uring_sqe_set_data64(sqe, pack(OP_CANCEL, 0, fd));
}

/* ------------------------------------------------------------------ */
/* The buffer ring                                                    */

/*
 * The ring is an array of nbufs entries {addr, len, bid} in memory we own
 * and register. Two counters run around it, both free-running 16-bit
 * numbers reduced with mask = nbufs - 1 to find a slot:
 *   tail  we write: entries [head, tail) are free buffers for the kernel.
 *         It lives in the first entry's reserved field (br->tail).
 *   head  the kernel's, private to it (readable only since 6.8):
 *         it advances each time the kernel takes a buffer.
 * We put a buffer back by writing the slot at tail, then publishing a new
 * tail. Ids in the ring need not be in order: that is how a buffer
 * freed late can go back in behind ones freed early.
 */
static void buf_recycle(unsigned bid)
{
	struct io_uring_buf *e = &br->bufs[(uint16_t)(br_tail + br_pending) &
					   (nbufs - 1)];

	e->addr = (uint64_t)(uintptr_t)(pool + (size_t)bid * bufsize);
	e->len = bufsize;
	e->bid = (uint16_t)bid;
	br_pending++;
	bufs_out--;
}

static void buf_publish(void)
{
	if (!br_pending)
		return;
	br_tail = (uint16_t)(br_tail + br_pending);
	br_pending = 0;
	/* Release: the entries written above must be visible to the kernel
	 * before the tail that hands them over. The kernel reads the tail
	 * with an acquire load. */
	atomic_store_explicit((_Atomic uint16_t *)&br->tail, br_tail,
			      memory_order_release);
}

static void setup_buffers(void)
{
	struct io_uring_buf_reg reg;
	int ret;

	/* The ring must be page-aligned: mmap gives us that. */
	br_bytes = nbufs * sizeof(struct io_uring_buf);
	br = mmap(NULL, br_bytes, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pool = mmap(NULL, (size_t)nbufs * bufsize, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bufs = calloc(nbufs, sizeof(*bufs));
	if (br == MAP_FAILED || pool == MAP_FAILED || !bufs)
		err(1, "buffer pool of %u x %u bytes", nbufs, bufsize);

	reg = (struct io_uring_buf_reg){ .ring_addr = (uint64_t)(uintptr_t)br,
					 .ring_entries = nbufs, .bgid = BGID };
	ret = io_uring_register_buf_ring(&ring, &reg, 0);
	if (ret == -EINVAL || ret == -EOPNOTSUPP) {
		fprintf(stderr, "%s: provided buffer rings (IORING_REGISTER_PBUF_RING) "
			"need Linux 5.19: %s\n", PROG, strerror(-ret));
		exit(77);
	}
	if (ret < 0)
		errx(1, "io_uring_register_buf_ring: %s", strerror(-ret));

	br_tail = 0;		/* what io_uring_buf_ring_init does */
	bufs_out = nbufs;	/* all ours until recycled into the ring */
	for (unsigned bid = 0; bid < nbufs; bid++)
		buf_recycle(bid);
	buf_publish();
}

/* ------------------------------------------------------------------ */
/* Connections                                                        */

static void queue_push(struct conn *c, unsigned bid, unsigned len)
{
	bufs[bid] = (struct buf){ .len = len, .off = 0, .next = -1 };
	if (c->q_head < 0)
		c->q_head = (int32_t)bid;
	else
		bufs[c->q_tail].next = (int32_t)bid;
	c->q_tail = (int32_t)bid;
	c->held++;
}

static void queue_pop(struct conn *c)
{
	unsigned bid = (unsigned)c->q_head;

	c->q_head = bufs[bid].next;
	if (c->q_head < 0)
		c->q_tail = -1;
	c->held--;
	buf_recycle(bid);
}

/* Close only when no request of this connection is in flight: then no
 * CQE can arrive for it any more, and its buffers are ours to recycle. */
static void maybe_close(int fd)
{
	struct conn *c = &conns[fd];
	int done = (c->flags & C_CLOSING) ||
		   ((c->flags & C_EOF) && c->q_head < 0);

	if (!done || (c->flags & (C_RECV | C_SENDING)))
		return;
	while (c->q_head >= 0)
		queue_pop(c);
	close(fd);
	c->flags = 0;
	nopen--;
	count.closed++;
	if (accept_paused && !stopping) {	/* a descriptor is free again */
		accept_paused = 0;
		arm_accept();
	}
}

/* A broken connection: stop its recv; it closes once nothing is in
 * flight, and maybe_close hands its queued buffers back then. */
static void fail_conn(int fd)
{
	struct conn *c = &conns[fd];

	if (!(c->flags & C_CLOSING)) {
		c->flags |= C_CLOSING;
		/* shutdown wakes an armed recv, which then ends with res 0,
		 * and fails a send stuck on a full socket with EPIPE. */
		if (c->flags & (C_RECV | C_SENDING))
			shutdown(fd, SHUT_RDWR);
	}
	maybe_close(fd);
}

static void on_accept(struct io_uring_cqe *cqe)
{
	int fd = cqe->res, one = 1;

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		if (cqe->res == -EMFILE || cqe->res == -ENFILE) {
			accept_paused = 1;	/* re-armed by a close */
			count.accept_pauses++;
			if (nopen == 0)		/* none to close: by a timer */
				arm_accept_timer();
		}
		if (!accept_paused && !stopping)
			arm_accept();
	}
	if (fd < 0)
		return;
	if (fd >= nconns_max) {
		count.refused++;
		close(fd);
		return;
	}
	/* An echo can leave in two sends; without NODELAY the second waits
	 * for the peer's delayed ACK (40 ms). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conns[fd] = (struct conn){ .gen = (conns[fd].gen + 1) & 0xffffff,
				   .q_head = -1, .q_tail = -1, .flags = C_OPEN };
	nopen++;
	count.accepted++;
	arm_recv(fd);
}

static void starve(int fd)
{
	if (conns[fd].flags & C_STARVED)
		return;
	if (nstarved == starved_cap) {
		starved_cap = starved_cap ? starved_cap * 2 : 64;
		starved = realloc(starved, starved_cap * sizeof(*starved));
		if (!starved)
			err(1, "starved list");
	}
	starved[nstarved++] = pack(OP_RECV, conns[fd].gen, fd);
	conns[fd].flags |= C_STARVED;
}

/* The multishot recv of this connection ended (no IORING_CQE_F_MORE). */
static void recv_ended(int fd, int res)
{
	struct conn *c = &conns[fd];

	c->flags &= ~C_RECV;
	if (res == -ENOBUFS) {
		count.enobufs++;
		if (!(c->flags & (C_CLOSING | C_PAUSED)))
			starve(fd);	/* re-armed when buffers come back */
	} else if (res == 0) {
		c->flags |= C_EOF;	/* peer's FIN; may be a half-close */
	} else if (res < 0 && res != -ECANCELED) {
		fail_conn(fd);		/* ECONNRESET and friends */
		return;
	} else if (!(c->flags & (C_CLOSING | C_PAUSED))) {
		arm_recv(fd);	/* ended for its own reasons: re-arm */
	}
	maybe_close(fd);
}

static void on_recv(struct io_uring_cqe *cqe, int fd)
{
	struct conn *c = &conns[fd];

	count.recvs++;
	/* A buffer id exists only when the kernel says so. */
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		bufs_out++;
		if (cqe->res <= 0 || (c->flags & C_CLOSING)) {
			buf_recycle(bid);
		} else {
			queue_push(c, bid, (unsigned)cqe->res);
			if (!(c->flags & C_SENDING))
				send_head(fd);
		}
	}
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		recv_ended(fd, cqe->res);
		return;
	}
	/* A peer that stopped reading would pile the whole pool onto its
	 * queue and starve everyone else. Stop receiving from it until its
	 * queue drains. */
	if (c->held > hold_cap && !(c->flags & C_PAUSED)) {
		c->flags |= C_PAUSED;
		count.pauses++;
		cancel_recv(fd);
	}
}

static void on_send(struct io_uring_cqe *cqe, int fd)
{
	struct conn *c = &conns[fd];
	struct buf *b = &bufs[c->q_head];

	c->flags &= ~C_SENDING;
	if (cqe->res <= 0) {	/* EPIPE, ECONNRESET: the peer is gone */
		fail_conn(fd);
		return;
	}
	b->off += (unsigned)cqe->res;
	if (b->off < b->len) {		/* short send: continue from there */
		count.short_sends++;
		if (!(c->flags & C_CLOSING))
			send_head(fd);
		maybe_close(fd);
		return;
	}
	count.bytes += b->len;
	queue_pop(c);	/* the send is done: only now may the buffer go back */
	if (c->flags & C_CLOSING) {
		maybe_close(fd);
	} else if (c->q_head >= 0) {
		send_head(fd);
	} else {
		if ((c->flags & C_PAUSED) && !(c->flags & (C_RECV | C_EOF)))
			arm_recv(fd);
		c->flags &= ~C_PAUSED;
		maybe_close(fd);
	}
}

/*
 * Buffers came back (or some were free all along): re-arm every
 * connection -ENOBUFS starved, not only the one whose send freed them.
 * A connection with no send in flight would otherwise never hear again.
 */
static void rearm_starved(void)
{
	size_t n = nstarved;

	nstarved = 0;
	for (size_t i = 0; i < n; i++) {
		int fd = ud_fd(starved[i]);
		struct conn *c = &conns[fd];

		if (!(c->flags & C_OPEN) || c->gen != ud_gen(starved[i]))
			continue;	/* closed since */
		c->flags &= ~C_STARVED;
		if (!(c->flags & (C_RECV | C_CLOSING | C_EOF | C_PAUSED))) {
			count.rearms++;
			arm_recv(fd);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Set-up                                                             */

static void setup_ring(void)
{
	struct io_uring_params p;
	int ret;

	p = (struct io_uring_params){
		.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL |
			 IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		.cq_entries = CQ_ENTRIES };
	ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	if (ret == -EINVAL) {	/* kernel before 6.1: plain ring */
		p = (struct io_uring_params){ 0 };
		ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	}
	if (ret == -EPERM || ret == -ENOSYS) {
		fprintf(stderr, "%s: io_uring_setup: %s (io_uring is blocked: a "
			"container's seccomp profile, the kernel.io_uring_disabled "
			"sysctl, or a kernel older than 5.1)\n", PROG, strerror(-ret));
		exit(77);
	}
	if (ret < 0)
		errx(1, "io_uring_setup: %s", strerror(-ret));
	/* Optional (5.18): io_uring_enter then skips looking up the ring's
	 * fd on every call. Without it everything works the same. */
	io_uring_register_ring_fd(&ring);
}

static void require_ops(void)
{
	static const struct { int op; const char *name, *since; } need[] = {
		{ IORING_OP_ACCEPT, "IORING_OP_ACCEPT", "5.5" },
		{ IORING_OP_RECV, "IORING_OP_RECV", "5.6" },
		{ IORING_OP_SEND, "IORING_OP_SEND", "5.6" },
		{ IORING_OP_READ, "IORING_OP_READ", "5.6" },
		{ IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL", "5.5" },
	};
	struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);

	if (!probe) {
		fprintf(stderr, "%s: opcode probe (IORING_REGISTER_PROBE) needs Linux 5.6\n", PROG);
		exit(77);
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!io_uring_opcode_supported(probe, need[i].op)) {
			fprintf(stderr, "%s: %s needs Linux %s\n", PROG,
				need[i].name, need[i].since);
			io_uring_free_probe(probe);
			exit(77);
		}
	io_uring_free_probe(probe);
}

/*
 * Multishot recv has no probe bit: try it. Kernels before 6.0 reject the
 * IORING_RECV_MULTISHOT flag with -EINVAL. A socketpair with one byte
 * waiting gives an answer at once.
 */
static void probe_multishot_recv(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int sv[2], more;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		err(1, "socketpair");
	if (write(sv[1], "x", 1) != 1)
		err(1, "socketpair write");
	sqe = get_sqe();
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, pack(OP_PROBE, 0, sv[0]));
	close(sv[1]);	/* the byte, then EOF: the recv ends by itself */
	do {
		int ret = io_uring_submit_and_wait(&ring, 1);

		if (ret < 0)
			errx(1, "io_uring_submit_and_wait: %s", strerror(-ret));
		ret = io_uring_peek_cqe(&ring, &cqe);
		if (ret < 0)
			continue;
		if (cqe->res == -EINVAL) {
			fprintf(stderr, "%s: multishot recv (IORING_RECV_MULTISHOT) "
				"needs Linux 6.0\n", PROG);
			exit(77);
		}
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			bufs_out++;
			buf_recycle(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		}
		more = (cqe->flags & IORING_CQE_F_MORE) != 0;
		io_uring_cqe_seen(&ring, cqe);
	} while (more);
	buf_publish();
	close(sv[0]);
}

static void setup_listener(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof(sa);
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
		err(1, "socket");
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		err(1, "bind 127.0.0.1:%d", port);
	if (listen(listen_fd, 4096) < 0)
		err(1, "listen");
	if (getsockname(listen_fd, (struct sockaddr *)&sa, &len) < 0)
		err(1, "getsockname");
	printf("listening on 127.0.0.1:%d\n", ntohs(sa.sin_port));
	fflush(stdout);
}

/* SIGINT and SIGTERM arrive as a read on a signalfd, through the ring,
 * like any other completion. */
static void setup_signals(void)
{
	sigset_t set;
	struct io_uring_sqe *sqe;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		err(1, "sigprocmask");
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sig_fd < 0)
		err(1, "signalfd");
	sqe = get_sqe();
	io_uring_prep_read(sqe, sig_fd, &sig_info, sizeof(sig_info), 0);
	io_uring_sqe_set_data64(sqe, pack(OP_SIGNAL, 0, sig_fd));
}

/* The table is indexed by fd: size it to the descriptor limit, raised to
 * its hard maximum. calloc'd pages cost nothing until touched. */
static void setup_table(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_max > MAX_FDS)
			rl.rlim_max = MAX_FDS;
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	nconns_max = rl.rlim_cur > MAX_FDS ? MAX_FDS : (int)rl.rlim_cur;
	conns = calloc((size_t)nconns_max, sizeof(*conns));
	if (!conns)
		err(1, "connection table");
}

/* ------------------------------------------------------------------ */
/* The event loop                                                     */

static void handle(struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	int fd = ud_fd(ud);
	enum op op = ud_op(ud);

	switch (op) {
	case OP_ACCEPT:
		on_accept(cqe);
		return;
	case OP_SIGNAL:
		stopping = 1;
		return;
	case OP_TIMER:		/* -ETIME: time to try accept again */
		if (accept_paused && !stopping) {
			accept_paused = 0;
			arm_accept();
		}
		return;
	case OP_CANCEL:	/* its target's own CQE tells us what happened */
	case OP_PROBE:
		return;
	case OP_RECV:
	case OP_SEND:
		break;
	}
	if (!(conns[fd].flags & C_OPEN) || conns[fd].gen != ud_gen(ud)) {
		/* Not for the connection now in this slot. It still may carry
		 * a buffer, which must go back or the pool shrinks for good. */
		count.stale++;
		if (op == OP_RECV && (cqe->flags & IORING_CQE_F_BUFFER)) {
			bufs_out++;
			buf_recycle(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		}
		return;
	}
	if (op == OP_RECV)
		on_recv(cqe, fd);
	else
		on_send(cqe, fd);
}

static void run(void)
{
	struct io_uring_cqe *cqe;
	unsigned head;

	arm_accept();
	while (!stopping) {
		int ret = io_uring_submit_and_wait(&ring, 1);
		unsigned seen = 0;

		if (ret < 0 && ret != -EINTR)
			errx(1, "io_uring_submit_and_wait: %s", strerror(-ret));
		io_uring_for_each_cqe(&ring, head, cqe) {
			handle(cqe);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
		/* One release store hands back every buffer freed above. */
		buf_publish();
		if (nstarved && bufs_out < nbufs)
			rearm_starved();
	}
}

static void shut_down(void)
{
	for (int fd = 0; fd < nconns_max; fd++)
		if (conns[fd].flags & C_OPEN)
			close(fd);
	close(listen_fd);
	close(sig_fd);
	/* Tearing the ring down cancels what is still in flight; only then
	 * is it safe to unmap memory the kernel may be writing into. */
	io_uring_queue_exit(&ring);
	munmap(pool, (size_t)nbufs * bufsize);
	munmap(br, br_bytes);
	free(bufs);
	free(conns);
	free(starved);
	fprintf(stderr, "%s: accepted=%lu closed=%lu bytes=%lu recvs=%lu "
		"sends=%lu short_sends=%lu ENOBUFS=%lu rearms=%lu pauses=%lu "
		"accept_pauses=%lu refused=%lu stale=%lu\n", PROG, count.accepted,
		count.closed, count.bytes, count.recvs, count.sends,
		count.short_sends, count.enobufs, count.rearms, count.pauses,
		count.accept_pauses, count.refused, count.stale);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	int port = 0, opt;

	while ((opt = getopt_long(argc, argv, "p:n:s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': port = (int)number(optarg, "PORT", 0, 65535); break;
		case 'n': nbufs = (unsigned)number(optarg, "BUFFERS", 1, 32768); break;
		case 's': bufsize = (unsigned)number(optarg, "BUFSIZE", 1, 1 << 20); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (nbufs & (nbufs - 1)) {	/* the ring's mask needs it */
		warnx("BUFFERS must be a power of 2: %u", nbufs);
		usage(stderr);
		return 2;
	}
	/* A connection may hold a quarter of the pool before it is paused. */
	hold_cap = nbufs / 4 ? nbufs / 4 : 1;

	setup_table();
	setup_ring();
	require_ops();
	setup_buffers();
	probe_multishot_recv();
	setup_signals();
	setup_listener(port);
	run();
	shut_down();
	return 0;
}
