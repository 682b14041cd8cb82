/*
 * cp-linked: copy a file through linked read->write pairs on one io_uring.
 *
 * What it shows: each block of the copy is two SQEs, a read and a write,
 * joined with IOSQE_IO_LINK so the kernel starts the write only when the read
 * has completed, with no user-space code run in between (the io-wq worker
 * that ran the read starts it, or, with DEFER_TASKRUN, the kernel starts it
 * from this thread while it waits in io_uring_enter). Many pairs are in
 * flight at once. A link is all or nothing: a short read "fails" the chain and
 * its write completes with -ECANCELED, so the program resubmits the rest of
 * the block (and submits it: a known example forgets to and hangs). A short
 * write at the tail of a chain is continued. --splice moves each block
 * through a pipe with two linked splices, so the bytes never enter this
 * process (after a short splice in, the pipe is emptied before the rest is
 * spliced in: a splice into a full pipe waits forever); --direct bypasses
 * the page cache with O_DIRECT, where queue depth pays off because there is
 * real waiting to overlap. From tmpfs the reads carry IOSQE_ASYNC, so that
 * the io-wq workers they are handed to run them side by side, on a ring
 * with DEFER_TASKRUN, so that the linked writes still run one at a time.
 *
 * Why it matters: links are how io_uring runs a dependent sequence without a
 * round trip to user space, and the cases where a chain breaks are where the
 * published examples go wrong (see README.md).
 *
 * Usage:    cp-linked [-v] [-q DEPTH] [-b BLOCKSIZE] [--splice|--direct] SRC DST
 *           (--direct-fallback=src|dst|both forces the page-cache path,
 *           --async-reads=auto|always|never overrides choose_async(),
 *           --no-defer-taskrun forces the ring of kernels before 6.1)
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o cp-linked cp-linked.c -luring
 * Requires: Linux 5.6 (IORING_OP_READ/WRITE, the opcode probe; links since
 *           5.3), 5.7 for --splice (IORING_OP_SPLICE), 6.1 for DEFER_TASKRUN
 *           (used with IOSQE_ASYNC reads, else a plain ring); liburing 2.3
 *           or newer.
 * Leaves out: registered buffers and files, fsync at the end (both are
 *           exercises), copy_file_range, reflinks, metadata (mode, times).
 */
#define _GNU_SOURCE	/* O_DIRECT, pipe2, F_SETPIPE_SZ */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>	/* fstatfs */
#include <unistd.h>
#include <linux/magic.h>	/* TMPFS_MAGIC */

enum mode { MODE_RW, MODE_SPLICE, MODE_DIRECT };
enum async { ASYNC_AUTO, ASYNC_ALWAYS, ASYNC_NEVER };	/* --async-reads= */

#define DEFAULT_DEPTH 16
#define DEFAULT_BLOCK (128 * 1024)
/* --direct: 1 MiB blocks, DEFAULT_DEPTH of them in flight (README.md,
 * "Measure it"): smaller blocks are where depth is needed at all, and a
 * device that serves many requests at once needs them queued. The disk
 * measured there serves one at a time: -q 1 is as fast as any on it. */
#define DEFAULT_DIRECT_BLOCK (1024 * 1024)
#define DIRECT_ALIGN  4096	/* O_DIRECT: offsets, lengths, buffers */

/*
 * One block of the copy, [off, off + len). got counts bytes read (or
 * spliced into the slot's pipe), put counts bytes written (or spliced out).
 * A slot acts only when inflight is 0. A chain's CQEs are posted in chain
 * order (io_uring_linked_requests(7)), so the read's comes first; we wait
 * for the write's too because the next step depends on both results, and
 * because the buffer is the write's until the write has ended.
 */
struct slot {
	off_t off;
	size_t len;
	size_t got, put;
	size_t rfrom, wfrom, wlen;	/* what the SQEs in flight asked for */
	bool linked;		/* a full read is expected: link the write to it */
	bool probe;		/* a block past the size fstat gave us */
	bool eof;		/* a read made no progress: the source ends here */
	bool busy;
	int inflight;		/* SQEs of this slot whose CQE we have not seen */
	unsigned char *buf;	/* read/write and direct modes */
	int pipe[2];		/* splice mode: the block's bytes wait here */
};

struct stats {
	unsigned long blocks, pairs, lone_reads, lone_writes, enters, cqes;
	unsigned long short_reads, eof_reads, short_writes, cancelled;
};

