/*
 * raw-cat: print files to stdout through io_uring, with no library at all.
 *
 * The whole of io_uring's user-space side in one file: io_uring_setup
 * creates the rings, three mmap calls (two since Linux 5.4) make them
 * visible, and io_uring_enter hands the kernel a batch of reads and waits
 * for their completions. Every index shared with the kernel is read with an
 * acquire load or written with a release store, and each one says what it
 * orders. This is what liburing does for you in lesson 02.
 *
 * Usage:    raw-cat [--trace] [--stats] [--separate-mmaps] [--own-offsets] FILE...
 *           (FILE "-" is standard input)
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o raw-cat raw-cat.c
 * Requires: Linux 5.1 (READV, WRITEV); 5.4 maps both rings at once
 *           (IORING_FEAT_SINGLE_MMAP); 5.6 writes stdout at its own position
 *           (IORING_FEAT_RW_CUR_POS), so output shared with other writers
 *           lands where write(2) would put it. Older kernels take the older
 *           path by themselves; --separate-mmaps and --own-offsets force it.
 *           No liburing, only the kernel's <linux/io_uring.h>.
 * Leaves out: waiting for a non-blocking descriptor to be ready: a CQE of
 *           -EAGAIN is simply tried again at once (lesson 02 polls first);
 *           linked requests (03), SQPOLL (04). Opening files uses plain
 *           open(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/io_uring.h>

#define QUEUE_DEPTH 8           /* reads in flight at once */
#define CHUNK (32 * 1024)       /* bytes per read */
#define WRITE_TAG QUEUE_DEPTH   /* user_data of the write; read i uses i */

static const char *prog = "raw-cat";

/* ---- The raw system calls. Named sys_* so they never clash with the
 * io_uring_setup/io_uring_enter that liburing 2.3+ declares. ---- */

static int sys_io_uring_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_io_uring_enter(int fd, unsigned to_submit, unsigned min_complete,
			      unsigned flags)
{
	return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete,
			    flags, NULL, 0);
}

/* ---- The ring as user space sees it: pointers into the shared mappings.
 *
 *   index      written by   read by    ordering used here
 *   SQ tail    us           kernel     release store (publishes the SQEs)
 *   SQ head    kernel       us         acquire load  (slots it has consumed)
 *   CQ tail    kernel       us         acquire load  (CQEs it has posted)
 *   CQ head    us           kernel     release store (slots we have read)
 */
struct ring {
	int fd;
	/* submission queue */
	_Atomic unsigned *sq_head, *sq_tail;
	unsigned *sq_array, sq_mask, sq_entries;
	struct io_uring_sqe *sqes;
	unsigned sq_local_tail;   /* SQEs we have filled; the kernel sees them at release */
	/* completion queue */
	_Atomic unsigned *cq_head, *cq_tail;
	struct io_uring_cqe *cqes;
	unsigned cq_mask, cq_entries;
	/* the mappings, for munmap */
	void *sq_map, *cq_map, *sqe_map;
	size_t sq_map_len, cq_map_len, sqe_map_len;
	/* reap() files each CQE's res here, by its user_data */
	int res[QUEUE_DEPTH + 1];
	/* what the run did, for --stats and --trace */
	unsigned long enters, sqes_submitted, cqes_seen;
	bool trace;
	/* errno of a failed io_uring_enter: the ring is then out of use */
	int enter_err;
};

static struct {
	bool trace, stats, separate_mmaps, own_offsets;
	unsigned long long bytes_out;
	int files;
} opt;

/* ---- Setting up: io_uring_setup, then map what it describes. ---- */

