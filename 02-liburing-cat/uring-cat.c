/*
 * uring-cat: cat(1) through liburing, with several reads in flight.
 *
 * What it shows: the job lesson 01 did by hand (raw-cat), written with
 * liburing, and then made into a real cat: stdin, pipes, FIFOs, ttys and
 * devices as well as regular files; up to DEPTH reads in flight on a regular
 * file, each into its own buffer, and the output still in file order; every
 * short read and short write continued; -EAGAIN from a non-blocking
 * descriptor answered with a poll request instead of a busy loop.
 *
 * Why it matters: a completion queue hands results back in any order. The
 * program, not the kernel, keeps the bytes in order: a ring of slots that
 * is read in any order and written strictly from its head.
 *
 * Usage:    uring-cat [-v] [-q DEPTH] [-b SIZE] [--nowait] [FILE...]
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o uring-cat uring-cat.c -luring
 * Requires: Linux 5.6 (IORING_OP_READ/WRITE, IORING_FEAT_RW_CUR_POS),
 *           liburing 2.2 or newer (Debian 12's 2.3 is fine).
 * Leaves out: registered buffers and gathered writes (the exercises),
 *           linking a read to its write (lesson 03), opening files through
 *           the ring (open, fstat and close stay plain syscalls here).
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

enum { DEFAULT_DEPTH = 4, MAX_DEPTH = 4096 };
enum { DEFAULT_BLOCK = 128 * 1024, MAX_BLOCK = 64 << 20 };

/* What a completion is for: the low three bits of its user_data. */
enum op { OP_READ, OP_WRITE, OP_POLL_IN, OP_POLL_OUT, OP_CANCEL };
enum { OP_BITS = 3 };

/* One buffer and where its bytes belong. */
struct slot {
	char *buf;
	off_t off;		/* file offset of buf[0]; -1 on a stream */
	size_t len;		/* bytes asked for */
	size_t got;		/* bytes read so far */
	size_t put;		/* bytes written so far */
	int err;		/* read error, reported when the slot is the head */
	bool busy;		/* a request on this buffer is in flight */
	bool last;		/* a read returned 0: the file ends after got */
	enum op op;		/* what is in flight, for cancelling it */
};

struct counts {
	uint64_t bytes, reads, short_reads, writes, short_writes, eagain, cqes;
	unsigned in_flight, max_in_flight;
};

/* The file being printed. */
struct input {
	const char *name;
	int fd;
	bool positional;	/* regular file: reads at explicit offsets */
	bool pipe;		/* a pipe or socket: --nowait applies */
	off_t next;		/* offset of the next new read */
	off_t size;		/* st_size at open; past it, one read at a time */
	bool stop;		/* a read hit end of file or failed: no new reads */
	bool done;		/* the head reached that point: discard the rest */
	struct counts n;
};

struct cat {
	struct io_uring ring;
	struct slot *slots;	/* a ring of depth slots, in file order */
	unsigned depth, head, used;
	size_t block;
	bool writing;		/* one write in flight keeps stdout in order */
	int write_err;		/* first write error: stop everything */
	bool verbose;
	bool nowait;		/* --nowait: RWF_NOWAIT on pipes, -EAGAIN comes back */
	bool no_stdin;		/* started with stdin closed: "-" is EBADF */
	struct stat out;	/* what stdout is, to refuse cat f >> f */
	off_t out_off;		/* where the next write goes; -1: its own position */
	uint64_t enters, sqes;
	struct counts total;
};

static const char *prog = "uring-cat";

static void usage(FILE *to, int status)
{
	fprintf(to,
		"Usage: %s [-v] [-q DEPTH] [-b SIZE] [FILE...]\n"
		"Concatenate FILEs to standard output through io_uring, like cat(1).\n"
		"With no FILE, or when FILE is -, read standard input.\n"
		"\n"
		"  -q, --depth=DEPTH  reads in flight on a regular file (1-%d, default %d)\n"
		"  -b, --block=SIZE   bytes per read (default 128k; k and m suffixes)\n"
		"  -v, --verbose      print submissions, completions and bytes on stderr\n"
		"      --nowait       RWF_NOWAIT on pipes: poll on -EAGAIN, then retry\n"
		"  -h, --help         print this help\n",
		prog, MAX_DEPTH, DEFAULT_DEPTH);
	exit(status);
}

