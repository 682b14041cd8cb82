/*
 * Exercise 2: wake the poller, and count how often it has to be woken.
 *
 * An SQPOLL poller sleeps after sq_thread_idle ms without new SQEs and
 * sets IORING_SQ_NEED_WAKEUP; the next submission must then wake it with
 * io_uring_enter(IORING_ENTER_SQ_WAKEUP). This program does 10 rounds of
 * "submit a NOP, wait for it, pause PAUSE_MS" and prints how many wakeups
 * it needed: with IDLE_MS shorter than the pause, about one per round;
 * with IDLE_MS much longer, none (at most the first: a new poller sleeps
 * until its first wakeup), but the poller spins through every pause.
 *
 * Task: write the wakeup check in submit() (see TODO(exercise)):
 * liburing's io_uring_submit() does it for you; here you do it by hand.
 * Check: exercises/check runs it with IDLE_MS 1 (expects wakeups >= 3)
 *        and 5000 (expects wakeups <= 1).
 * Usage: 02-idle-wakeups IDLE_MS [PAUSE_MS]
 * Build: cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -O2 -o 02-idle-wakeups 02-idle-wakeups.c -luring
 * Requires: Linux 5.11 (IORING_FEAT_EXT_ARG for the wait timeout), liburing 2.3
 *           (publish() relies on the SQ index array it fills at setup).
 */
#include <err.h>
#include <errno.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static unsigned long wakeups;

/* Store the SQ tail (release: the SQE bytes before it are seen first). */
static void publish(struct io_uring *ring)
{
	struct io_uring_sq *sq = &ring->sq;

	sq->sqe_head = sq->sqe_tail;
	atomic_store_explicit((_Atomic unsigned *)sq->ktail, sq->sqe_tail,
			      memory_order_release);
}

static void submit(struct io_uring *ring)
{
	unsigned flags;

	publish(ring);
	/* The full fence orders the tail store above before the flags load
	 * below; without it the poller may go to sleep without seeing our
	 * tail while we read "awake", and the NOP waits forever. */
	atomic_thread_fence(memory_order_seq_cst);
	flags = atomic_load_explicit((_Atomic unsigned *)ring->sq.kflags,
				     memory_order_relaxed);
	if (flags & IORING_SQ_NEED_WAKEUP) {
		if (syscall(__NR_io_uring_enter, ring->ring_fd, 0, 0,
			    IORING_ENTER_SQ_WAKEUP, NULL, 0) < 0)
			err(1, "io_uring_enter");
		wakeups++;
	}
}

static void nop_round(struct io_uring *ring)
{
	struct __kernel_timespec two_s = { .tv_sec = 2 };
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		errx(1, "SQ ring full");
	io_uring_prep_nop(sqe);
	submit(ring);
	ret = io_uring_wait_cqe_timeout(ring, &cqe, &two_s);
	if (ret == -ETIME)
		errx(1, "no completion in 2 s: the poller sleeps and nobody woke it");
	if (ret < 0)
		errx(1, "io_uring_wait_cqe_timeout: %s", strerror(-ret));
	io_uring_cqe_seen(ring, cqe);
}

/* A whole number of milliseconds in 1..600000, or 0 if s is not one. */
static unsigned parse_ms(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return (*s && !*end && v > 0 && v <= 600000) ? (unsigned)v : 0;
}

int main(int argc, char **argv)
{
	struct io_uring ring;
	struct io_uring_params p;
	unsigned idle_ms = argc > 1 ? parse_ms(argv[1]) : 0;
	unsigned pause_ms = argc > 2 ? parse_ms(argv[2]) : 100;
	int ret;

	if (argc < 2 || argc > 3 || idle_ms == 0 || pause_ms == 0) {
		fprintf(stderr, "usage: 02-idle-wakeups IDLE_MS [PAUSE_MS]\n");
		return 2;
	}
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQPOLL;
	p.sq_thread_idle = idle_ms;
	ret = io_uring_queue_init_params(8, &ring, &p);
	if (ret == -EPERM || ret == -ENOSYS)
		errx(77, "io_uring_setup: %s: io_uring or SQPOLL is not allowed here",
		     strerror(-ret));
	if (ret < 0)
		errx(1, "io_uring_setup: %s", strerror(-ret));
	if (!(p.features & IORING_FEAT_EXT_ARG))
		errx(77, "IORING_FEAT_EXT_ARG missing (needs Linux 5.11)");

	for (int round = 0; round < 10; round++) {
		struct timespec ts = { pause_ms / 1000, (long)(pause_ms % 1000) * 1000000L };

		nop_round(&ring);
		nanosleep(&ts, NULL);
	}
	printf("sq_thread_idle %u ms, 10 rounds with %u ms pauses: wakeups: %lu\n",
	       p.sq_thread_idle, pause_ms, wakeups);
	io_uring_queue_exit(&ring);
	return 0;
}