/* Turn an io_uring_setup failure into what a reader can do about it. */
static int explain_setup_failure(int errnum)
{
	const char *why = "";
	int exit_code = 1;

	if (errnum == EPERM) {
		FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
		int disabled = 0;
		if (f) {
			if (fscanf(f, "%d", &disabled) != 1)
				disabled = 0;
			fclose(f);
		}
		why = disabled ? "the sysctl kernel.io_uring_disabled is set (Linux 6.6+)"
			       : "probably a seccomp filter, e.g. a container's default profile"
				 " (Docker blocks io_uring since moby #46762), or the"
				 " kernel.io_uring_disabled sysctl";
		exit_code = 77;
	} else if (errnum == ENOSYS) {
		why = "this kernel has no io_uring (Linux 5.1+, CONFIG_IO_URING) or a"
		      " sandbox such as gVisor hides it";
		exit_code = 77;
	} else if (errnum == ENOMEM) {
		why = "before Linux 5.12 rings count against the locked-memory limit:"
		      " raise it (ulimit -l)";
	}
	fprintf(stderr, "%s: io_uring_setup: %s%s%s\n", prog, strerror(errnum),
		*why ? ": " : "", why);
	return exit_code;
}

static void *map_region(int fd, size_t len, off_t what)
{
	/* MAP_POPULATE: fault the ring in now, not at the first access. */
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       fd, what);
	return p == MAP_FAILED ? NULL : p;
}

/*
 * Three regions, at three magic offsets of the ring's fd:
 *   IORING_OFF_SQ_RING  head, tail, mask, flags ... and the SQ index array
 *   IORING_OFF_CQ_RING  head, tail, mask ... and the CQEs themselves
 *   IORING_OFF_SQES     the array of SQEs the SQ index array points into
 * Since 5.4 (IORING_FEAT_SINGLE_MMAP) the first two share one mapping.
 */
static int map_rings(struct ring *r, const struct io_uring_params *p)
{
	bool single = (p->features & IORING_FEAT_SINGLE_MMAP) && !opt.separate_mmaps;

	r->sq_map_len = p->sq_off.array + p->sq_entries * sizeof(unsigned);
	r->cq_map_len = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	if (single && r->cq_map_len > r->sq_map_len)
		r->sq_map_len = r->cq_map_len;
	r->sqe_map_len = p->sq_entries * sizeof(struct io_uring_sqe);
	r->sq_map = map_region(r->fd, r->sq_map_len, IORING_OFF_SQ_RING);
	if (single) {
		r->cq_map = r->sq_map;
		r->cq_map_len = 0;        /* nothing extra to unmap */
	} else if (r->sq_map) {
		r->cq_map = map_region(r->fd, r->cq_map_len, IORING_OFF_CQ_RING);
	}
	if (r->sq_map && r->cq_map)
		r->sqe_map = map_region(r->fd, r->sqe_map_len, IORING_OFF_SQES);
	if (!r->sqe_map)
		return -1;                /* the caller unmaps what was mapped */

	char *sq = r->sq_map, *cq = r->cq_map;
	r->sq_head = (_Atomic unsigned *)(sq + p->sq_off.head);
	r->sq_tail = (_Atomic unsigned *)(sq + p->sq_off.tail);
	r->sq_mask = *(unsigned *)(sq + p->sq_off.ring_mask);
	r->sq_entries = *(unsigned *)(sq + p->sq_off.ring_entries);
	r->sq_array = (unsigned *)(sq + p->sq_off.array);
	r->sqes = r->sqe_map;
	r->cq_head = (_Atomic unsigned *)(cq + p->cq_off.head);
	r->cq_tail = (_Atomic unsigned *)(cq + p->cq_off.tail);
	r->cq_mask = *(unsigned *)(cq + p->cq_off.ring_mask);
	r->cq_entries = *(unsigned *)(cq + p->cq_off.ring_entries);
	r->cqes = (struct io_uring_cqe *)(cq + p->cq_off.cqes);
	/* Nobody else touches our tail, so it starts from the shared value. */
	r->sq_local_tail = atomic_load_explicit(r->sq_tail, memory_order_relaxed);
	return 0;
}