static unsigned long parse_size(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;
	int shift = 0;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		shift = 10, end++;
	else if (*end == 'm' || *end == 'M')
		shift = 20, end++;
	/* compare before shifting: 17592186044417m would wrap round to 1m */
	if (errno || end == s || *end || *s == '-' || v == 0 || v > max >> shift) {
		warnx("invalid number '%s' (1-%lu)", s, max);
		usage(stderr, 2);
	}
	return v << shift;
}

/* The sysctl (Linux 6.6+): 0 allowed, 1 only for io_uring_group, 2 off. */
static int io_uring_disabled(void)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	int v = 0;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/*
 * EPERM and ENOSYS here mean "no io_uring in this place", not a bug:
 * exit 77 and name the likely cause.
 */
static void setup_ring(struct cat *c)
{
	struct io_uring_params p = { 0 };
	struct utsname u;
	int ret;

	/* depth reads, one write and its poll, never more in flight */
	ret = io_uring_queue_init_params(c->depth + 2, &c->ring, &p);
	if (ret == -EPERM || ret == -ENOSYS) {
		uname(&u);
		if (ret == -EPERM && io_uring_disabled() > 0)
			fprintf(stderr, "%s: io_uring_setup: %s: the kernel.io_uring_disabled"
				" sysctl is %d (1: only members of kernel.io_uring_group,"
				" 2: nobody)\n", prog, strerror(-ret), io_uring_disabled());
		else if (ret == -EPERM)
			fprintf(stderr, "%s: io_uring_setup: %s: io_uring is switched off"
				" here: a container's seccomp profile (Docker's default"
				" blocks it) or the kernel.io_uring_disabled sysctl"
				" (Linux 6.6+)\n", prog, strerror(-ret));
		else
			fprintf(stderr, "%s: io_uring_setup: %s: kernel %s has no"
				" io_uring (it needs Linux 5.1 with CONFIG_IO_URING),"
				" or a sandbox hides it\n", prog, strerror(-ret), u.release);
		exit(77);
	}
	if (ret < 0)
		errx(1, "io_uring_queue_init: %s%s", strerror(-ret), ret == -ENOMEM ?
		     " (kernels before 5.12 charge rings to ulimit -l: lower -q)" : "");
	/* Offset -1 means "the file position", as read(2) and write(2) use. */
	if (!(p.features & IORING_FEAT_RW_CUR_POS)) {
		uname(&u);
		fprintf(stderr, "%s: this kernel (%s) lacks IORING_FEAT_RW_CUR_POS"
			" (Linux 5.6), needed to read pipes and write stdout\n",
			prog, u.release);
		exit(77);
	}
}

/*
 * The ring never holds more than depth + 2 requests, so the SQ cannot be
 * full; if it ever is, submitting what is queued makes room.
 */
static struct io_uring_sqe *get_sqe(struct cat *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
	int ret;

	if (!sqe) {
		ret = io_uring_submit(&c->ring);
		if (ret < 0)
			errx(1, "io_uring_submit: %s", strerror(-ret));
		sqe = io_uring_get_sqe(&c->ring);
		if (!sqe)
			errx(1, "io_uring_get_sqe: submission queue full");
	}
	c->sqes++;
	return sqe;
}

static struct slot *slot_at(struct cat *c, unsigned i)
{
	return &c->slots[(c->head + i) % c->depth];
}

static void tag(struct io_uring_sqe *sqe, struct cat *c, struct slot *s, enum op op)
{
	s->op = op;
	io_uring_sqe_set_data64(sqe, (uint64_t)(s - c->slots) << OP_BITS | op);
}

