/*
 * 2-hardlink: READ -> WRITE hard-linked, and what that does to a copy.
 *
 * The buffer is filled with '#' first, then one chain reads SRC (asking for
 * its st_size, up to 1 MiB) and writes the same length to DST. With
 * IOSQE_IO_HARDLINK the write runs even when the read comes up short, so
 * DST gets the bytes read followed by '#'s that were never read.
 *
 * Usage:    2-hardlink SRC DST
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o 2-hardlink 2-hardlink.c -luring
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

static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe)	/* a fresh ring of 4 entries has room for 2 */
		errx(1, "io_uring_get_sqe: submission queue full");
	return sqe;
}

int main(int argc, char **argv)
{
	struct io_uring ring;
	struct stat st;
	int res[2] = { 0, 0 };

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
	memset(buf, '#', MAX);	/* stale bytes, made visible */

	struct io_uring_sqe *sqe = get_sqe(&ring);
	io_uring_prep_read(sqe, src, buf, (unsigned)len, 0);
	/* A hard link keeps the order but not the condition: the write runs
	 * whatever the read returned. */
	io_uring_sqe_set_flags(sqe, IOSQE_IO_HARDLINK);
	io_uring_sqe_set_data64(sqe, 0);

	sqe = get_sqe(&ring);
	io_uring_prep_write(sqe, dst, buf, (unsigned)len, 0);
	io_uring_sqe_set_data64(sqe, 1);

	ret = io_uring_submit_and_wait(&ring, 2);
	if (ret < 0)
		errx(1, "io_uring_submit_and_wait: %s", strerror(-ret));
	for (int i = 0; i < 2; i++) {
		struct io_uring_cqe *cqe;
		ret = io_uring_wait_cqe(&ring, &cqe);
		if (ret < 0)
			errx(1, "io_uring_wait_cqe: %s", strerror(-ret));
		res[io_uring_cqe_get_data64(cqe)] = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	printf("read: %d of %zu\n", res[0], len);
	if (res[1] == -ECANCELED)
		printf("write: -ECANCELED\n");
	else
		printf("write: %d\n", res[1]);
	if (res[0] >= 0 && res[1] > res[0])
		printf("the write ran after a short read: %d of its bytes were never read\n",
		       res[1] - res[0]);
	io_uring_queue_exit(&ring);
	free(buf);
	close(src);
	close(dst);
	return 0;
}
