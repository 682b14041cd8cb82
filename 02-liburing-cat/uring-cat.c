/*
 * uring-cat: cat(1) through liburing, with several reads in flight.
 *
 * What it shows: the job lesson 01 did by hand (raw-cat), written with
 * liburing, and then made into a real cat: stdin, pipes, FIFOs, ttys and
 * devices as well as regular files; up to DEPTH reads in flight on a regular
 * file, each into its own buffer, and the output still in file order; every
 * short read and short write continued; -EAGAIN from a non-blocking
 * descriptor answered with a poll request instead of a busy loop; a busy
 * ring (-EBUSY, -EAGAIN from io_uring_enter) answered by reaping, then
 * submitting again. Output goes where cat's would: at stdout's current
 * position, one write at a time, so `>log 2>&1`, `>>log` and a shared log
 * hold every byte in cat's order.
 *
 * Why it matters: a completion queue hands results back in any order. The
 * program, not the kernel, keeps the bytes in order: a ring of slots that
 * is read in any order and written strictly from its head.
 *
 * Usage:    uring-cat [-v] [-q DEPTH] [-b SIZE] [--ring N] [--nowait
 *           [--nowait-refused]] [FILE...]
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o uring-cat uring-cat.c -luring
 * Requires: Linux 5.6 (IORING_OP_READ/WRITE, IORING_FEAT_RW_CUR_POS),
 *           liburing 2.2 or newer (io_uring_prep_cancel64() and the
 *           *_data64() helpers came in 2.2; tested with 2.3 and 2.9).
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
#include <time.h>
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

/* CQEs copied out of the ring, waiting to be handled, oldest first. */
struct done_queue {
	struct io_uring_cqe *cqes;
	unsigned size, head, count;
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
	bool nowait_refused;	/* the kernel's pipes refused RWF_NOWAIT */
	bool play_old_pipes;	/* --nowait-refused: make the kernel refuse it */
	bool no_stdin;		/* started with stdin closed: "-" is EBADF */
	struct stat out;	/* what stdout is, to refuse cat f >> f */
	bool out_seekable;	/* a regular file without O_APPEND */
	off_t out_pos;		/* its position before the write in flight; -1 unknown */
	unsigned ring_entries;	/* --ring: SQ and CQ size; 0: depth + 2 */
	struct done_queue done;
	uint64_t enters, sqes, submitted, reaped, busy;
	int busy_err;		/* what the last busy io_uring_enter said */
	struct counts total;
};

static const char *prog = "uring-cat";