/* Read the rest of the slot: from off + got on a file, or what comes on a stream. */
static void submit_read(struct cat *c, struct input *in, struct slot *s)
{
	struct io_uring_sqe *sqe = get_sqe(c);
	off_t at = in->positional ? s->off + (off_t)s->got : -1;

	io_uring_prep_read(sqe, in->fd, s->buf + s->got, s->len - s->got, at);
	if (c->nowait && in->pipe)
		sqe->rw_flags = RWF_NOWAIT;
	tag(sqe, c, s, OP_READ);
	in->n.reads++;
}

/*
 * -EAGAIN: "not ready, and you told me not to wait". Linux 5.6 to about
 * 5.13 answer so for any O_NONBLOCK descriptor; later kernels only when
 * the file cannot wait without blocking a thread, or for RWF_NOWAIT
 * (--nowait).
 * Ask to be told when it is ready, then try again: the readiness model.
 */
static void submit_poll(struct cat *c, struct slot *s, int fd, enum op op)
{
	struct io_uring_sqe *sqe = get_sqe(c);

	io_uring_prep_poll_add(sqe, fd, op == OP_POLL_IN ? POLLIN : POLLOUT);
	tag(sqe, c, s, op);
}

static void submit_write(struct cat *c, struct slot *s)
{
	struct io_uring_sqe *sqe = get_sqe(c);

	io_uring_prep_write(sqe, STDOUT_FILENO, s->buf + s->put, s->got - s->put,
			    c->out_off);
	if (c->nowait && (S_ISFIFO(c->out.st_mode) || S_ISSOCK(c->out.st_mode)))
		sqe->rw_flags = RWF_NOWAIT;
	tag(sqe, c, s, OP_WRITE);
}

/*
 * Bounded read-ahead: inside the size fstat reported, fill every free
 * slot; past it (files under /proc say 0, a file may grow), and on
 * streams, whose bytes come in order only one read at a time, one read.
 */
static bool may_read(struct cat *c, struct input *in)
{
	if (in->stop || c->used == c->depth)
		return false;
	if (in->positional && in->next < in->size)
		return true;
	return in->n.in_flight == 0;
}

static void queue_reads(struct cat *c, struct input *in)
{
	while (may_read(c, in)) {
		struct slot *s = slot_at(c, c->used++);

		s->off = in->positional ? in->next : -1;
		s->len = c->block;
		if (in->positional && in->next < in->size &&
		    in->size - in->next < (off_t)c->block)
			s->len = in->size - in->next; /* then one more read finds EOF */
		if (in->positional)
			in->next += (off_t)s->len;
		s->got = s->put = 0;
		s->err = 0;
		s->last = false;
		s->busy = true;
		if (++in->n.in_flight > in->n.max_in_flight)
			in->n.max_in_flight = in->n.in_flight;
		submit_read(c, in, s);
	}
}

static void report(struct input *in, int err)
{
	warnx("%s: %s", in->name, strerror(err));
}

/*
 * Everything is decided at the head, in file order: its bytes go out,
 * its end of file or error ends this file. Slots behind it may have
 * completed long ago; they wait their turn. Returns true when it has
 * just reported this file's read error.
 */
static bool queue_write(struct cat *c, struct input *in)
{
	while (!c->writing && !in->done && c->used) {
		struct slot *s = slot_at(c, 0);

		if (s->busy)
			return false;
		if (s->put < s->got) {
			s->busy = true;
			c->writing = true;
			in->n.writes++;
			submit_write(c, s);
			return false;
		}
		if (s->err) {
			report(in, s->err);
			in->done = true;
			return true;
		}
		if (s->last) {
			in->done = true;
			return false;
		}
		c->head = (c->head + 1) % c->depth;
		c->used--;
	}
	return false;
}

static void on_read(struct cat *c, struct input *in, struct slot *s, int res)
{
	if (res == -EAGAIN && !in->done) {
		in->n.eagain++;
		submit_poll(c, s, in->fd, OP_POLL_IN);
		return;
	}
	if (res == -EINTR && !in->done) {
		submit_read(c, in, s);
		return;
	}
	if (res > 0 && !in->done) {
		s->got += res;
		if (s->got < s->len)
			in->n.short_reads++;
		/* A file's slot must be full before the next one's bytes. */
		if (in->positional && s->got < s->len) {
			submit_read(c, in, s);
			return;
		}
	} else if (res == 0) {
		s->last = true;
		in->stop = true;
	} else if (res < 0) {
		s->err = res == -ECANCELED ? 0 : -res;
		s->last = true;
		in->stop = true;
	}
	s->busy = false;
	in->n.in_flight--;
}

