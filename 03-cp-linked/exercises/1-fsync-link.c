/*
 * 1-fsync-link: one chain, READ -> WRITE -> FSYNC, submitted at once.
 *
 * Copies a small file (up to 1 MiB) in a single chain and prints the result
 * of every link. The starter chains only READ -> WRITE.
 *
 * TODO(exercise): make the copy durable. Link an IORING_OP_FSYNC of DST
 * after the write, in the same chain and the same submission, so that it
 * runs only if the write did exactly what was asked, and print its result
 * like the others ("fsync: 0"). Do not call fsync(2) yourself.
 *
 * Usage:    1-fsync-link SRC DST
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o 1-fsync-link 1-fsync-link.c -luring
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX (1 << 20)

static const char *names[] = { "read", "write", "fsync" };

static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe)	/* a fresh ring of 4 entries has room for 3 */
		errx(1, "io_uring_get_sqe: submission queue full");
	return sqe;
}

int main(int argc, char **argv)
{
	struct io_uring ring;
	struct stat st;

	if (argc != 3) {
		fprintf(stderr, "Usage: %s SRC DST\n", argv[0]);
		return 2;
	}
	/* First, so that "no io_uring here" (exit 77) leaves nothing open. */
	int ret = io_uring_queue_init(4, &ring, 0);
	if (ret < 0) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
		return 77;
	}
	int src = open(argv[1], O_RDONLY);
	if (src == -1 || fstat(src, &st) == -1)
		err(1, "%s", argv[1]);
	int dst = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (dst == -1)
		err(1, "%s", argv[2]);
	size_t len = st.st_size > MAX ? MAX : (size_t)st.st_size;
	char *buf = malloc(MAX);
	if (!buf)
		err(1, "malloc");

	struct io_uring_sqe *sqe = get_sqe(&ring);
	io_uring_prep_read(sqe, src, buf, (unsigned)len, 0);
	io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
	io_uring_sqe_set_data64(sqe, 0);

	sqe = get_sqe(&ring);
	io_uring_prep_write(sqe, dst, buf, (unsigned)len, 0);
	io_uring_sqe_set_data64(sqe, 1);

	/* TODO(exercise): the FSYNC SQE, linked after the write
	 * (io_uring_prep_fsync(3), user data 2). */

	int n = 2;	/* SQEs in the chain: TODO(exercise) */
	ret = io_uring_submit_and_wait(&ring, (unsigned)n);
	if (ret < 0)
		errx(1, "io_uring_submit_and_wait: %s", strerror(-ret));
	for (int i = 0; i < n; i++) {
		struct io_uring_cqe *cqe;
		ret = io_uring_wait_cqe(&ring, &cqe);
		if (ret < 0)
			errx(1, "io_uring_wait_cqe: %s", strerror(-ret));
		const char *what = names[io_uring_cqe_get_data64(cqe)];
		if (cqe->res == -ECANCELED)
			printf("%s: -ECANCELED\n", what);
		else if (cqe->res < 0)
			printf("%s: %s\n", what, strerror(-cqe->res));
		else
			printf("%s: %d\n", what, cqe->res);
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	free(buf);
	close(src);
	close(dst);
	return 0;
}