struct copy {
	struct io_uring ring;
	enum mode mode;
	unsigned depth;
	size_t block;
	size_t ralign, walign;	/* O_DIRECT alignment of reads, of writes: 1 if none */
	size_t align;		/* the larger: where blocks start */
	bool verbose;
	enum async async_opt;
	bool async_reads;	/* IOSQE_ASYNC on every read: see choose_async() */
	bool no_defer;		/* --no-defer-taskrun */
	bool defer_taskrun;	/* the ring has SINGLE_ISSUER | DEFER_TASKRUN */
	bool src_fallback, dst_fallback;	/* --direct-fallback: skip O_DIRECT */
	const char *src_name, *dst_name;
	int src, dst;
	bool src_seekable, dst_seekable, dst_regular;
	off_t size;		/* source size at the start */
	off_t next;		/* where the next new block starts */
	off_t seg_end;		/* end of the current data segment (holes skipped) */
	off_t eof;		/* lowest offset where the source ended, -1: not yet */
	bool probing;		/* a probe block is in flight */
	int inflight;
	int error;		/* first errno that stopped the copy */
	const char *error_name;
	struct slot *slots;
	unsigned char *bufs;
	struct stats st;
};

static const char *prog = "cp-linked";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [-v] [-q DEPTH] [-b BLOCKSIZE] [--splice|--direct] SRC DST\n"
		"Copy SRC to DST through linked read->write pairs on one io_uring.\n"
		"  -q DEPTH      pairs in flight (default %d)\n"
		"  -b BLOCKSIZE  bytes per pair, k or M suffix allowed (default 128k,\n"
		"                1M with --direct)\n"
		"  --splice      splice SRC->pipe->DST: the data never enters this process\n"
		"  --direct      O_DIRECT on both files (BLOCKSIZE a multiple of %d)\n"
		"  --direct-fallback=src|dst|both\n"
		"                with --direct: copy that side through the page cache, as\n"
		"                when its file system refuses O_DIRECT (tmpfs before 6.6)\n"
		"  --async-reads=auto|always|never\n"
		"                IOSQE_ASYNC on the reads: auto (the default) sets it in\n"
		"                read/write mode when SRC is on tmpfs, whose reads io_uring\n"
		"                hands to io-wq anyway\n"
		"  --no-defer-taskrun\n"
		"                with IOSQE_ASYNC reads, a ring without DEFER_TASKRUN, as\n"
		"                before Linux 6.1\n"
		"  -v            print what was submitted and completed, on stderr\n"
		"  -h, --help    this help\n",
		prog, DEFAULT_DEPTH, DIRECT_ALIGN);
}

static size_t parse_size(const char *s, size_t max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;
	if (*end == 'k' || *end == 'K')
		shift = 10, end++;
	else if (*end == 'm' || *end == 'M')
		shift = 20, end++;
	if (errno || end == s || *end || *s == '-' || v == 0 || v > max >> shift) {
		fprintf(stderr, "%s: bad number '%s' (1..%zu)\n", prog, s, max);
		usage(stderr);
		exit(2);
	}
	return (size_t)v << shift;
}