static void on_write(struct cat *c, struct input *in, struct slot *s, int res)
{
	if (res == -EAGAIN) {
		in->n.eagain++;
		submit_poll(c, s, STDOUT_FILENO, OP_POLL_OUT);
		return;
	}
	if (res == -EINTR) {
		submit_write(c, s);
		return;
	}
	if (res <= 0) {
		/* A write of 0 bytes would loop forever: call it a full disk. */
		c->write_err = res == 0 ? ENOSPC : -res;
		in->stop = in->done = true;
	} else {
		s->put += res;
		in->n.bytes += res;
		if (c->out_off >= 0)
			c->out_off += res;
		if (s->put < s->got) {
			in->n.short_writes++;
			in->n.writes++;
			submit_write(c, s); /* the rest, right away */
			return;
		}
	}
	s->busy = false;
	c->writing = false;
}

/* Ready (or the poll failed): try the read or write again. */
static void on_poll(struct cat *c, struct input *in, struct slot *s,
		    enum op op, int res)
{
	if (res < 0 && res != -EINTR) /* hand the error to the read or write */
		(op == OP_POLL_OUT ? on_write : on_read)(c, in, s, res);
	else if (op == OP_POLL_OUT)
		submit_write(c, s);
	else if (in->done)
		on_read(c, in, s, -ECANCELED);
	else
		submit_read(c, in, s);
}

static void handle(struct cat *c, struct input *in, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	struct slot *s = &c->slots[ud >> OP_BITS];
	enum op op = ud & ((1 << OP_BITS) - 1);

	in->n.cqes++;
	switch (op) {
	case OP_READ:
		on_read(c, in, s, cqe->res);
		break;
	case OP_WRITE:
		on_write(c, in, s, cqe->res);
		break;
	case OP_POLL_IN:
	case OP_POLL_OUT:
		on_poll(c, in, s, op, cqe->res);
		break;
	case OP_CANCEL:
		break;
	}
}

/* Submit what is queued, sleep until at least one completion, reap them all. */
static void submit_and_reap(struct cat *c, struct input *in)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int ret;

	do {
		ret = io_uring_submit_and_wait(&c->ring, 1);
		c->enters++;
	} while (ret == -EINTR);
	if (ret < 0)
		errx(1, "io_uring_submit_and_wait: %s", strerror(-ret));

	io_uring_for_each_cqe(&c->ring, head, cqe) {
		handle(c, in, cqe);
		seen++;
	}
	io_uring_cq_advance(&c->ring, seen);
}

/*
 * The kernel owns a buffer until its CQE arrives, even if we no longer
 * want the data. After a write error a read on a pipe could wait for
 * ever: cancel it, then wait for every CQE before reusing the buffers.
 */
static void cancel_reads(struct cat *c, struct input *in)
{
	for (unsigned i = 0; i < c->used; i++) {
		struct slot *s = slot_at(c, i);
		struct io_uring_sqe *sqe;

		if (!s->busy || s->op == OP_WRITE)
			continue;
		sqe = get_sqe(c);
		io_uring_prep_cancel64(sqe, (uint64_t)(s - c->slots) << OP_BITS | s->op, 0);
		io_uring_sqe_set_data64(sqe, OP_CANCEL);
	}
	while (in->n.in_flight)
		submit_and_reap(c, in);
}

static void print_counts(struct cat *c, const char *name, const struct counts *n)
{
	if (!c->verbose)
		return;
	fprintf(stderr, "%s: %s: %" PRIu64 " bytes, %" PRIu64 " reads (%" PRIu64
		" short, up to %u in flight), %" PRIu64 " writes (%" PRIu64
		" short), %" PRIu64 " EAGAIN, %" PRIu64 " CQEs\n", prog, name,
		n->bytes, n->reads, n->short_reads, n->max_in_flight, n->writes,
		n->short_writes, n->eagain, n->cqes);
}