/* Also releases a half-made ring: what map_rings() did not map is NULL. */
static void ring_close(struct ring *r)
{
	if (r->sqe_map)
		munmap(r->sqe_map, r->sqe_map_len);
	if (r->cq_map && r->cq_map_len)
		munmap(r->cq_map, r->cq_map_len);
	if (r->sq_map)
		munmap(r->sq_map, r->sq_map_len);
	close(r->fd);
}

/* Returns 0, or the exit code to leave with. */
static int ring_open(struct ring *r, unsigned entries)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	memset(r, 0, sizeof(*r));
	r->fd = sys_io_uring_setup(entries, &p);
	if (r->fd < 0)
		return explain_setup_failure(errno);
	/* Before 5.6 offset -1 is an invalid offset, not "the position". */
	if (!(p.features & IORING_FEAT_RW_CUR_POS))
		opt.own_offsets = true;
	if (map_rings(r, &p) < 0) {
		int err = errno;

		ring_close(r);
		fprintf(stderr, "%s: mmap of the rings: %s\n", prog, strerror(err));
		return 1;
	}
	r->trace = opt.trace;
	return 0;
}

/* ---- --trace: draw both rings so a student can watch them move. ---- */

static void draw_ring(const char *name, unsigned head, unsigned tail,
		      unsigned mask, unsigned entries, const char *meaning)
{
	char slots[entries + 1];

	/* A slot is busy ('#') when it lies in [head, tail) modulo the ring. */
	for (unsigned i = 0; i < entries; i++)
		slots[i] = (i - (head & mask)) % entries < tail - head ? '#' : '.';
	slots[entries] = '\0';
	fprintf(stderr, "    %s head %6u  tail %6u  mask %2u  [%s] %u %s\n",
		name, head, tail, mask, slots, tail - head, meaning);
}

static void trace_rings(const struct ring *r, const char *step)
{
	if (!r->trace)
		return;
	unsigned sq_head = atomic_load_explicit(r->sq_head, memory_order_acquire);
	unsigned cq_head = atomic_load_explicit(r->cq_head, memory_order_relaxed);
	unsigned cq_tail = atomic_load_explicit(r->cq_tail, memory_order_acquire);

	fprintf(stderr, "%s: %s\n", prog, step);
	draw_ring("SQ", sq_head, r->sq_local_tail, r->sq_mask, r->sq_entries,
		  "queued for the kernel");
	draw_ring("CQ", cq_head, cq_tail, r->cq_mask, r->cq_entries,
		  "completed, not yet read");
}

/* ---- Submitting: fill an SQE, then publish it with the SQ tail. ---- */

static struct io_uring_sqe *get_sqe(struct ring *r)
{
	/* Acquire: the kernel is done reading the SQEs before the head it shows. */
	unsigned head = atomic_load_explicit(r->sq_head, memory_order_acquire);

	if (r->sq_local_tail - head >= r->sq_entries)
		return NULL;      /* full: the caller submits first */
	unsigned idx = r->sq_local_tail & r->sq_mask;
	struct io_uring_sqe *sqe = &r->sqes[idx];

	/* A reused SQE keeps old fields the kernel would act on: clear it. */
	memset(sqe, 0, sizeof(*sqe));
	r->sq_array[idx] = idx;
	r->sq_local_tail++;
	return sqe;
}

static void queue_rw(struct ring *r, int opcode, int fd, struct iovec *iov,
		     unsigned nr_iovs, __u64 offset, __u64 user_data)
{
	struct io_uring_sqe *sqe = get_sqe(r);

	/* Callers never queue more than the ring holds between enters. */
	if (!sqe)
		abort();
	sqe->opcode = opcode;
	sqe->fd = fd;
	sqe->addr = (unsigned long)iov;
	sqe->len = nr_iovs;       /* for READV/WRITEV, len counts iovecs */
	sqe->off = offset;
	sqe->user_data = user_data;
}

/*
 * Publish every queued SQE and wait until at least `want` CQEs are ready.
 * Release on the tail: the SQE contents and the array slots written above
 * become visible to the kernel no later than the new tail does.
 */