static void parse_args(struct copy *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "splice", no_argument, NULL, 's' },
		{ "direct", no_argument, NULL, 'd' },
		{ "direct-fallback", required_argument, NULL, 'f' },
		{ "async-reads", required_argument, NULL, 'a' },
		{ "no-defer-taskrun", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int opt;

	c->depth = DEFAULT_DEPTH;
	c->block = 0;	/* not given: the mode's default, below */
	while ((opt = getopt_long(argc, argv, "vq:b:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'v': c->verbose = true; break;
		case 'q': c->depth = (unsigned)parse_size(optarg, 4096); break;
		case 'b': c->block = parse_size(optarg, 64 << 20); break;
		case 's':
		case 'd':
			if (c->mode != MODE_RW) {
				fprintf(stderr, "%s: --splice and --direct exclude each other\n", prog);
				exit(2);
			}
			c->mode = opt == 's' ? MODE_SPLICE : MODE_DIRECT;
			break;
		case 'f':
			c->src_fallback = !strcmp(optarg, "src") || !strcmp(optarg, "both");
			c->dst_fallback = !strcmp(optarg, "dst") || !strcmp(optarg, "both");
			if (!c->src_fallback && !c->dst_fallback) {
				fprintf(stderr, "%s: --direct-fallback takes src, dst or both\n", prog);
				exit(2);
			}
			break;
		case 'a':
			if (!strcmp(optarg, "auto"))
				c->async_opt = ASYNC_AUTO;
			else if (!strcmp(optarg, "always"))
				c->async_opt = ASYNC_ALWAYS;
			else if (!strcmp(optarg, "never"))
				c->async_opt = ASYNC_NEVER;
			else {
				fprintf(stderr, "%s: --async-reads takes auto, always or never\n", prog);
				exit(2);
			}
			break;
		case 'D': c->no_defer = true; break;
		case 'h':
			usage(stdout);
			if (fflush(stdout) == EOF)	/* -h >/dev/full, -h >&- */
				err(1, "stdout");
			exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		exit(2);
	}
	if (!c->block)
		c->block = c->mode == MODE_DIRECT ? DEFAULT_DIRECT_BLOCK : DEFAULT_BLOCK;
	if ((c->src_fallback || c->dst_fallback) && c->mode != MODE_DIRECT) {
		fprintf(stderr, "%s: --direct-fallback needs --direct\n", prog);
		exit(2);
	}
	if (c->mode == MODE_DIRECT && c->block % DIRECT_ALIGN) {
		fprintf(stderr, "%s: --direct needs -b to be a multiple of %d\n", prog, DIRECT_ALIGN);
		exit(2);
	}
	c->src_name = argv[optind];
	c->dst_name = argv[optind + 1];
}

/*
 * The ring comes after SRC is opened (reading changes nothing), because its
 * flags depend on where SRC is, and before DST: where io_uring is blocked we
 * exit 77 without having created or truncated DST.
 *
 * With IOSQE_ASYNC reads, also IORING_SETUP_DEFER_TASKRUN (6.1; it needs
 * SINGLE_ISSUER, and one thread is all we have). Where a chain goes on
 * after its read decides where the write runs: on a plain ring the io-wq
 * worker that completed the read runs the linked write itself, at once, so
 * every worker writes to DST and they queue on DST's inode lock. With
 * DEFER_TASKRUN a completion is task work for this thread, run when it
 * waits: it starts the write, which io-wq then runs as a buffered write to
 * one file, one at a time (README.md, "What the punt costs"). Before 6.1
 * the kernel says EINVAL, and gets the plain ring --no-defer-taskrun asks for.
 */
static void setup_ring(struct copy *c)
{
	/* Each slot has at most two SQEs outstanding, so the SQ never fills. */
	unsigned entries = 2 * c->depth;
	int ret = -EINVAL;

	c->defer_taskrun = c->async_reads && !c->no_defer;
	if (c->defer_taskrun)
		ret = io_uring_queue_init(entries, &c->ring, IORING_SETUP_SINGLE_ISSUER |
					  IORING_SETUP_DEFER_TASKRUN);
	if (ret == -EINVAL) {
		c->defer_taskrun = false;
		ret = io_uring_queue_init(entries, &c->ring, 0);
	}
	if (ret == -EPERM || ret == -ENOSYS) {
		fprintf(stderr, "%s: io_uring_queue_init: %s: io_uring is %s\n", prog,
			strerror(-ret), ret == -EPERM ?
			"blocked here (a container's seccomp profile, or the kernel.io_uring_disabled sysctl)" :
			"missing (it needs Linux 5.1, or a sandbox hides it)");
		exit(77);
	}
	if (ret < 0)
		errx(1, "io_uring_queue_init: %s", strerror(-ret));	/* -errno, errno untouched */

	struct io_uring_probe *p = io_uring_get_probe_ring(&c->ring);
	if (!p) {
		fprintf(stderr, "%s: io_uring opcode probe failed: needs Linux 5.6\n", prog);
		exit(77);
	}
	bool rw = io_uring_opcode_supported(p, IORING_OP_READ) &&
		  io_uring_opcode_supported(p, IORING_OP_WRITE);
	bool splice = io_uring_opcode_supported(p, IORING_OP_SPLICE);
	io_uring_free_probe(p);
	if (!rw) {
		fprintf(stderr, "%s: IORING_OP_READ/WRITE not supported: needs Linux 5.6\n", prog);
		exit(77);
	}
	if (c->mode == MODE_SPLICE && !splice) {
		fprintf(stderr, "%s: IORING_OP_SPLICE not supported: needs Linux 5.7\n", prog);
		exit(77);
	}
}

static bool seekable(int fd)
{
	return lseek(fd, 0, SEEK_CUR) != (off_t)-1;
}

/*
 * --direct: turn O_DIRECT on with fcntl after the open, so that a file
 * system without direct I/O (procfs, sysfs, tmpfs before Linux 6.6) is told
 * apart from every other open error. Our choice when it refuses: say so and
 * copy that side through the page cache. Only regular files and block
 * devices are asked: a pipe or a character device is copied without
 * O_DIRECT, with a line that says so. fallback (--direct-fallback) takes
 * the page-cache path without asking, so that it can be run and tested on a
 * kernel whose file systems all say yes.
 */
static size_t try_direct(int fd, const char *name, mode_t mode, bool fallback)
{
	if (fallback) {
		fprintf(stderr, "%s: %s: O_DIRECT not tried (--direct-fallback), "
			"copying it through the page cache\n", prog, name);
		return 1;
	}
	if (!S_ISREG(mode) && !S_ISBLK(mode)) {
		/* On a pipe O_DIRECT means "packet mode": not what we want. */
		fprintf(stderr, "%s: %s: not a file or a block device, no O_DIRECT for it\n",
			prog, name);
		return 1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl == -1)
		err(1, "%s", name);
	if (fcntl(fd, F_SETFL, fl | O_DIRECT) == -1) {
		if (errno != EINVAL)
			err(1, "%s: O_DIRECT", name);
		fprintf(stderr, "%s: %s: O_DIRECT refused by its file system, "
			"copying it through the page cache\n", prog, name);
		return 1;
	}
	return DIRECT_ALIGN;
}

/*
 * IOSQE_ASYNC sends a request straight to an io-wq worker, without the
 * non-blocking try first. That try is wasted when it cannot succeed: io_uring
 * reads a tmpfs file only in a worker (the "io-wq punts" of README.md). And
 * the flag does one more thing: io-wq starts another worker for a request
 * marked IOSQE_ASYNC even while one is running, where a request punted after
 * its try waits for the one running worker. So on tmpfs the reads of many
 * pairs run side by side. The writes to DST run one at a time only on the
 * ring with DEFER_TASKRUN that setup_ring() then asks for: each is started
 * from this thread and punted as a buffered write to DST, which io-wq runs
 * one at a time per file; on a plain ring each worker runs its block's write
 * itself, and they queue on DST's inode lock. Elsewhere a cached read
 * completes inline and the flag would only add a hand-off, and --direct and
 * --splice have their own paths: auto sets it for read/write mode from tmpfs
 * only.
 */
static void choose_async(struct copy *c, const struct stat *st)
{
	struct statfs fs;

	if (c->async_opt != ASYNC_AUTO)
		c->async_reads = c->async_opt == ASYNC_ALWAYS;
	else
		c->async_reads = c->mode == MODE_RW && S_ISREG(st->st_mode) &&
				 fstatfs(c->src, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

static void open_src(struct copy *c, struct stat *st)
{
	c->src = open(c->src_name, O_RDONLY | O_CLOEXEC);
	if (c->src == -1)
		err(1, "%s", c->src_name);
	if (fstat(c->src, st) == -1)
		err(1, "%s", c->src_name);
	if (S_ISDIR(st->st_mode))
		errx(1, "%s: %s", c->src_name, strerror(EISDIR));
	c->src_seekable = seekable(c->src);
	if (S_ISREG(st->st_mode))
		c->size = st->st_size;	/* sets the last block's length */
	else if (S_ISBLK(st->st_mode))
		c->size = lseek(c->src, 0, SEEK_END);
	else
		c->size = 0;	/* unknown: every block is a probe */
	if (c->mode == MODE_DIRECT)
		c->ralign = try_direct(c->src, c->src_name, st->st_mode, c->src_fallback);
	choose_async(c, st);
}

/*
 * DST is our own stdout or stderr sent to a file (`cp-linked F /dev/stdout
 * >>log`, or `>log 2>&1`): opening /dev/stdout made a second description of
 * that file, at offset 0 and without O_APPEND, so our copy would truncate
 * what `>>` keeps and our -v lines would overwrite the copy's first bytes.
 * Write through the shell's descriptor instead, at its position, one block
 * after the other, as cat would; and neither truncate it nor skip holes.
 */
static bool use_shell_fd(struct copy *c, const struct stat *dst_st)
{
	for (int fd = 1; fd <= 2; fd++) {
		struct stat st;
		if (fstat(fd, &st) == -1 || st.st_dev != dst_st->st_dev ||
		    st.st_ino != dst_st->st_ino)
			continue;
		int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (dup == -1)
			err(1, "%s", c->dst_name);
		close(c->dst);
		c->dst = dup;
		c->dst_regular = c->dst_seekable = false;	/* no offsets, no truncation */
		if (c->mode == MODE_DIRECT)
			fprintf(stderr, "%s: %s: the shell's descriptor, no O_DIRECT for it\n",
				prog, c->dst_name);
		return true;
	}
	return false;
}

/*
 * DST is opened last, after every set-up step that can fail, and without
 * O_TRUNC: we must see whether it is SRC itself (same device and inode,
 * through a symlink or a hard link too) before destroying anything.
 * truncate_dst() empties it when nothing can stop the copy any more.
 */
static void open_dst(struct copy *c, const struct stat *src_st)
{
	struct stat st;

	c->dst = open(c->dst_name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (c->dst == -1)
		err(1, "%s", c->dst_name);
	if (fstat(c->dst, &st) == -1)
		err(1, "%s", c->dst_name);
	if (st.st_dev == src_st->st_dev && st.st_ino == src_st->st_ino)
		errx(1, "'%s' and '%s' are the same file", c->src_name, c->dst_name);
	c->dst_regular = S_ISREG(st.st_mode);
	c->dst_seekable = seekable(c->dst);
	bool shell_fd = c->dst_regular && use_shell_fd(c, &st);
	if (c->mode == MODE_DIRECT && !shell_fd)
		c->walign = try_direct(c->dst, c->dst_name, st.st_mode, c->dst_fallback);
	c->align = c->ralign > c->walign ? c->ralign : c->walign;
}

static void truncate_dst(struct copy *c)
{
	if (c->dst_regular && ftruncate(c->dst, 0) == -1)
		err(1, "%s", c->dst_name);
}

/*
 * A pipe or a FIFO has no offsets: two reads in flight on it would race
 * for the data, and two writes would interleave. One pair at a time then.
 * This runs before DST is opened (a failure here must leave DST as it
 * was), so a DST without offsets cuts the depth later, in fit_depth().
 */
static void setup_slots(struct copy *c)
{
	if (!c->src_seekable)
		c->depth = 1;
	c->slots = calloc(c->depth, sizeof(*c->slots));
	if (!c->slots)
		err(1, "calloc");
	if (c->mode != MODE_SPLICE) {
		/* One allocation for all blocks, reused: no malloc per block. */
		int ret = posix_memalign((void **)&c->bufs, DIRECT_ALIGN, c->depth * c->block);
		if (ret)
			errx(1, "posix_memalign: %s", strerror(ret));
	}
	for (unsigned i = 0; i < c->depth; i++) {
		struct slot *s = &c->slots[i];
		s->pipe[0] = s->pipe[1] = -1;
		if (c->mode != MODE_SPLICE) {
			s->buf = c->bufs + (size_t)i * c->block;
			continue;
		}
		if (pipe2(s->pipe, O_CLOEXEC) == -1)
			err(1, "pipe2");
		/* The pipe should hold a whole block, so that one splice in
		 * moves it. A pipe counts pages (slots), not bytes, so a block
		 * that is not a multiple of the page size may straddle one
		 * more page than it fills: give it one more. A splice into a
		 * pipe with too few free slots is short, and continued; only a
		 * pipe with no free slot at all blocks it (see step()). */
		size_t want = (c->block + 4095) / 4096 * 4096 + (c->block % 4096 ? 4096 : 0);
		if (fcntl(s->pipe[1], F_SETPIPE_SZ, (int)want) == -1)
			err(1, "-b %zu: pipe of that size (see /proc/sys/fs/pipe-max-size)",
			    c->block);
	}
	c->eof = -1;
}

static void fit_depth(struct copy *c)
{
	if (c->dst_seekable)
		return;
	for (unsigned i = 1; i < c->depth; i++) {
		if (c->slots[i].pipe[0] != -1) {
			close(c->slots[i].pipe[0]);
			close(c->slots[i].pipe[1]);
		}
	}
	c->depth = 1;
}

static size_t align_up(size_t n, size_t align)
{
	return (n + align - 1) / align * align;
}

/*
 * --direct: ext4 can start an O_DIRECT write without blocking only where
 * the file already has blocks, inside its size. A write that must allocate
 * or extend the file is handed to an io-wq worker, and such writes run one
 * at a time. Allocating each data segment first keeps the writes in flight
 * together (no punts at all). If fallocate fails (a file system without it,
 * RLIMIT_FSIZE, no space) the writes still run, slower, and report the
 * error themselves: so ignore it.
 */
static void preallocate(struct copy *c, off_t from, off_t to)
{
	if (c->walign > 1 && c->dst_regular && to > from)
		(void)fallocate(c->dst, 0, from, to - from);
}

/*
 * SEEK_DATA found no data at or past c->next: lseek(2) says ENXIO means
 * "only a hole from here to the end of the file" (or next is past the
 * end, if the file shrank). Nothing is read or written for a hole: the
 * copy jumps to the file's size now, the probe read there finds the end
 * of file, and finish() gives DST that size, so the hole stays a hole.
 * O_DIRECT must start aligned: the probe starts at the aligned offset
 * below the end, and copies at most one block of the hole's zeros.
 */
static void skip_trailing_hole(struct copy *c)
{
	struct stat st;
	off_t end = fstat(c->src, &st) == 0 ? st.st_size : c->next;

	end -= end % (off_t)c->align;
	if (end > c->next)
		c->next = end;
	c->size = c->seg_end = c->next;
}

/*
 * Skip holes: SEEK_DATA/SEEK_HOLE find the next data segment, so a sparse
 * source stays sparse, and the system calls grow with the number of data
 * segments, not with the size: a mostly empty 5 GiB file copies in a blink.
 * Only a regular DST, truncated first, reads back what we skip as zeros: a
 * pipe or a device must be sent the hole's zeros, so for them all is data.
 */
static void next_segment(struct copy *c)
{
	if (!c->dst_regular) {
		c->seg_end = c->size;
		return;
	}
	off_t d = lseek(c->src, c->next, SEEK_DATA);
	off_t h = d < 0 ? -1 : lseek(c->src, d, SEEK_HOLE);
	if (d < 0 && errno == ENXIO) {
		skip_trailing_hole(c);
		return;
	}
	if (d < 0 || h < 0) {		/* no SEEK_DATA here: all data */
		d = c->next;
		h = c->size;
	}
	d -= d % (off_t)c->align;
	if (h < c->size)
		h = (off_t)align_up((size_t)h, c->align);
	c->next = d;
	c->seg_end = h < c->size ? h : c->size;
	preallocate(c, c->next, (off_t)align_up((size_t)c->seg_end, c->align));
}

/* Give an idle slot the next block of the source, or return false. */
static bool next_block(struct copy *c, struct slot *s)
{
	if (c->error || c->eof >= 0)
		return false;
	if (c->src_seekable && c->next < c->size && c->next >= c->seg_end)
		next_segment(c);
	s->off = c->next;
	s->got = s->put = 0;
	s->linked = s->probe = s->eof = false;
	if (!c->src_seekable) {
		/* A stream: no size, no offsets; expect full blocks. */
		s->len = c->block;
		s->linked = true;
	} else if (c->next < c->size) {
		size_t room = (size_t)(c->seg_end - c->next);
		s->len = room < c->block ? room : c->block;
		/* The tail is a full read of its fstat length, except with
		 * O_DIRECT, which must ask for an aligned length and so gets
		 * a short read at the end of file; and an O_DIRECT write
		 * must be aligned too. Don't link those. */
		s->linked = s->len % c->align == 0;
		s->len = align_up(s->len, c->ralign);
	} else {
		/* Past the size fstat gave: one probe at a time, until a
		 * read finds end of file. The source may have grown. */
		if (c->probing)
			return false;
		c->probing = s->probe = true;
		s->len = c->block;
	}
	c->next += (off_t)s->len;
	s->busy = true;
	c->st.blocks++;
	return true;
}

/* Where a read or write of this slot goes: -1 on a stream. */
static off_t src_pos(struct copy *c, struct slot *s, size_t at)
{
	return c->src_seekable ? s->off + (off_t)at : -1;
}

static off_t dst_pos(struct copy *c, struct slot *s, size_t at)
{
	return c->dst_seekable ? s->off + (off_t)at : -1;
}

/*
 * Room for n SQEs, the two of a pair together: a pair split across a full
 * SQ would leave a read linked to nothing we prepared. Each slot has at most
 * two SQEs outstanding and the SQ has two entries per slot, so the submit
 * here is a safety net, not a path the copy takes.
 */
static void make_room(struct copy *c, unsigned n)
{
	if (io_uring_sq_space_left(&c->ring) >= n)
		return;
	int ret = io_uring_submit(&c->ring);
	c->st.enters++;
	if (ret < 0)
		errx(1, "io_uring_submit: %s", strerror(-ret));
}

static struct io_uring_sqe *get_sqe(struct copy *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
	if (!sqe)	/* make_room() came first: cannot happen */
		errx(1, "io_uring_get_sqe: submission queue full");
	c->inflight++;
	return sqe;
}

static void prep_read(struct copy *c, struct slot *s, struct io_uring_sqe *sqe)
{
	size_t n = s->len - s->rfrom;
	if (c->mode == MODE_SPLICE)
		io_uring_prep_splice(sqe, c->src, src_pos(c, s, s->rfrom),
				     s->pipe[1], -1, (unsigned)n, 0);
	else
		io_uring_prep_read(sqe, c->src, s->buf + s->rfrom, (unsigned)n,
				   (uint64_t)src_pos(c, s, s->rfrom));
	io_uring_sqe_set_data64(sqe, (uint64_t)(s - c->slots) << 1);
	s->inflight++;
}

static void prep_write(struct copy *c, struct slot *s, struct io_uring_sqe *sqe)
{
	if (c->mode == MODE_SPLICE)
		io_uring_prep_splice(sqe, s->pipe[0], -1, c->dst,
				     dst_pos(c, s, s->wfrom), (unsigned)s->wlen, 0);
	else
		io_uring_prep_write(sqe, c->dst, s->buf + s->wfrom, (unsigned)s->wlen,
				    (uint64_t)dst_pos(c, s, s->wfrom));
	io_uring_sqe_set_data64(sqe, (uint64_t)(s - c->slots) << 1 | 1);
	s->inflight++;
}

/*
 * Read what the block still lacks. If the block is expected full, link the
 * write of everything not yet written to it: the kernel runs the write when
 * the read completes in full, and cancels it (-ECANCELED) if it comes up
 * short. With O_DIRECT a continuation restarts at an aligned offset.
 */
static void submit_read(struct copy *c, struct slot *s)
{
	unsigned async = c->async_reads ? IOSQE_ASYNC : 0;

	s->rfrom = s->got - s->got % c->ralign;
	make_room(c, 2);
	if (!s->linked) {
		struct io_uring_sqe *r = get_sqe(c);
		prep_read(c, s, r);
		io_uring_sqe_set_flags(r, async);
		c->st.lone_reads++;
		return;
	}
	s->wfrom = s->put - s->put % c->walign;
	s->wlen = s->len - s->wfrom;
	struct io_uring_sqe *r = get_sqe(c), *w = get_sqe(c);
	prep_read(c, s, r);
	io_uring_sqe_set_flags(r, IOSQE_IO_LINK | async);
	prep_write(c, s, w);
	c->st.pairs++;
}

/* Write what was read but not yet written: after a broken chain, or the
 * rest of a short write. O_DIRECT writes whole aligned blocks, zero padded;
 * the final ftruncate cuts the padding off. */
static void submit_write(struct copy *c, struct slot *s)
{
	s->wfrom = s->put - s->put % c->walign;
	s->wlen = align_up(s->got, c->walign) - s->wfrom;
	if (s->buf && s->wlen > s->got - s->wfrom)
		memset(s->buf + s->got, 0, s->wfrom + s->wlen - s->got);
	make_room(c, 1);
	prep_write(c, s, get_sqe(c));
	c->st.lone_writes++;
}

static void note_eof(struct copy *c, off_t at)
{
	if (c->eof < 0 || at < c->eof)
		c->eof = at;
}

/*
 * Called when a slot has nothing in flight: decide its next step.
 *
 * --splice: the slot's pipe holds got - put bytes. A splice in goes only
 * into an EMPTY pipe: after a short splice in, what it did move is spliced
 * out first, on its own, and only then is the rest of the block spliced in
 * (linked to its splice out). The trap this avoids: a pipe counts slots,
 * one page reference each, not bytes. A short splice in leaves a partly
 * filled slot (577 bytes of a 4096-byte page, say), and the continuation
 * from the middle of that page needs a slot of its own. With -b 4k the pipe
 * has one slot and it is taken; with larger blocks it runs out after a few
 * short splices. A splice into a full pipe does not return short, it WAITS
 * for room (even when the source is at its end) and the only reader that
 * could make room is the splice out linked behind it, which waits for it:
 * the io-wq worker sleeps in pipe_wait_writable forever. A link cannot
 * hand "what the first splice moved" to the second, so the program has to
 * empty the pipe itself before it asks for more.
 */
static void step(struct copy *c, struct slot *s)
{
	while (!c->error) {
		if (!s->busy && !next_block(c, s))
			return;
		if (!s->eof && s->got < s->len) {
			if (c->mode == MODE_SPLICE && s->put < s->got)
				submit_write(c, s);	/* empty the pipe first */
			else
				submit_read(c, s);
			return;
		}
		if (s->put < s->got) {
			submit_write(c, s);
			return;
		}
		if (s->eof)
			note_eof(c, s->off + (off_t)s->got);
		if (s->probe)
			c->probing = false;
		s->busy = false;	/* block done: loop for the next one */
	}
}

static void fail(struct copy *c, int errnum, const char *name)
{
	if (!c->error) {
		c->error = errnum;
		c->error_name = name;
	}
}

static void on_read(struct copy *c, struct slot *s, int res)
{
	if (res == -EINTR || res == -EAGAIN)
		return;		/* step() asks again */
	if (res < 0) {
		fail(c, -res, c->src_name);
		return;
	}
	size_t now = s->rfrom + (size_t)res;
	if (now <= s->got) {	/* no progress: end of file */
		s->eof = true;
		c->st.eof_reads++;
	} else if (now < s->len) {
		c->st.short_reads++;
	}
	s->got = now;
}

static void on_write(struct copy *c, struct slot *s, int res)
{
	if (res == -ECANCELED) {	/* its read came up short: never ran */
		c->st.cancelled++;
		return;
	}
	if (res == -EINTR || res == -EAGAIN)
		return;
	if (res <= 0) {
		fail(c, res ? -res : EIO, c->dst_name);
		return;
	}
	if ((size_t)res < s->wlen)
		c->st.short_writes++;
	s->put = s->wfrom + (size_t)res;
}

static void on_cqe(struct copy *c, const struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	struct slot *s = &c->slots[ud >> 1];

	c->st.cqes++;
	c->inflight--;
	if (ud & 1)
		on_write(c, s, cqe->res);
	else
		on_read(c, s, cqe->res);
	if (--s->inflight == 0)
		step(c, s);
}

/*
 * The loop: one io_uring_enter both submits every SQE prepared since the
 * last one and waits; then all CQEs that are there are handled, and each
 * may prepare new SQEs. It waits for half of what is in flight, not for one
 * CQE: one enter per half a queue of completions instead of one per
 * completion, while the other half keeps the kernel busy. Every SQE
 * counted in inflight completes, so the wait always ends. After an
 * error nothing new is started, but we still wait for what is in flight:
 * the kernel may be writing into our buffers.
 */
static void run(struct copy *c)
{
	for (unsigned i = 0; i < c->depth; i++)
		step(c, &c->slots[i]);
	while (c->inflight > 0) {
		unsigned want = c->inflight > 1 ? (unsigned)c->inflight / 2 : 1;
		int ret = io_uring_submit_and_wait(&c->ring, want);
		c->st.enters++;
		if (ret < 0 && ret != -EINTR)
			errx(1, "io_uring_submit_and_wait: %s", strerror(-ret));

		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&c->ring, head, cqe) {
			on_cqe(c, cqe);
			n++;
		}
		io_uring_cq_advance(&c->ring, n);
	}
}

/* DST gets exactly the bytes before the end of file we found: this cuts
 * off O_DIRECT padding and blocks read past an end that moved, and sets
 * the size of a source that ends in a hole. */
static void finish(struct copy *c)
{
	struct stat st;

	if (!c->dst_regular)
		return;
	if (fstat(c->dst, &st) == -1)
		err(1, "%s", c->dst_name);
	if (st.st_size != c->eof && ftruncate(c->dst, c->eof) == -1)
		err(1, "%s", c->dst_name);
}

static void report(const struct copy *c)
{
	static const char *names[] = { "read/write", "splice", "direct" };
	const struct stats *t = &c->st;

	fprintf(stderr, "%s: %s mode, %u pair%s of %zu bytes in flight at most\n",
		prog, names[c->mode], c->depth, c->depth == 1 ? "" : "s", c->block);
	fprintf(stderr, "%s: reads %s (%s), %s\n", prog,
		c->async_reads ? "marked IOSQE_ASYNC" : "tried inline first",
		c->async_opt == ASYNC_ALWAYS ? "--async-reads=always" :
		c->async_opt == ASYNC_NEVER ? "--async-reads=never" :
		c->async_reads ? "SRC is on tmpfs" : "SRC is not on tmpfs, or not read/write mode",
		c->defer_taskrun ? "ring with DEFER_TASKRUN" :
		!c->async_reads ? "plain ring" :
		c->no_defer ? "plain ring (--no-defer-taskrun)" :
		"plain ring (DEFER_TASKRUN needs Linux 6.1)");
	fprintf(stderr, "%s: submitted %lu linked pairs, %lu lone reads, %lu lone writes "
		"in %lu io_uring_enter calls\n",
		prog, t->pairs, t->lone_reads, t->lone_writes, t->enters);
	fprintf(stderr, "%s: %lu CQEs: %lu short reads, %lu at end of file, "
		"%lu short writes, %lu -ECANCELED\n", prog, t->cqes, t->short_reads,
		t->eof_reads, t->short_writes, t->cancelled);
	if (!c->error)
		fprintf(stderr, "%s: copied %lld bytes in %lu blocks\n",
			prog, (long long)c->eof, t->blocks);
}

/*
 * With stdin, stdout or stderr closed (`<&-`, `>&-`, `2>&-`), the next file
 * opened takes that number: DST as descriptor 2 would receive our error
 * lines and the -v report in the middle of the copy. Hold the three numbers
 * with /dev/null first, so that the files of the copy never get them.
 */
static void hold_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDWR) != fd)
			err(1, "/dev/null");
	}
}