static void add_counts(struct counts *t, const struct counts *n)
{
	t->bytes += n->bytes;
	t->reads += n->reads;
	t->short_reads += n->short_reads;
	t->writes += n->writes;
	t->short_writes += n->short_writes;
	t->eagain += n->eagain;
	t->cqes += n->cqes;
	if (n->max_in_flight > t->max_in_flight)
		t->max_in_flight = n->max_in_flight;
}

/* Returns 0, or 1 if this file could not be read completely. */
static int cat_fd(struct cat *c, struct input *in)
{
	bool failed = false;

	while (!in->done) {
		/* write first: it frees the head slot for the next read */
		failed |= queue_write(c, in);
		if (in->done)
			break;
		queue_reads(c, in);
		submit_and_reap(c, in);
	}
	if (c->write_err)
		cancel_reads(c, in);
	while (in->n.in_flight) /* read-ahead past the end: let it land */
		submit_and_reap(c, in);
	c->head = c->used = 0;
	return failed;
}

/*
 * O_NONBLOCK means nothing to read(2) on a regular file, but io_uring
 * honours it: a read that would wait for the disk fails with -EAGAIN,
 * and poll says a regular file is always ready, so retrying would spin.
 * Clear it on regular files only; the caller restores it.
 */
static int blocking_if_regular(int fd)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || !(fl & O_NONBLOCK) || fstat(fd, &st) || !S_ISREG(st.st_mode))
		return -1;
	if (fcntl(fd, F_SETFL, fl & ~O_NONBLOCK))
		return -1;
	return fl;
}

static int cat_file(struct cat *c, const char *name)
{
	struct input in = { .name = name, .fd = STDIN_FILENO };
	bool is_stdin = strcmp(name, "-") == 0;
	int status, saved_fl = -1;
	off_t start;
	struct stat st;

	if (is_stdin && c->no_stdin) {
		report(&in, EBADF);
		return 1;
	}
	if (!is_stdin && (in.fd = open(name, O_RDONLY | O_CLOEXEC)) < 0) {
		report(&in, errno);
		return 1;
	}
	if (fstat(in.fd, &st)) {
		report(&in, errno);
		status = 1;
		goto out;
	}
	/* As cat: a file with bytes to read can't be its own output (it
	 * would grow for ever); an empty one (cat f >f) just prints nothing. */
	if (S_ISREG(st.st_mode) && S_ISREG(c->out.st_mode) &&
	    st.st_dev == c->out.st_dev && st.st_ino == c->out.st_ino &&
	    st.st_size > (is_stdin ? lseek(in.fd, 0, SEEK_CUR) : 0)) {
		warnx("%s: input file is output file", name);
		status = 1;
		goto out;
	}
	if (is_stdin)
		saved_fl = blocking_if_regular(in.fd);
	in.positional = S_ISREG(st.st_mode);
	in.pipe = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
	in.size = st.st_size;
	/* stdin may have been read partly already: start where it stands */
	if (in.positional && is_stdin && (in.next = lseek(in.fd, 0, SEEK_CUR)) < 0)
		in.next = 0;
	start = in.next;
	status = cat_fd(c, &in);
	/* Reads at explicit offsets leave the file position alone: move it. */
	if (in.positional && is_stdin && !c->write_err)
		lseek(in.fd, start + (off_t)in.n.bytes, SEEK_SET);
out:
	if (saved_fl >= 0)
		fcntl(in.fd, F_SETFL, saved_fl);
	if (!is_stdin)
		close(in.fd);
	print_counts(c, name, &in.n);
	add_counts(&c->total, &in.n);
	return status;
}

/*
 * A pipe or a terminal is written at offset -1, "its own position". A
 * regular file is written at offsets we count ourselves, and its position
 * is set once at the end: on Linux 6.18 a write at -1 cut short by
 * RLIMIT_FSIZE reports its bytes but leaves the position where it was, so
 * the rest would overwrite them (lesson 01 found it; the README shows it).
 * O_APPEND writes go to the end whatever the offset: leave them at -1.
 */