static int submit_and_wait(struct ring *r, unsigned want)
{
	atomic_store_explicit(r->sq_tail, r->sq_local_tail, memory_order_release);
	trace_rings(r, "queued SQEs, calling io_uring_enter");
	for (;;) {
		/* What the kernel has not consumed yet. io_uring_enter returns how
		 * many SQEs it consumed, and that can be fewer than we passed (a
		 * short submit, e.g. when it cannot allocate a request); the SQ
		 * head says exactly where it stopped. EINTR comes back only when
		 * it consumed none, while waiting (io_uring_enter(2)). */
		unsigned pending = r->sq_local_tail -
			atomic_load_explicit(r->sq_head, memory_order_acquire);
		unsigned ready = atomic_load_explicit(r->cq_tail, memory_order_acquire) -
			atomic_load_explicit(r->cq_head, memory_order_relaxed);

		if (pending == 0 && ready >= want)
			break;
		r->enters++;
		int ret = sys_io_uring_enter(r->fd, pending, want,
					     IORING_ENTER_GETEVENTS);
		if (ret < 0 && errno != EINTR) {
			/* EAGAIN, EBUSY, ...: the SQEs the kernel did not take are
			 * still queued, pointing at buffers and at a file we are
			 * about to close. Nothing more may go through this ring. */
			r->enter_err = errno;
			return -errno;
		}
		if (ret > 0)
			r->sqes_submitted += ret;
	}
	trace_rings(r, "io_uring_enter returned");
	return 0;
}

/*
 * Take every ready CQE: its res goes to r->res[user_data]. The CQE is read
 * before the head moves past it; the release store of the head then tells
 * the kernel the slot is free to overwrite.
 */
static void reap(struct ring *r)
{
	unsigned head = atomic_load_explicit(r->cq_head, memory_order_relaxed);
	/* Acquire: the CQE contents are visible once the tail that covers them is. */
	unsigned tail = atomic_load_explicit(r->cq_tail, memory_order_acquire);

	for (; head != tail; head++) {
		const struct io_uring_cqe *cqe = &r->cqes[head & r->cq_mask];

		if (cqe->user_data <= WRITE_TAG)
			r->res[cqe->user_data] = cqe->res;
		r->cqes_seen++;
	}
	/* Release: our reads of the CQEs above complete before the kernel
	 * may see the slots as free and reuse them. */
	atomic_store_explicit(r->cq_head, head, memory_order_release);
	trace_rings(r, "CQEs read, CQ head released");
}

/* ---- The job: read a file in batches, write it out in order. ---- */

static char buffers[QUEUE_DEPTH][CHUNK];

/*
 * Where the next write goes. Like write(2), raw-cat writes stdout at its
 * file position: offset -1 (IORING_FEAT_RW_CUR_POS, Linux 5.6), one write
 * in flight at a time, so the kernel moves the position after each write
 * and whoever else writes to the same open file (our own stderr in
 * ">log 2>&1", the next command in "{ raw-cat a; echo b; } >log") lands
 * after us, as with cat. Before 5.6, or with --own-offsets, a regular file
 * is written at offsets raw-cat counts itself and its position is set once
 * at the end: the older way, which loses whatever stderr wrote meanwhile.
 * Files that are not regular, or open with O_APPEND, take no offset at all
 * (0 is what the kernel expects there, io_uring_enter(2)).
 */
static struct {
	bool at_position;   /* offset -1: the kernel moves stdout's position */
	bool positioned;    /* a regular file, not O_APPEND: the position matters */
	off_t pos;          /* where the next write goes, when positioned */
} out;

static void out_begin(void)
{
	struct stat st;
	int flags = fcntl(STDOUT_FILENO, F_GETFL);

	out.at_position = !opt.own_offsets;
	out.positioned = fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) &&
			 flags >= 0 && !(flags & O_APPEND);
	out.pos = out.positioned ? lseek(STDOUT_FILENO, 0, SEEK_CUR) : -1;
	out.positioned = out.pos >= 0;
}

