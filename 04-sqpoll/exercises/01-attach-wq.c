/*
 * Exercise 1: two SQPOLL rings, one poller thread.
 *
 * Every SQPOLL ring gets its own kernel poller thread (iou-sqp-PID), and
 * each one spins for sq_thread_idle ms after its last SQE: two rings, two
 * cores burned. IORING_SETUP_ATTACH_WQ with wq_fd = the first ring's fd
 * makes the second ring share the first one's poller (and io-wq) instead.
 * The program runs a NOP on each ring, then counts the poller threads of
 * this process in /proc/self/task.
 *
 * Task: make ring b attach to ring a's poller (see TODO(exercise)).
 * Check: exercises/check prints "PASS 01-attach-wq" when the program
 *        prints "poller threads: 1".
 * Build: cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -O2 -o 01-attach-wq 01-attach-wq.c -luring
 * Requires: Linux 5.12 (the poller is a thread of the process), liburing 2.0.
 */
#include <dirent.h>
#include <err.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void init_ring(struct io_uring *ring, struct io_uring_params *p, const char *name)
{
	int ret = io_uring_queue_init_params(8, ring, p);

	if (ret == -EPERM || ret == -ENOSYS)
		errx(77, "io_uring_setup (%s): %s: io_uring or SQPOLL is not allowed here",
		     name, strerror(-ret));
	if (ret < 0)
		errx(1, "io_uring_setup (%s): %s", name, strerror(-ret));
}

/* One NOP through the ring; io_uring_submit() wakes the poller if needed. */
static void nop(struct io_uring *ring, const char *name)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		errx(1, "%s: SQ ring full", name);
	io_uring_prep_nop(sqe);
	if ((ret = io_uring_submit(ring)) < 0)
		errx(1, "%s: io_uring_submit: %s", name, strerror(-ret));
	if ((ret = io_uring_wait_cqe(ring, &cqe)) < 0)
		errx(1, "%s: io_uring_wait_cqe: %s", name, strerror(-ret));
	if (cqe->res < 0)
		errx(1, "%s: NOP: %s", name, strerror(-cqe->res));
	io_uring_cqe_seen(ring, cqe);
	printf("ring %s: NOP done\n", name);
}

/* Poller threads name themselves iou-sqp-PID when they first run; after a
 * NOP went through each ring, every poller has run. */
static int count_pollers(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		err(1, "/proc/self/task");
	while ((e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "iou-sqp-", 8))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

int main(void)
{
	struct io_uring a, b;
	struct io_uring_params pa, pb;

	memset(&pa, 0, sizeof(pa));
	pa.flags = IORING_SETUP_SQPOLL;
	pa.sq_thread_idle = 100;
	init_ring(&a, &pa, "a");

	memset(&pb, 0, sizeof(pb));
	pb.flags = IORING_SETUP_SQPOLL;
	pb.sq_thread_idle = 100;
	/* TODO(exercise): make ring b share ring a's poller thread instead of
	 * starting its own: a setup flag, and the field of io_uring_params
	 * that tells the kernel which ring to attach to (io_uring_setup(2),
	 * IORING_SETUP_ATTACH_WQ). */
	init_ring(&b, &pb, "b");

	nop(&a, "a");
	nop(&b, "b");
	printf("poller threads: %d\n", count_pollers());
	io_uring_queue_exit(&b);
	io_uring_queue_exit(&a);
	return 0;
}
