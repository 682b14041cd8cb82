/*
 * Exercise 02-read-op: from READV to READ.
 *
 * raw-cat reads with IORING_OP_READV, which takes an array of iovecs and
 * exists since Linux 5.1. Linux 5.6 added IORING_OP_READ, which takes a
 * plain buffer: sqe->addr is the buffer, sqe->len its size in bytes (not a
 * count of iovecs), sqe->off where in the file to read. This program
 * prints one file with READ, one chunk at a time.
 *
 * It borrows raw-cat.c's ring functions by including it.
 *
 * Build:  cc -std=gnu11 -Wall -O2 -I.. -o read-op 02-read-op.c
 * Goal:   ./read-op FILE   prints FILE exactly, like cat, in reads of up to
 *         CHUNK bytes, and says on stderr how many READs that took
 * Check:  exercises/check 02-read-op
 */
#define main raw_cat_main
#include "raw-cat.c"
#undef main

/* Queue one read of up to len bytes of fd, at offset, into buf. */
static void queue_read(struct ring *r, int fd, char *buf, unsigned len,
		       __u64 offset)
{
	struct io_uring_sqe *sqe = get_sqe(r);

	/* TODO(exercise): this SQE is all zeroes, which is a NOP. Make it an
	 * IORING_OP_READ of fd into buf, len bytes at offset, user_data 0. */
	(void)sqe; (void)fd; (void)buf; (void)len; (void)offset;
}

int main(int argc, char **argv)
{
	struct ring r;
	__u64 offset = 0;
	unsigned long reads = 0;
	int status = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: read-op FILE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "read-op: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	int ret = ring_open(&r, QUEUE_DEPTH);
	if (ret != 0) {
		close(fd);
		return ret;
	}
	out_begin();
	for (;;) {
		queue_read(&r, fd, buffers[0], CHUNK, offset);
		reads++;
		if (submit_and_wait(&r, 1) < 0) {
			status = 1;
			break;
		}
		reap(&r);
		int res = r.res[0];
		if (res < 0) {
			fprintf(stderr, "read-op: %s: %s\n", argv[1], strerror(-res));
			status = 1;
			break;
		}
		if (res == 0)
			break;            /* the end of the file */
		struct iovec iov = { .iov_base = buffers[0], .iov_len = (size_t)res };
		int err = write_out(&r, &iov, 1);
		if (err < 0) {
			fprintf(stderr, "read-op: write to stdout: %s\n", strerror(-err));
			status = 1;
			break;
		}
		offset += (__u64)res;
	}
	out_end();
	fprintf(stderr, "read-op: %lu READs, %llu bytes\n", reads, opt.bytes_out);
	ring_close(&r);
	close(fd);
	return status;
}