/* We just reported an error on stderr, which may be the same open file as
 * stdout (">log 2>&1"): where our next write at -1 lands moved with it. */
static void out_after_stderr(void)
{
	if (out.positioned && out.at_position)
		out.pos = lseek(STDOUT_FILENO, 0, SEEK_CUR);
}

static __u64 out_offset(void)
{
	if (out.at_position)
		return (__u64)-1;
	return out.positioned ? (__u64)out.pos : 0;
}

/*
 * A kernel bug, seen on Linux 6.18 (io_uring/rw.c): a write at offset -1
 * that the kernel cuts short (a partial write, then an error such as EFBIG
 * under "ulimit -f" or ENOSPC when it retries the rest from a worker)
 * reports the bytes it wrote but leaves the file position where the write
 * began, because kiocb_done() only stores the new position when the last
 * attempt succeeded (since kernel commit 1939316bf988, also in the 6.1 and
 * 6.5 stable series). Writing the rest at -1 would then overwrite them. So,
 * only after a short write: if the position is exactly where the write
 * began (out.pos: counted from our own writes, asked again after each error
 * line), move it past the bytes written. When something else wrote in
 * between (--trace lines on a shared stderr, another program), out.pos is
 * stale, the position does not match it, and nothing is moved.
 */
static void out_after_short_write(int written)
{
	if (!out.positioned || !out.at_position)
		return;
	off_t now = lseek(STDOUT_FILENO, 0, SEEK_CUR);
	if (now == out.pos)
		lseek(STDOUT_FILENO, out.pos + written, SEEK_SET);
}

static void out_end(void)
{
	if (out.positioned && !out.at_position)
		lseek(STDOUT_FILENO, out.pos, SEEK_SET);
}

/*
 * Write the iovecs to stdout, one WRITEV per io_uring_enter, continuing a
 * short write from the exact byte where it stopped.
 */
