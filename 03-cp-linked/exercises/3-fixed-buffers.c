/*
 * 3-fixed-buffers: linked read->write pairs on registered buffers.
 *
 * A smaller cp-linked for regular files: DEPTH slots, each copies a block
 * with a READ linked to a WRITE, resubmits the rest after a short read and
 * continues a short write. The starter uses plain READ and WRITE, so the
 * kernel maps and pins the buffer pages on every request.
 *
 * TODO(exercise): register the slot buffers once with
 * io_uring_register_buffers(3) (buffer i is slot i's), and use
 * io_uring_prep_read_fixed/io_uring_prep_write_fixed with that index.
 * Registered buffers count against RLIMIT_MEMLOCK (ulimit -l).
 *
 * Usage:    3-fixed-buffers [-q DEPTH] [-b BLOCKSIZE] SRC DST
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o 3-fixed-buffers 3-fixed-buffers.c -luring
 * Leaves out: what cp-linked does for files that grow, shrink or are not
 *           regular files, and holes.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct slot {
	off_t off;
	size_t len, got, put, wfrom, rfrom;
	int inflight;
	bool busy;
};

static struct io_uring ring;
static int src, dst, inflight;
static unsigned depth = 16;
static size_t block = 128 * 1024;
static off_t size, next_off;
static struct slot *slots;
static struct iovec *iov;	/* one buffer per slot */

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe)	/* 2 SQEs per slot at most, the ring has 2 * depth */
		errx(1, "io_uring_get_sqe: submission queue full");
	inflight++;
	return sqe;
}

static void prep_read(struct slot *s, struct io_uring_sqe *sqe)
{
	unsigned i = (unsigned)(s - slots);
	char *buf = iov[i].iov_base;
	/* TODO(exercise): READ_FIXED on buffer i. */
	io_uring_prep_read(sqe, src, buf + s->rfrom, (unsigned)(s->len - s->rfrom),
			   (__u64)(s->off + (off_t)s->rfrom));
	io_uring_sqe_set_data64(sqe, (__u64)i << 1);
	s->inflight++;
}

static void prep_write(struct slot *s, struct io_uring_sqe *sqe, size_t end)
{
	unsigned i = (unsigned)(s - slots);
	char *buf = iov[i].iov_base;
	/* TODO(exercise): WRITE_FIXED on buffer i. */
	io_uring_prep_write(sqe, dst, buf + s->put, (unsigned)(end - s->put),
			    (__u64)(s->off + (off_t)s->put));
	io_uring_sqe_set_data64(sqe, (__u64)i << 1 | 1);
	s->wfrom = s->put;
	s->inflight++;
}

/* A slot with nothing in flight: its next SQEs, or its next block. */
static void step(struct slot *s)
{
	for (;;) {
		if (!s->busy) {
			if (next_off >= size)
				return;
			s->off = next_off;
			s->len = size - next_off < (off_t)block ? (size_t)(size - next_off) : block;
			s->got = s->put = 0;
			s->busy = true;
			next_off += (off_t)s->len;
		}
		if (s->got < s->len) {	/* read the rest, write all unwritten */
			struct io_uring_sqe *r = get_sqe(), *w = get_sqe();
			s->rfrom = s->got;
			prep_read(s, r);
			io_uring_sqe_set_flags(r, IOSQE_IO_LINK);
			prep_write(s, w, s->len);
			return;
		}
		if (s->put < s->len) {	/* after a cancelled or short write */
			prep_write(s, get_sqe(), s->len);
			return;
		}
		s->busy = false;
	}
}

static void on_cqe(struct io_uring_cqe *cqe)
{
	unsigned long ud = io_uring_cqe_get_data64(cqe);
	struct slot *s = &slots[ud >> 1];
	int res = cqe->res;

	inflight--;
	if (ud & 1) {
		if (res == -ECANCELED)
			;	/* its read came up short: never ran */
		else if (res <= 0)
			errx(1, "write: %s", strerror(res ? -res : EIO));
		else
			s->put = s->wfrom + (size_t)res;
	} else {
		if (res < 0)
			errx(1, "read: %s", strerror(-res));
		if (res == 0)
			errx(1, "read: the source shrank during the copy");
		s->got = s->rfrom + (size_t)res;
	}
	if (--s->inflight == 0)
		step(s);
}

int main(int argc, char **argv)
{
	struct stat st;
	int opt;

	while ((opt = getopt(argc, argv, "q:b:")) != -1) {
		if (opt == 'q')
			depth = (unsigned)strtoul(optarg, NULL, 10);
		else if (opt == 'b')
			block = strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (argc - optind != 2 || depth < 1 || depth > 1024 || block < 1 || block > (1 << 24)) {
		fprintf(stderr, "Usage: %s [-q DEPTH] [-b BLOCKSIZE] SRC DST\n", argv[0]);
		return 2;
	}
	int ret = io_uring_queue_init(2 * depth, &ring, 0);
	if (ret < 0) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
		return ret == -EPERM || ret == -ENOSYS ? 77 : 1;
	}
	src = open(argv[optind], O_RDONLY);
	if (src == -1 || fstat(src, &st) == -1)
		err(1, "%s", argv[optind]);
	if (!S_ISREG(st.st_mode))
		errx(1, "%s: not a regular file", argv[optind]);
	size = st.st_size;
	dst = open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (dst == -1)
		err(1, "%s", argv[optind + 1]);

	slots = calloc(depth, sizeof(*slots));
	iov = calloc(depth, sizeof(*iov));
	if (!slots || !iov)
		err(1, "calloc");
	for (unsigned i = 0; i < depth; i++) {
		iov[i].iov_len = block;
		iov[i].iov_base = malloc(block);
		if (!iov[i].iov_base)
			err(1, "malloc");
	}
	/* TODO(exercise): register the buffers (iov, depth). */

	for (unsigned i = 0; i < depth; i++)
		step(&slots[i]);
	while (inflight > 0) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		ret = io_uring_submit_and_wait(&ring, inflight > 1 ? (unsigned)inflight / 2 : 1);
		if (ret < 0 && ret != -EINTR)
			errx(1, "io_uring_submit_and_wait: %s", strerror(-ret));
		io_uring_for_each_cqe(&ring, head, cqe) {
			on_cqe(cqe);
			n++;
		}
		io_uring_cq_advance(&ring, n);
	}

	io_uring_queue_exit(&ring);
	for (unsigned i = 0; i < depth; i++)
		free(iov[i].iov_base);
	free(iov);
	free(slots);
	close(src);
	if (close(dst) == -1)
		err(1, "%s", argv[optind + 1]);
	return 0;
}