int main(int argc, char **argv)
{
	struct copy c = { .ralign = 1, .walign = 1, .align = 1, .src = -1, .dst = -1 };
	struct stat src_st;

	parse_args(&c, argc, argv);
	hold_std_fds();
	/* Past RLIMIT_FSIZE a write must fail with EFBIG, not kill us. */
	signal(SIGXFSZ, SIG_IGN);
	/* Everything that can fail before the copy starts, then DST. */
	open_src(&c, &src_st);
	setup_ring(&c);
	setup_slots(&c);
	open_dst(&c, &src_st);
	fit_depth(&c);
	truncate_dst(&c);

	run(&c);
	if (!c.error && c.eof < 0)
		fail(&c, EIO, c.src_name);	/* cannot happen: we stop only at EOF */
	if (!c.error)
		finish(&c);
	if (c.verbose)
		report(&c);
	if (c.error)
		errx(1, "%s: %s%s", c.error_name, strerror(c.error),
		     c.mode == MODE_SPLICE && c.error == EINVAL ?
		     " (this file does not support splice)" : "");
	if (close(c.dst) == -1)		/* NFS, for one, reports write errors here */
		err(1, "%s", c.dst_name);

	for (unsigned i = 0; i < c.depth; i++) {
		if (c.slots[i].pipe[0] != -1) {
			close(c.slots[i].pipe[0]);
			close(c.slots[i].pipe[1]);
		}
	}
	free(c.slots);
	free(c.bufs);
	close(c.src);
	io_uring_queue_exit(&c.ring);
	return 0;
}