static int write_out(struct ring *r, struct iovec *iov, unsigned cnt)
{
	while (cnt > 0) {
		size_t asked = 0;
		for (unsigned i = 0; i < cnt; i++)
			asked += iov[i].iov_len;
		queue_rw(r, IORING_OP_WRITEV, STDOUT_FILENO, iov, cnt,
			 out_offset(), WRITE_TAG);
		int ret = submit_and_wait(r, 1);
		if (ret < 0)
			return ret;
		reap(r);
		int res = r->res[WRITE_TAG];
		if (res == -EINTR || res == -EAGAIN)
			continue;
		if (res < 0)
			return res;
		/* 0 bytes for a non-empty write would repeat for ever: fail as
		 * cat does (coreutils' full_write calls it ENOSPC). */
		if (res == 0)
			return -ENOSPC;
		if ((size_t)res < asked)
			out_after_short_write(res);
		if (out.positioned)
			out.pos += res;
		opt.bytes_out += res;
		/* Skip the iovecs that went out whole, trim the one cut short. */
		size_t done = (size_t)res;
		while (cnt > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
}

/*
 * One batch: up to QUEUE_DEPTH reads of consecutive chunks in one
 * io_uring_enter, then one WRITEV of their data, in file order, in the
 * next. Returns the bytes the batch moved, or -errno; *eof is set when a
 * read returned 0. A short read ends the batch early: the next batch starts
 * exactly where it stopped, so a read beyond a short one is discarded
 * rather than trusted.
 */
static long long read_batch(struct ring *r, int fd, off_t offset, bool seekable,
			    unsigned n, bool *eof, int *write_err)
{
	struct iovec iovs[QUEUE_DEPTH];
	unsigned ready = 0;                         /* chunks to write, in order */
	long long moved = 0;
	int read_err = 0;

	for (unsigned i = 0; i < n; i++) {
		iovs[i] = (struct iovec){ .iov_base = buffers[i], .iov_len = CHUNK };
		queue_rw(r, IORING_OP_READV, fd, &iovs[i], 1,
			 seekable ? (__u64)(offset + (off_t)i * CHUNK) : 0, i);
	}
	int ret = submit_and_wait(r, n);
	if (ret < 0)
		return ret;
	reap(r);

	for (unsigned i = 0; i < n; i++) {
		int res = r->res[i];
		if (res == 0)
			*eof = true;      /* only a read of 0 bytes means end of file:
					   * st_size is not trusted (/proc says 0) */
		else if (res < 0 && res != -EINTR && res != -EAGAIN)
			read_err = res;
		if (res <= 0)
			break;            /* EINTR/EAGAIN: the next batch retries here */
		iovs[ready++].iov_len = (size_t)res;
		moved += res;
		if (res < CHUNK)
			break;            /* a short read: continue from here */
	}
	if (ready > 0)
		*write_err = write_out(r, iovs, ready);
	/* An error after some data: write the data, report it next batch. */
	return moved > 0 ? moved : read_err;
}

/* Print one file. Returns 0, or -errno of a read error (write errors
 * come back through *write_err and end the program). A seekable file is
 * read at offsets from its position; stdin's position is then left where
 * the reading stopped, as read(2) leaves it: "raw-cat - -" prints a file
 * on stdin once, as "cat - -" does, and "{ raw-cat -; cat; } <file" goes
 * on after it. */
static int cat_fd(struct ring *r, int fd, int *write_err)
{
	off_t offset = lseek(fd, 0, SEEK_CUR);
	bool seekable = offset >= 0;
	bool saw_eof = false;
	/* A pipe has no offsets: one read at a time, at offset 0, which a
	 * file that cannot seek ignores (no need for -1 and Linux 5.6). */
	unsigned batch = seekable ? QUEUE_DEPTH : 1;
	long long moved = 0;

	if (!seekable)
		offset = 0;
	while (!saw_eof) {
		moved = read_batch(r, fd, offset, seekable, batch, &saw_eof,
				   write_err);
		if (*write_err < 0 || moved < 0)
			break;
		offset += moved;
		/* After a short read the file has most likely ended: ask with one
		 * read rather than a whole batch. */
		if (seekable)
			batch = moved < (long long)batch * CHUNK ? 1 : QUEUE_DEPTH;
	}
	if (seekable && fd == STDIN_FILENO)     /* only stdin is shared */
		lseek(fd, offset, SEEK_SET);
	if (*write_err < 0)
		return 0;
	return moved < 0 ? (int)moved : 0;
}

/* ---- Command line. ---- */

static void usage(FILE *to)
{
	fprintf(to,
		"usage: %s [--trace] [--stats] [--separate-mmaps] [--own-offsets] FILE...\n"
		"Print FILEs (\"-\" is standard input) using only io_uring_setup, mmap\n"
		"and io_uring_enter: %d reads of %d bytes in flight at a time.\n"
		"  --trace           draw the SQ and CQ rings on stderr at every step\n"
		"  --stats           print what was submitted and completed on stderr\n"
		"  --separate-mmaps  map the CQ ring by itself, as before Linux 5.4\n"
		"  --own-offsets     write a regular-file stdout at offsets counted here,\n"
		"                    not at its position (offset -1), as before Linux 5.6\n",
		prog, QUEUE_DEPTH, CHUNK);
}

/* --help: the usage on stdout, which can fail like any output (>/dev/full). */
static int help(void)
{
	usage(stdout);
	if (fflush(stdout) == 0)
		return 0;
	fprintf(stderr, "%s: write to stdout: %s\n", prog, strerror(errno));
	return 1;
}

/* Returns the index of the first FILE argument, or -(exit code). A usage
 * error is one line, and says where the options are listed. */
static int parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			return -help();   /* nothing more to do */
		} else if (strcmp(a, "--trace") == 0) {
			opt.trace = true;
		} else if (strcmp(a, "--stats") == 0) {
			opt.stats = true;
		} else if (strcmp(a, "--separate-mmaps") == 0) {
			opt.separate_mmaps = true;
		} else if (strcmp(a, "--own-offsets") == 0) {
			opt.own_offsets = true;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "%s: unknown option %s; %s --help lists the"
				" options\n", prog, a, prog);
			return -2;
		} else {
			break;
		}
	}
	if (i == argc) {
		fprintf(stderr, "%s: no FILE given (\"-\" is standard input); %s"
			" --help lists the options\n", prog, prog);
		return -2;
	}
	return i;
}