static off_t out_begin(const struct stat *out)
{
	int fl = fcntl(STDOUT_FILENO, F_GETFL);

	if (!S_ISREG(out->st_mode) || fl < 0 || (fl & O_APPEND))
		return -1;
	return lseek(STDOUT_FILENO, 0, SEEK_CUR);
}

static void alloc_slots(struct cat *c)
{
	char *mem;

	c->slots = calloc(c->depth, sizeof(*c->slots));
	if (!c->slots || posix_memalign((void **)&mem, 4096, c->depth * c->block))
		errx(1, "cannot allocate %u buffers of %zu bytes", c->depth, c->block);
	for (unsigned i = 0; i < c->depth; i++)
		c->slots[i].buf = mem + (size_t)i * c->block;
}

static void parse_args(struct cat *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "depth", required_argument, NULL, 'q' },
		{ "block", required_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "nowait", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0; /* our own message, in our own format */
	c->depth = DEFAULT_DEPTH;
	c->block = DEFAULT_BLOCK;
	while ((opt = getopt_long(argc, argv, "q:b:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'q':
			c->depth = parse_size(optarg, MAX_DEPTH);
			break;
		case 'b':
			c->block = parse_size(optarg, MAX_BLOCK);
			break;
		case 'v':
			c->verbose = true;
			break;
		case 'N':
			c->nowait = true;
			break;
		case 'h':
			usage(stdout, 0);
			break;
		default:
			warnx("unknown option or missing argument: %s", argv[optind - 1]);
			usage(stderr, 2);
		}
	}
	if ((uint64_t)c->depth * c->block > (1ULL << 30)) {
		warnx("-q %u -b %zu: over 1 GiB of buffers", c->depth, c->block);
		usage(stderr, 2);
	}
}

int main(int argc, char **argv)
{
	static char *stdin_only[] = { "-", NULL };
	struct cat c = { 0 };
	char **files;
	int status = 0, out_fl;

	parse_args(&c, argc, argv);
	files = optind < argc ? argv + optind : stdin_only;
	/*
	 * uring-cat <&-: the ring would get descriptor 0, and "-" would read
	 * the ring itself and wait for ever. Hold 0 with /dev/null instead,
	 * and report "-" as cat does.
	 */
	if (fcntl(STDIN_FILENO, F_GETFD) < 0) {
		c.no_stdin = true;
		if (open("/dev/null", O_RDONLY) != STDIN_FILENO)
			err(1, "/dev/null");
	}
	/*
	 * ulimit -f: past the limit a write fails with EFBIG, and SIGXFSZ
	 * would kill us first (and only when the write ran in our own task).
	 * Ignore it, so the error is reported the same way every time.
	 */
	signal(SIGXFSZ, SIG_IGN);
	if (fstat(STDOUT_FILENO, &c.out))
		err(1, "standard output");
	out_fl = blocking_if_regular(STDOUT_FILENO);
	c.out_off = out_begin(&c.out);
	setup_ring(&c);
	alloc_slots(&c);

	for (; *files && !c.write_err; files++)
		status |= cat_file(&c, *files);

	if (c.verbose)
		fprintf(stderr, "%s: total: %" PRIu64 " bytes, %" PRIu64
			" SQEs submitted in %" PRIu64 " io_uring_enter calls, %"
			PRIu64 " CQEs\n", prog, c.total.bytes, c.sqes, c.enters,
			c.total.cqes);
	io_uring_queue_exit(&c.ring);
	if (c.out_off >= 0)
		lseek(STDOUT_FILENO, c.out_off, SEEK_SET);
	free(c.slots[0].buf);
	free(c.slots);
	if (out_fl >= 0)
		fcntl(STDOUT_FILENO, F_SETFL, out_fl);
	if (c.write_err == EPIPE) {
		/* cat dies of SIGPIPE here; do the same unless it is ignored */
		struct sigaction sa;

		if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
			raise(SIGPIPE);
	}
	if (c.write_err) {
		warnx("write error: %s", strerror(c.write_err));
		return 1;
	}
	return status;
}
