/*
 * uring-opcodes: count the io_uring requests a program submits, by opcode,
 * without root. An LD_PRELOAD library that wraps liburing's submit calls
 * and reads the opcode of every SQE between the ring's sqe_head and
 * sqe_tail, the ones that call is about to hand to the kernel. At exit it
 * writes "OPCODE COUNT" lines (READ_FIXED 12, the kernel's names) to the
 * file named by $URING_OPCODES_OUT, as exercise-lib.bash's ex_opcodes does
 * from the io_uring_submit_req tracepoint when it runs as root. SQEs that
 * carry IOSQE_ASYNC are counted a second time under "OPCODE+ASYNC".
 *
 * Build:    cc -shared -fPIC -O2 -o uring-opcodes.so uring-opcodes.c -ldl
 * Use:      URING_OPCODES_OUT=ops LD_PRELOAD=./uring-opcodes.so PROG ARGS
 * Limits:   only a program linked against the shared liburing (a static
 *           liburing.a is out of reach of LD_PRELOAD), only SQEs submitted
 *           through io_uring_submit*(), not an SQPOLL thread's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>

enum { MAX_OP = 256 };

static unsigned long counts[MAX_OP], async_counts[MAX_OP];

/* The kernel's names (io_uring/opdef.c), for the opcodes these lessons use. */
static const char *op_name(unsigned op)
{
	static char other[16];

	switch (op) {
	case IORING_OP_NOP: return "NOP";
	case IORING_OP_READV: return "READV";
	case IORING_OP_WRITEV: return "WRITEV";
	case IORING_OP_FSYNC: return "FSYNC";
	case IORING_OP_READ_FIXED: return "READ_FIXED";
	case IORING_OP_WRITE_FIXED: return "WRITE_FIXED";
	case IORING_OP_POLL_ADD: return "POLL_ADD";
	case IORING_OP_POLL_REMOVE: return "POLL_REMOVE";
	case IORING_OP_TIMEOUT: return "TIMEOUT";
	case IORING_OP_ACCEPT: return "ACCEPT";
	case IORING_OP_ASYNC_CANCEL: return "ASYNC_CANCEL";
	case IORING_OP_LINK_TIMEOUT: return "LINK_TIMEOUT";
	case IORING_OP_CLOSE: return "CLOSE";
	case IORING_OP_READ: return "READ";
	case IORING_OP_WRITE: return "WRITE";
	case IORING_OP_SEND: return "SEND";
	case IORING_OP_RECV: return "RECV";
	case IORING_OP_SPLICE: return "SPLICE";
	default:
		snprintf(other, sizeof(other), "OP%u", op);
		return other;
	}
}

static void write_counts(void)
{
	const char *path = getenv("URING_OPCODES_OUT");
	FILE *f;

	if (!path || !(f = fopen(path, "w")))
		return;
	for (unsigned op = 0; op < MAX_OP; op++)
		if (counts[op])
			fprintf(f, "%s %lu\n", op_name(op), counts[op]);
	for (unsigned op = 0; op < MAX_OP; op++)
		if (async_counts[op])
			fprintf(f, "%s+ASYNC %lu\n", op_name(op), async_counts[op]);
	fclose(f);
}

/* Count the SQEs queued since the last submit: the ones about to go. */
static void count_queued(struct io_uring *ring)
{
	static int registered;
	unsigned mask = ring->sq.ring_mask;

	if (!registered++)
		atexit(write_counts);
	for (unsigned i = ring->sq.sqe_head; i != ring->sq.sqe_tail; i++) {
		const struct io_uring_sqe *sqe = &ring->sq.sqes[i & mask];
		counts[sqe->opcode % MAX_OP]++;
		if (sqe->flags & IOSQE_ASYNC)
			async_counts[sqe->opcode % MAX_OP]++;
	}
}

/* real(NAME): liburing's own function of that name. */
#define real(name) ((__typeof__(&(name)))dlsym(RTLD_NEXT, #name))

int io_uring_submit(struct io_uring *ring)
{
	count_queued(ring);
	return real(io_uring_submit)(ring);
}

int io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr)
{
	count_queued(ring);
	return real(io_uring_submit_and_wait)(ring, wait_nr);
}

int io_uring_submit_and_wait_timeout(struct io_uring *ring,
				     struct io_uring_cqe **cqe_ptr,
				     unsigned wait_nr, struct __kernel_timespec *ts,
				     sigset_t *sigmask)
{
	count_queued(ring);
	return real(io_uring_submit_and_wait_timeout)(ring, cqe_ptr, wait_nr, ts, sigmask);
}