static int open_input(const char *path)
{
	return strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY);
}

/*
 * "raw-cat - <&-": a closed descriptor 0, 1 or 2 is the lowest free one,
 * so the ring or the first file would take it, and reading "-" would read
 * the ring (and wait for ever), or the output would go to a file we read.
 * Hold each closed one with /dev/null opened the wrong way round (0 for
 * writing, 1 and 2 for reading): every read or write of it then fails with
 * EBADF, as it would have closed, and nothing else can land there.
 */
static int hold_closed_std_fds(void)
{
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int held = open("/dev/null", fd == STDIN_FILENO ? O_WRONLY : O_RDONLY);
		if (held != fd) {
			fprintf(stderr, "%s: /dev/null: %s\n", prog,
				held < 0 ? strerror(errno) : "took the wrong descriptor");
			return -1;
		}
	}
	return 0;
}

/* One line on stderr, which may share stdout's file (see out_after_stderr). */
static void report(const char *what, const char *why)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, why);
	out_after_stderr();
}

/*
 * "raw-cat log >>log": reading a file while appending it to itself never
 * reaches the end (each batch reads what the last one wrote) and stops only
 * when the disk or "ulimit -f" is full. cat refuses a regular input that is
 * stdout's own file and has data left after its read position; so do we.
 * ("raw-cat f >f" is fine: the shell emptied f first, nothing is left.)
 */
static bool is_own_output(int fd)
{
	struct stat in, outst;

	if (fstat(fd, &in) < 0 || fstat(STDOUT_FILENO, &outst) < 0)
		return false;
	return S_ISREG(in.st_mode) && in.st_dev == outst.st_dev &&
	       in.st_ino == outst.st_ino && lseek(fd, 0, SEEK_CUR) < in.st_size;
}

int main(int argc, char **argv)
{
	struct ring ring;
	int first = parse_args(argc, argv);
	int status = 0, write_err = 0;

	if (first <= 0)
		return -first;
	if (hold_closed_std_fds() < 0)
		return 1;
	int ret = ring_open(&ring, QUEUE_DEPTH);
	if (ret != 0)
		return ret;
	out_begin();

	for (int i = first; i < argc && write_err == 0 && !ring.enter_err; i++) {
		int fd = open_input(argv[i]);
		if (fd < 0) {
			report(argv[i], strerror(errno));
			status = 1;
			continue;
		}
		if (is_own_output(fd)) {
			report(argv[i], "input file is output file");
			status = 1;
		} else {
			int err = cat_fd(&ring, fd, &write_err);
			if (err < 0 && !ring.enter_err) {
				report(argv[i], strerror(-err));
				status = 1;
			}
		}
		opt.files++;
		if (fd != STDIN_FILENO)
			close(fd);
	}
	out_end();
	if (ring.enter_err) {
		report("io_uring_enter", strerror(ring.enter_err));
		status = 1;
	} else if (write_err < 0) {
		report("write to stdout", strerror(-write_err));
		status = 1;
	}
	if (opt.stats)
		fprintf(stderr, "%s: %d file(s), %lu SQEs submitted in %lu io_uring_enter"
			" calls, %lu CQEs reaped, %llu bytes written\n", prog, opt.files,
			ring.sqes_submitted, ring.enters, ring.cqes_seen, opt.bytes_out);
	ring_close(&ring);
	return status;
}