static void usage(FILE *to, int status)
{
	fprintf(to,
		"Usage: %s [-v] [-q DEPTH] [-b SIZE] [--ring N] [--nowait [--nowait-refused]]\n"
		"       [FILE...]\n"
		"Concatenate FILEs to standard output through io_uring, like cat(1).\n"
		"With no FILE, or when FILE is -, read standard input.\n"
		"\n"
		"  -q, --depth=DEPTH  reads in flight on a regular file (1-%d, default %d)\n"
		"  -b, --block=SIZE   bytes per read (default 128k; k and m suffixes)\n"
		"  -v, --verbose      print submissions, completions and bytes on stderr\n"
		"      --ring=N       SQ and CQ of N entries (default DEPTH + 2): a CQ\n"
		"                     smaller than the reads in flight overflows\n"
		"      --nowait       RWF_NOWAIT on pipes: poll on -EAGAIN, then retry\n"
		"      --nowait-refused  with --nowait: act as kernels whose pipes refuse\n"
		"                     RWF_NOWAIT (before 6.4: Debian's 6.1, 5.10): plain reads\n"
		"                     and writes\n"
		"  -h, --help         print this help\n",
		prog, MAX_DEPTH, DEFAULT_DEPTH);
	/* -h: stdout can fail like any output (>/dev/full, >&-), as cat's does */
	if (to == stdout && (fflush(stdout) || ferror(stdout)))
		err(1, "standard output");
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

/* The sysctl (Linux 6.6+, commit 76d3ccecfa18): 0 allowed, 1 only for
 * CAP_SYS_ADMIN and members of io_uring_group, 2 off. */
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

	unsigned entries = c->depth + 2; /* reads, one write, its poll */

	/* --ring N: an SQ of N entries and a CQ as small as the kernel allows
	 * (IORING_SETUP_CQSIZE, 5.5: never below the SQ): fewer than the
	 * reads in flight, so completions overflow the CQ. */
	if (c->ring_entries) {
		entries = c->ring_entries;
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = entries;
	}
	ret = io_uring_queue_init_params(entries, &c->ring, &p);
	if (ret == -EPERM || ret == -ENOSYS) {
		uname(&u);
		if (ret == -EPERM && io_uring_disabled() > 0)
			fprintf(stderr, "%s: io_uring_setup: %s: the kernel.io_uring_disabled"
				" sysctl is %d (1: only CAP_SYS_ADMIN and members of"
				" kernel.io_uring_group, 2: nobody)\n", prog, strerror(-ret),
				io_uring_disabled());
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
	/*
	 * Offset -1 means "the file position", as write(2) uses it: how a
	 * regular stdout is written. (A pipe would not need it: a stream has
	 * no position and ignores the offset.) IORING_OP_READ and _WRITE came
	 * in the same release, so this probe stands for them too.
	 */
	if (!(p.features & IORING_FEAT_RW_CUR_POS)) {
		uname(&u);
		fprintf(stderr, "%s: this kernel (%s) lacks IORING_FEAT_RW_CUR_POS"
			" (Linux 5.6), needed to write stdout at its position\n",
			prog, u.release);
		exit(77);
	}
	c->done.size = 2 * c->depth + 4; /* every request in flight, and cancels */
	c->done.cqes = calloc(c->done.size, sizeof(*c->done.cqes));
	if (!c->done.cqes)
		errx(1, "cannot allocate %u CQEs", c->done.size);
}

static void submit(struct cat *c, unsigned wait_nr);

/*
 * With the default ring (depth + 2 entries) the SQ is never full; with
 * --ring N it is, and submitting what is queued makes room.
 */
static struct io_uring_sqe *get_sqe(struct cat *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

	if (!sqe) {
		submit(c, 0);
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

/*
 * Anything we print on stderr may go to the same open file as stdout
 * (2>&1) and move its position: the next write finds out where it is.
 */
static void stderr_written(struct cat *c)
{
	c->out_pos = -1;
}

static void report(struct cat *c, struct input *in, int err)
{
	warnx("%s: %s", in->name, strerror(err));
	stderr_written(c);
}

/*
 * Pipes accept RWF_NOWAIT from Linux 6.4 on, where commit afed6271f5b0
 * gave them FMODE_NOWAIT (and c04fe8e32f90, 6.4-rc2, made them honour
 * it); older kernels, Debian's 6.1 and 5.10 among them, refuse the flag
 * with -EOPNOTSUPP. Then do without it: a plain read or write, which
 * io_uring makes wait without blocking us.
 */
static void refuse_nowait(struct cat *c)
{
	c->nowait_refused = true;
	if (c->verbose) {
		fprintf(stderr, "%s: RWF_NOWAIT on a pipe: %s: reading and writing"
			" pipes without it\n", prog, strerror(EOPNOTSUPP));
		stderr_written(c);
	}
}

/* Did that request carry RWF_NOWAIT? */
static bool nowait_on(struct cat *c, bool pipe)
{
	return c->nowait && !c->nowait_refused && pipe;
}

/*
 * --nowait-refused makes this kernel answer as 6.1 and 5.10 do. One more
 * flag bit, which no kernel defines, makes kiocb_set_rw_flags() refuse the
 * request with -EOPNOTSUPP: the CQE an old kernel gives RWF_NOWAIT on a
 * pipe. So the fallback in on_read() and on_write() runs for real.
 */
enum { RWF_NO_KERNEL_HAS = 0x40000000 };

/* The rw_flags of a request: RWF_NOWAIT on a pipe under --nowait, or 0. */
static int nowait_flags(struct cat *c, bool pipe)
{
	if (!nowait_on(c, pipe))
		return 0;
	return c->play_old_pipes ? RWF_NOWAIT | RWF_NO_KERNEL_HAS : RWF_NOWAIT;
}

/* Read the rest of the slot: from off + got on a file, or what comes on a stream. */
static void submit_read(struct cat *c, struct input *in, struct slot *s)
{
	struct io_uring_sqe *sqe = get_sqe(c);
	off_t at = in->positional ? s->off + (off_t)s->got : -1;

	io_uring_prep_read(sqe, in->fd, s->buf + s->got, s->len - s->got, at);
	sqe->rw_flags = nowait_flags(c, in->pipe);
	tag(sqe, c, s, OP_READ);
	in->n.reads++;
}

/*
 * -EAGAIN: "not ready, and you told me not to wait". Before Linux 5.15
 * (commit 5d329e1286b0; 5.14.7 has it too) io_uring answers so for any
 * O_NONBLOCK descriptor; later kernels only when the file cannot wait
 * without blocking a thread, or for RWF_NOWAIT (--nowait).
 * Ask to be told when it is ready, then try again: the readiness model.
 */
static void submit_poll(struct cat *c, struct slot *s, int fd, enum op op)
{
	struct io_uring_sqe *sqe = get_sqe(c);

	io_uring_prep_poll_add(sqe, fd, op == OP_POLL_IN ? POLLIN : POLLOUT);
	tag(sqe, c, s, op);
}

/*
 * Offset -1: at stdout's current position, which the kernel moves as
 * write(2) would. So whatever else writes to the same open file (our own
 * stderr after 2>&1, the next command after we exit or are killed) lands
 * after our bytes, never on them; and O_APPEND (>>) appends.
 */
static void submit_write(struct cat *c, struct slot *s)
{
	struct io_uring_sqe *sqe = get_sqe(c);

	if (c->out_seekable && c->out_pos < 0)
		c->out_pos = lseek(STDOUT_FILENO, 0, SEEK_CUR);
	io_uring_prep_write(sqe, STDOUT_FILENO, s->buf + s->put, s->got - s->put, -1);
	sqe->rw_flags = nowait_flags(c, S_ISFIFO(c->out.st_mode) || S_ISSOCK(c->out.st_mode));
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
			report(c, in, s->err);
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
	if (res == -EOPNOTSUPP && nowait_on(c, in->pipe) && !in->done) {
		refuse_nowait(c);
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

/*
 * A kernel bug, seen on Linux 6.18: a write at offset -1 to a regular file
 * that is cut short (ulimit -f, a full disk) reports its bytes but leaves
 * the file position where the write began. The kernel's io_write()
 * retries the rest of a short write to a regular file itself; when that
 * retry fails, the CQE carries the bytes written so far, but kiocb_done()
 * stores the new position only for a result >= 0 (both in
 * https://github.com/torvalds/linux/blob/master/io_uring/rw.c). Our next
 * write would land on those bytes. So after a short write, and only then,
 * look: if the position has not moved, move it past our bytes.
 */
static void fix_position_after_short_write(struct cat *c, int res)
{
	if (lseek(STDOUT_FILENO, 0, SEEK_CUR) == c->out_pos)
		lseek(STDOUT_FILENO, c->out_pos + res, SEEK_SET);
}

static void on_write(struct cat *c, struct input *in, struct slot *s, int res)
{
	bool out_pipe = S_ISFIFO(c->out.st_mode) || S_ISSOCK(c->out.st_mode);

	if (res == -EAGAIN) {
		in->n.eagain++;
		submit_poll(c, s, STDOUT_FILENO, OP_POLL_OUT);
		return;
	}
	if (res == -EINTR) {
		submit_write(c, s);
		return;
	}
	if (res == -EOPNOTSUPP && nowait_on(c, out_pipe)) {
		refuse_nowait(c);
		submit_write(c, s);
		return;
	}
	if (res <= 0) {
		/* A write of 0 bytes would loop forever: call it a full disk. */
		c->write_err = res == 0 ? ENOSPC : -res;
		in->stop = in->done = true;
	} else {
		if (c->out_seekable && c->out_pos >= 0) {
			if ((size_t)res < s->got - s->put)
				fix_position_after_short_write(c, res);
			c->out_pos += res;
		}
		s->put += res;
		in->n.bytes += res;
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

static void handle(struct cat *c, struct input *in, const struct io_uring_cqe *cqe)
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

/*
 * Copy every CQE that is ready out of the CQ and give the CQ its room
 * back. Handling them comes later: a handler that needs an SQE may have
 * to submit, and a busy ring is answered by calling this again.
 */
static unsigned take_cqes(struct cat *c)
{
	struct done_queue *q = &c->done;
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&c->ring, head, cqe) {
		if (q->count == q->size)
			break; /* cannot happen: the queue holds all in flight */
		q->cqes[(q->head + q->count++) % q->size] = *cqe;
		seen++;
	}
	io_uring_cq_advance(&c->ring, seen);
	c->reaped += seen;
	return seen;
}

/*
 * -EBUSY: the CQ overflowed and the kernel cannot flush the overflow
 * until we make room (Linux 5.5 to 5.12; from 5.13 it keeps accepting
 * SQEs). -EAGAIN: it could not get memory for the requests just now.
 * Either way io_uring_enter(2) says what to do: reap completions, then
 * submit again. Nothing was submitted, so nothing is lost.
 */
static void make_room(struct cat *c, int err, unsigned tries)
{
	struct io_uring_cqe *cqe;
	struct timespec pause = { .tv_nsec = 1000000 };

	c->busy++;	/* -v reports it at the end: a write may be in flight */
	c->busy_err = -err;
	if (take_cqes(c))
		return;
	if (c->submitted > c->reaped) {	/* wait for one, without submitting */
		if (io_uring_wait_cqe(&c->ring, &cqe) == 0)
			take_cqes(c);
	} else if (tries < 1000) {	/* nothing to reap: give the kernel 1 ms */
		nanosleep(&pause, NULL);
	} else {
		errx(1, "io_uring_enter: %s, with nothing in flight to reap", strerror(-err));
	}
}

/* Submit what is queued; with wait_nr, sleep until that many completions. */
static void submit(struct cat *c, unsigned wait_nr)
{
	unsigned tries = 0;
	int ret;

	for (;;) {
		ret = io_uring_submit_and_wait(&c->ring, wait_nr);
		c->enters++;
		if (ret >= 0)
			break;
		if (ret == -EBUSY || ret == -EAGAIN)
			make_room(c, ret, ++tries);
		else if (ret != -EINTR) /* a signal before any SQE was taken */
			errx(1, "io_uring_submit_and_wait: %s", strerror(-ret));
	}
	c->submitted += ret;
}

/* Submit, sleep until at least one completion, handle all there are. */
static void submit_and_reap(struct cat *c, struct input *in)
{
	struct done_queue *q = &c->done;

	submit(c, q->count ? 0 : 1); /* CQEs set aside by make_room() count */
	take_cqes(c);
	while (q->count) {
		struct io_uring_cqe cqe = q->cqes[q->head];

		q->head = (q->head + 1) % q->size;
		q->count--;
		handle(c, in, &cqe);
	}
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
	stderr_written(c);
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
 * before Linux 5.15 (commit 5d329e1286b0) honours it: a read that would
 * wait for the disk fails with -EAGAIN, and poll says a regular file is
 * always ready, so retrying would spin. (Since, the kernel retries such a
 * read itself when the file supports non-blocking attempts; on 6.18 an
 * uncached ext4 file opened O_NONBLOCK reads normally.) Clear it
 * on a regular stdin or stdout only, and give it back: the flag belongs to
 * the open file, which the shell and the next command share.
 */
static int flags_to_give_back[2] = { -1, -1 };	/* stdin's, stdout's */

static void blocking_if_regular(int fd)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || !(fl & O_NONBLOCK) || fstat(fd, &st) || !S_ISREG(st.st_mode))
		return;
	if (fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0)
		flags_to_give_back[fd] = fl;
}

/* At the end of "-", and at exit (atexit(), so exit 77 and errx() too). */
static void give_flags_back(int fd)
{
	if (flags_to_give_back[fd] >= 0)
		fcntl(fd, F_SETFL, flags_to_give_back[fd]);
	flags_to_give_back[fd] = -1;
}

static void give_all_flags_back(void)
{
	give_flags_back(STDIN_FILENO);
	give_flags_back(STDOUT_FILENO);
}

static int cat_file(struct cat *c, const char *name)
{
	struct input in = { .name = name, .fd = STDIN_FILENO };
	bool is_stdin = strcmp(name, "-") == 0;
	int status;
	off_t start;
	struct stat st;

	if (is_stdin && c->no_stdin) {
		report(c, &in, EBADF);
		return 1;
	}
	if (!is_stdin && (in.fd = open(name, O_RDONLY | O_CLOEXEC)) < 0) {
		report(c, &in, errno);
		return 1;
	}
	if (fstat(in.fd, &st)) {
		report(c, &in, errno);
		status = 1;
		goto out;
	}
	/* As cat: a file with bytes to read can't be its own output (it
	 * would grow for ever); an empty one (cat f >f) just prints nothing. */
	if (S_ISREG(st.st_mode) && S_ISREG(c->out.st_mode) &&
	    st.st_dev == c->out.st_dev && st.st_ino == c->out.st_ino &&
	    st.st_size > (is_stdin ? lseek(in.fd, 0, SEEK_CUR) : 0)) {
		warnx("%s: input file is output file", name);
		stderr_written(c);
		status = 1;
		goto out;
	}
	if (is_stdin)
		blocking_if_regular(STDIN_FILENO);
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
	if (is_stdin)
		give_flags_back(STDIN_FILENO);
	if (!is_stdin)
		close(in.fd);
	print_counts(c, name, &in.n);
	add_counts(&c->total, &in.n);
	return status;
}

/*
 * Only a regular file without O_APPEND has a position our writes move
 * (O_APPEND writes go to the end whatever it says), so only there can a
 * short write leave it behind (fix_position_after_short_write()).
 */
static bool out_seekable(const struct stat *out)
{
	int fl = fcntl(STDOUT_FILENO, F_GETFL);

	return S_ISREG(out->st_mode) && fl >= 0 && !(fl & O_APPEND);
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
		{ "nowait-refused", no_argument, NULL, 'R' },
		{ "ring", required_argument, NULL, 'r' },
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
		case 'R':
			c->play_old_pipes = true;
			break;
		case 'r':
			c->ring_entries = parse_size(optarg, MAX_DEPTH);
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
	int status = 0;

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
	atexit(give_all_flags_back);
	blocking_if_regular(STDOUT_FILENO);
	c.out_seekable = out_seekable(&c.out);
	c.out_pos = -1;
	setup_ring(&c);
	alloc_slots(&c);

	for (; *files && !c.write_err; files++)
		status |= cat_file(&c, *files);

	if (c.verbose)
		fprintf(stderr, "%s: total: %" PRIu64 " bytes, %" PRIu64
			" SQEs submitted in %" PRIu64 " io_uring_enter calls, %"
			PRIu64 " CQEs\n", prog, c.total.bytes, c.sqes, c.enters,
			c.total.cqes);
	if (c.verbose && c.busy)
		fprintf(stderr, "%s: io_uring_enter said %s %" PRIu64 " time(s):"
			" reaped, then submitted again\n", prog,
			strerror(c.busy_err), c.busy);
	io_uring_queue_exit(&c.ring);
	free(c.done.cqes);
	free(c.slots[0].buf);
	free(c.slots);
	give_all_flags_back();	/* before a raise(SIGPIPE), which skips atexit() */
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
