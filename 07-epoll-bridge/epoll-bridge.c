/*
 * epoll-bridge: an epoll loop whose file work goes through io_uring.
 *
 * What it shows: the loop a GUI toolkit or an existing server already has
 * (epoll_wait at the bottom, callbacks on ready fds) gaining io_uring for
 * the work epoll cannot do: opening and reading files. It reads paths, one
 * per line, from stdin (epoll tells it when stdin is readable), pushes the
 * openat, the reads and the close of each file through the ring, and learns
 * of completions from an eventfd registered with the ring and sitting in
 * the same epoll set. It prints "BYTES PATH" as each file completes.
 *
 * With --reverse the two are stacked the other way round: the ring watches
 * the epoll fd with IORING_OP_POLL_ADD, and the program sleeps only in
 * io_uring_wait_cqe. With --ring-fd the epoll set holds the ring's own fd
 * instead of an eventfd: the third way (see the README for when it works).
 * Same input, same output.
 *
 * Why it matters: an eventfd post is a hint, not a count. One post may
 * stand for many CQEs, and a wakeup may find nothing new, so every wakeup
 * drains the whole CQ. The counters printed at exit show it.
 *
 * Usage:    epoll-bridge [--reverse [--oneshot] | --ring-fd] [--defer] [-q DEPTH] <LIST
 *           (--no-toggle, --skip-recheck and --no-safety-net are for
 *           measuring and testing: see usage() and the README)
 * Example:  find /etc -type f | ./epoll-bridge
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o epoll-bridge epoll-bridge.c -luring
 * Requires: Linux 5.6 (IORING_OP_OPENAT/READ/CLOSE, the opcode probe),
 *           5.8 for IORING_CQ_EVENTFD_DISABLED; --reverse uses multishot
 *           poll (5.13) and falls back to re-armed one-shot poll (--oneshot
 *           forces it). liburing 2.3+ (io_uring_get_events first appears
 *           in 2.3); CI also builds it against the newest liburing Debian
 *           ships (tools/liburing-matrix).
 * --defer makes the ring with IORING_SETUP_DEFER_TASKRUN (Linux 6.1): then
 * completions wait as task work until the program asks for them, and the
 * eventfd bridge must call io_uring_get_events() before it drains.
 *
 * Leaves out: a path naming a FIFO with no writer blocks its slot until a
 *           writer comes (like cat).
 */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <liburing.h>

enum {
	DEFAULT_DEPTH = 32,	/* files in flight at once */
	MAX_DEPTH = 4096,
	READ_SIZE = 16384,	/* per-file read buffer */
	STDIN_CHUNK = 4096,	/* one read(2) of stdin per readiness event */
	PENDING_HIGH = 1024,	/* stop reading stdin with this many queued paths */
	PENDING_LOW = 256,	/* ... and start again below this */
	SAFETY_NET_MS = 100,	/* epoll_wait timeout while requests are in flight */
};

/* epoll tags, and the user_data of the poll request on the epoll fd. */
enum { TAG_STDIN = 1, TAG_EVENTFD = 2, TAG_RING = 3 };
#define POLL_USER_DATA UINT64_MAX

/* Which bridge. */
enum mode { MODE_EVENTFD, MODE_REVERSE, MODE_RING_FD };

enum step { STEP_OPEN, STEP_READ, STEP_CLOSE };

/* A path read from stdin, queued until a job is free. */
struct pending {
	struct pending *next;
	char path[];
};

/* One file in flight. Exactly one of its requests is in the ring at a time. */
struct job {
	struct pending *node;	/* holds the path; freed when the job ends */
	const char *path;
	int fd;
	int err;		/* first error, reported once the fd is closed */
	enum step step;
	int64_t bytes;
	char *buf;
};

struct bridge {
	struct io_uring ring;
	int epfd, efd;
	enum mode mode;
	unsigned depth;

	struct job *jobs;
	unsigned *free_ids, nfree;
	struct pending *head, **tail;
	unsigned npending;

	bool stdin_in_set;	/* registered in the epoll set right now */
	bool stdin_always_ready; /* epoll said EPERM: a regular file or /dev/null */
	bool stdin_eof;
	bool epoll_hint;	/* --reverse: the epoll fd may have events */
	char line[PATH_MAX];
	size_t linelen;
	bool line_too_long, line_has_nul;
	unsigned long lineno;

	bool multishot, poll_armed;
	bool defer;		/* IORING_SETUP_DEFER_TASKRUN */
	bool no_toggle;		/* --no-toggle: leave the eventfd enabled throughout */
	bool skip_recheck;	/* --skip-recheck: drain once, no second look (a test) */
	bool no_safety_net;	/* --no-safety-net: epoll_wait never times out (a test) */
	int stdout_err;		/* first error writing stdout */

	unsigned long paths, failed, cqes;
	unsigned long wakeups, efd_posts, empty_wakeups;	/* epoll on top */
	unsigned long missed_wakeups;	/* CQEs found only by the timeout */
	unsigned long waits, poll_cqes;				/* ring on top */
};

static void usage(FILE *f)
{
	fprintf(f, "usage: epoll-bridge [--reverse [--oneshot] | --ring-fd] [--defer] [-q DEPTH] <LIST\n"
		"  reads paths, one per line, from stdin and prints BYTES PATH for each\n"
		"  (default)    epoll watches an eventfd registered with the ring\n"
		"  --reverse    the ring polls the epoll fd; sleeps in io_uring_wait_cqe\n"
		"  --oneshot    with --reverse: re-armed one-shot poll, as before Linux 5.13\n"
		"  --ring-fd    epoll watches the ring fd itself\n"
		"  --defer      a DEFER_TASKRUN ring (not with --ring-fd: it would hang)\n"
		"  -q DEPTH     files in flight at once (1-%d, default %d)\n"
		"  --no-toggle  default bridge: never disable the eventfd (to measure the toggle)\n"
		"  --skip-recheck  drain once per wakeup, without the look after re-enabling:\n"
		"               loses wakeups on purpose, to show the %d ms timeout catching them\n"
		"  --no-safety-net  no timeout: with --skip-recheck the default bridge hangs\n",
		MAX_DEPTH, DEFAULT_DEPTH, SAFETY_NET_MS);
}

static void check_standard_fds(void);
static void setup(struct bridge *b);
static void flush_stdout(struct bridge *b);
static void run_forward(struct bridge *b);
static void run_reverse(struct bridge *b);
static void teardown(struct bridge *b);

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "reverse", no_argument, NULL, 'r' },
		{ "ring-fd", no_argument, NULL, 'R' },
		{ "oneshot", no_argument, NULL, 'o' },
		{ "defer", no_argument, NULL, 'd' },
		{ "no-toggle", no_argument, NULL, 'T' },
		{ "skip-recheck", no_argument, NULL, 'S' },
		{ "no-safety-net", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bridge b = { .depth = DEFAULT_DEPTH, .epfd = -1, .efd = -1,
			    .multishot = true };
	int opt;

	while ((opt = getopt_long(argc, argv, "hq:", longopts, NULL)) != -1) {
		char *end;
		long v;

		switch (opt) {
		case 'r':
		case 'R':
			if (b.mode != MODE_EVENTFD) {
				warnx("--reverse and --ring-fd: choose one bridge");
				usage(stderr);
				return 2;
			}
			b.mode = opt == 'r' ? MODE_REVERSE : MODE_RING_FD;
			break;
		case 'o':
			b.multishot = false;
			break;
		case 'd':
			b.defer = true;
			break;
		case 'T':
			b.no_toggle = true;
			break;
		case 'S':
			b.skip_recheck = true;
			break;
		case 'N':
			b.no_safety_net = true;
			break;
		case 'q':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 || v > MAX_DEPTH) {
				warnx("-q: must be a number from 1 to %d", MAX_DEPTH);
				usage(stderr);
				return 2;
			}
			b.depth = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		warnx("unexpected argument: %s", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!b.multishot && b.mode != MODE_REVERSE) {
		warnx("--oneshot: only with --reverse (the other bridges poll nothing)");
		usage(stderr);
		return 2;
	}
	if (b.no_toggle && b.mode != MODE_EVENTFD) {
		warnx("--no-toggle: only with the default bridge (the others have no eventfd)");
		usage(stderr);
		return 2;
	}
	if ((b.skip_recheck || b.no_safety_net) && b.mode == MODE_REVERSE) {
		warnx("--skip-recheck, --no-safety-net: not with --reverse (it sleeps in io_uring_wait_cqe)");
		usage(stderr);
		return 2;
	}
	if (b.defer && b.mode == MODE_RING_FD) {
		/* On a DEFER_TASKRUN ring a task-work completion is not in the
		 * CQ until the task asks for it (io_uring_get_events). The ring
		 * fd would poll readable meanwhile, but since Linux 6.3 queueing
		 * that work does not wake the ring fd's pollers, so epoll_wait
		 * sleeps forever (wakeup-probe shows it; README). */
		warnx("--ring-fd cannot work on a DEFER_TASKRUN ring (see README)");
		usage(stderr);
		return 2;
	}

	check_standard_fds();
	setup(&b);
	if (b.mode == MODE_REVERSE)
		run_reverse(&b);
	else
		run_forward(&b);

	flush_stdout(&b);	/* results first, then the counters */
	fprintf(stderr, "epoll-bridge: %lu paths, %lu failed, %lu CQEs, ",
		b.paths, b.failed, b.cqes);
	if (b.mode == MODE_REVERSE)
		fprintf(stderr, "%lu sleeps in io_uring_wait_cqe, %lu poll CQEs (%s poll)\n",
			b.waits, b.poll_cqes, b.multishot ? "multishot" : "one-shot");
	else if (b.mode == MODE_RING_FD)
		fprintf(stderr, "%lu ring fd wakeups (%lu found nothing), %lu missed wakeups\n",
			b.wakeups, b.empty_wakeups, b.missed_wakeups);
	else
		fprintf(stderr, "%lu eventfd wakeups (%lu posts, %lu found nothing), %lu missed wakeups\n",
			b.wakeups, b.efd_posts, b.empty_wakeups, b.missed_wakeups);
	teardown(&b);
	if (b.stdout_err) {
		warnx("stdout: %s", strerror(b.stdout_err));
		return 1;
	}
	return b.failed ? 1 : 0;
}

/* ---- setting up: ring, probe, epoll set, eventfd ---------------------- */

/*
 * The ring, the epoll fd, the eventfd and every file we open take the
 * lowest free descriptor, so a closed 0, 1 or 2 would hand one of them a
 * standard number. A stdin that can never be read must not reach the loop:
 * closed (<&-: the ring would get descriptor 0, and the loop would wait on
 * the ring's own fd as if it were stdin, forever) or write-only (the write
 * end of a pipe never polls readable). A closed or read-only stdout (>&-)
 * would send every result into the ring's fd: refuse it too, as cat's
 * "write error: Bad file descriptor" does. A closed stderr (2>&-) only
 * means nobody reads our error lines: hold 2 with /dev/null, so they can
 * never land in a descriptor of ours.
 */
static void check_standard_fds(void)
{
	int in = fcntl(STDIN_FILENO, F_GETFL);
	int out = fcntl(STDOUT_FILENO, F_GETFL);

	if (fcntl(STDERR_FILENO, F_GETFD) == -1 &&
	    open("/dev/null", O_WRONLY) != STDERR_FILENO)
		exit(1);	/* nowhere to say why: the exit status says it */
	if (in == -1 || (in & O_ACCMODE) == O_WRONLY)
		errx(1, "stdin: %s", strerror(EBADF));
	if (out == -1 || (out & O_ACCMODE) == O_RDONLY)
		errx(1, "stdout: %s", strerror(EBADF));
}

/* Exit 77: this kernel or environment lacks what the lesson needs. */
static void missing(const char *what)
{
	struct utsname u;

	if (uname(&u) != 0)
		strcpy(u.release, "unknown");
	fprintf(stderr, "epoll-bridge: %s (this kernel: %s)\n", what, u.release);
	exit(77);
}

static void setup_ring(struct bridge *b)
{
	static const struct { int op; const char *name; } needed[] = {
		{ IORING_OP_OPENAT, "IORING_OP_OPENAT (Linux 5.6)" },
		{ IORING_OP_READ, "IORING_OP_READ (Linux 5.6)" },
		{ IORING_OP_CLOSE, "IORING_OP_CLOSE (Linux 5.6)" },
		{ IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD (Linux 5.1)" },
	};
	struct io_uring_probe *probe;
	/* One request per job, plus the poll on the epoll fd in --reverse.
	 * The CQ is twice the SQ, so it can never overflow. DEFER_TASKRUN
	 * requires SINGLE_ISSUER: only this thread touches the ring. */
	unsigned flags = b->defer ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN : 0;
	int ret = io_uring_queue_init(b->depth + 1, &b->ring, flags);

	if (ret == -EPERM || ret == -ENOSYS)
		missing(ret == -EPERM
			? "io_uring_setup: Operation not permitted: io_uring is blocked here "
			  "(a container's seccomp profile, or the kernel.io_uring_disabled sysctl)"
			: "io_uring_setup: Function not implemented: this kernel has no "
			  "io_uring (Linux 5.1) or a sandbox hides it");
	/* A kernel before 6.1 answers EINVAL to flags it does not know. */
	if (ret == -EINVAL && b->defer)
		missing("io_uring_setup: Invalid argument: --defer needs "
			"IORING_SETUP_DEFER_TASKRUN (Linux 6.1); run without it");
	/* Before Linux 5.12 (commit 26bfa89e25f4) the rings' memory counted
	 * against RLIMIT_MEMLOCK, often 64 KiB for a user: a big -q ends here. */
	if (ret == -ENOMEM)
		errx(1, "io_uring_queue_init: %s (before Linux 5.12 the rings count "
		     "against the locked-memory limit, ulimit -l: try a smaller -q)",
		     strerror(-ret));
	if (ret < 0)
		errx(1, "io_uring_queue_init: %s", strerror(-ret));

	probe = io_uring_get_probe_ring(&b->ring);
	if (!probe)
		missing("the opcode probe (IORING_REGISTER_PROBE, Linux 5.6) failed");
	for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
		if (!io_uring_opcode_supported(probe, needed[i].op)) {
			io_uring_free_probe(probe);
			missing(needed[i].name);
		}
	io_uring_free_probe(probe);

	/* io_uring_cq_eventfd_toggle needs the CQ flags word (cq_off.flags). */
	if (b->mode == MODE_EVENTFD && !b->ring.cq.kflags)
		missing("IORING_CQ_EVENTFD_DISABLED (Linux 5.8) is missing");
}

static void stdin_watch(struct bridge *b, bool on);

static void setup(struct bridge *b)
{
	setup_ring(b);

	b->jobs = calloc(b->depth, sizeof *b->jobs);
	b->free_ids = calloc(b->depth, sizeof *b->free_ids);
	if (!b->jobs || !b->free_ids)
		err(1, "calloc");
	for (unsigned i = 0; i < b->depth; i++) {
		b->jobs[i].buf = malloc(READ_SIZE);
		if (!b->jobs[i].buf)
			err(1, "malloc");
		b->free_ids[b->nfree++] = b->depth - 1 - i;
	}
	b->tail = &b->head;

	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0)
		err(1, "epoll_create1");
	/*
	 * Regular files (and /dev/null) are always readable, so epoll refuses
	 * them with EPERM. Such a stdin is simply read whenever we want more
	 * paths; everything else (pipe, tty, socket) waits for EPOLLIN.
	 * stdin stays blocking: level-triggered epoll plus one read(2) per
	 * event never blocks, and O_NONBLOCK would leak into the shell that
	 * shares this open file description.
	 */
	stdin_watch(b, true);

	if (b->mode == MODE_REVERSE)
		return;
	if (b->mode == MODE_RING_FD) {
		/* The ring fd polls readable while the CQ holds CQEs. */
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_RING };

		if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->ring.ring_fd, &ev) != 0)
			err(1, "epoll_ctl: ring fd");
		return;
	}
	/* The eventfd is only ever read after epoll said so, but a wakeup
	 * can be stale: non-blocking, so a read can never hang the loop. */
	b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->efd < 0)
		err(1, "eventfd");
	int ret = io_uring_register_eventfd(&b->ring, b->efd);
	if (ret < 0)
		errx(1, "io_uring_register_eventfd: %s", strerror(-ret));
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_EVENTFD };
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->efd, &ev) != 0)
		err(1, "epoll_ctl: eventfd");
}

static void teardown(struct bridge *b)
{
	while (b->head) {
		struct pending *p = b->head;

		b->head = p->next;
		free(p);
	}
	for (unsigned i = 0; i < b->depth; i++)
		free(b->jobs[i].buf);
	free(b->jobs);
	free(b->free_ids);
	io_uring_queue_exit(&b->ring);
	if (b->efd >= 0)
		close(b->efd);
	close(b->epfd);
}

/* ---- stdin: paths in, one per line ------------------------------------ */

/* Add stdin to the epoll set or take it out (flow control: with many
 * paths queued we stop reading, and the writer blocks on a full pipe). */
static void stdin_watch(struct bridge *b, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_STDIN };

	if (b->stdin_always_ready || on == b->stdin_in_set)
		return;
	if (epoll_ctl(b->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, STDIN_FILENO, &ev) == 0) {
		b->stdin_in_set = on;
		b->epoll_hint = on;	/* --reverse: look at once, it may be ready */
	} else if (errno == EPERM) {
		b->stdin_always_ready = true;
	} else {
		err(1, "epoll_ctl: stdin");
	}
}

/* Do we want to read stdin now? */
static bool stdin_wanted(const struct bridge *b)
{
	return !b->stdin_eof && b->npending < PENDING_HIGH;
}

static void update_stdin_watch(struct bridge *b)
{
	if (b->stdin_eof || b->npending >= PENDING_HIGH)
		stdin_watch(b, false);
	else if (b->npending < PENDING_LOW)
		stdin_watch(b, true);
}

/*
 * stdout failed: its reader went away with SIGPIPE ignored (EPIPE), or the
 * disk is full. Like cat, take no more work: the queued paths and the rest
 * of stdin are dropped, the files in flight finish, and main() reports the
 * error and exits 1. Otherwise an endless list would keep us busy forever.
 */
static void stop_intake(struct bridge *b)
{
	while (b->head) {
		struct pending *p = b->head;

		b->head = p->next;
		free(p);
	}
	b->tail = &b->head;
	b->npending = 0;
	b->stdin_eof = true;
	update_stdin_watch(b);
}

static void stdout_failed(struct bridge *b, int errnum)
{
	if (b->stdout_err)
		return;		/* the first error is the one to report */
	b->stdout_err = errnum;
	stop_intake(b);
}

/* Before sleeping, and before an error line: readers see each result as
 * soon as we wait, and stdout and stderr stay in completion order. */
static void flush_stdout(struct bridge *b)
{
	if (fflush(stdout) != 0)
		stdout_failed(b, errno);
}

static void fail(struct bridge *b, const char *context, int errnum)
{
	flush_stdout(b);
	warnx("%s: %s", context, strerror(errnum));
	b->failed++;
}

/* A whole line has arrived: queue its path. Empty lines are skipped. */
static void end_line(struct bridge *b)
{
	char where[64];

	b->lineno++;
	snprintf(where, sizeof where, "stdin line %lu", b->lineno);
	if (b->line_too_long) {
		b->paths++;
		fail(b, where, ENAMETOOLONG);
	} else if (b->line_has_nul) {
		b->paths++;
		fail(b, where, EINVAL);	/* a path cannot hold a NUL byte */
	} else if (b->linelen > 0) {
		struct pending *p = malloc(sizeof *p + b->linelen + 1);

		if (!p)
			err(1, "malloc");
		memcpy(p->path, b->line, b->linelen);
		p->path[b->linelen] = '\0';
		p->next = NULL;
		*b->tail = p;
		b->tail = &p->next;
		b->npending++;
		b->paths++;
	}
	b->linelen = 0;
	b->line_too_long = b->line_has_nul = false;
}

/* One read(2) of stdin. A line may span many reads; lines longer than
 * PATH_MAX cannot be paths and are reported, not stored. */
static void read_stdin(struct bridge *b)
{
	char chunk[STDIN_CHUNK];
	ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (n < 0)
			fail(b, "stdin", errno);
		if (b->linelen > 0 || b->line_too_long || b->line_has_nul)
			end_line(b);	/* last line without a newline */
		b->stdin_eof = true;
		update_stdin_watch(b);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (chunk[i] == '\n')
			end_line(b);
		else if (chunk[i] == '\0')
			b->line_has_nul = true;
		else if (b->linelen < sizeof b->line - 1)
			b->line[b->linelen++] = chunk[i];
		else
			b->line_too_long = true;
	}
	update_stdin_watch(b);
}

/* ---- the ring: openat, read until EOF, close --------------------------- */

static struct io_uring_sqe *get_sqe(struct bridge *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	if (!sqe) {
		/* Cannot happen while requests <= SQ entries, but if the SQ
		 * is full, submitting what is there makes room. */
		int ret = io_uring_submit(&b->ring);

		if (ret < 0)
			errx(1, "io_uring_submit: %s", strerror(-ret));
		sqe = io_uring_get_sqe(&b->ring);
		if (!sqe)
			errx(1, "io_uring_get_sqe: submission queue full");
	}
	return sqe;
}

static void submit_step(struct bridge *b, struct job *j, enum step step)
{
	struct io_uring_sqe *sqe = get_sqe(b);

	j->step = step;
	switch (step) {
	case STEP_OPEN:
		io_uring_prep_openat(sqe, AT_FDCWD, j->path,
				     O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
		break;
	case STEP_READ:
		/* An explicit offset: fine for files, ignored by pipes. */
		io_uring_prep_read(sqe, j->fd, j->buf, READ_SIZE, (uint64_t)j->bytes);
		break;
	case STEP_CLOSE:
		io_uring_prep_close(sqe, j->fd);
		break;
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(j - b->jobs));
}

/* Give queued paths to free jobs. The rest wait: at most depth files are
 * in flight, so the ring never holds more requests than it has room for. */
static void start_jobs(struct bridge *b)
{
	while (b->nfree > 0 && b->head) {
		struct pending *p = b->head;
		struct job *j = &b->jobs[b->free_ids[--b->nfree]];

		b->head = p->next;
		if (!b->head)
			b->tail = &b->head;
		b->npending--;
		j->node = p;
		j->path = p->path;
		j->fd = -1;
		j->err = 0;
		j->bytes = 0;
		submit_step(b, j, STEP_OPEN);
	}
	update_stdin_watch(b);
}

static void finish_job(struct bridge *b, struct job *j)
{
	if (j->err)
		fail(b, j->path, j->err);
	else if (printf("%" PRId64 " %s\n", j->bytes, j->path) < 0)
		stdout_failed(b, errno);	/* a full buffer's write failed */
	free(j->node);
	j->node = NULL;
	j->path = NULL;
	b->free_ids[b->nfree++] = (unsigned)(j - b->jobs);
}

static void on_poll_cqe(struct bridge *b, const struct io_uring_cqe *cqe);

/* One CQE of a job: move that file one step on. */
static void on_cqe(struct bridge *b, const struct io_uring_cqe *cqe)
{
	struct job *j;

	b->cqes++;
	if (cqe->user_data == POLL_USER_DATA) {
		on_poll_cqe(b, cqe);
		return;
	}
	if (cqe->user_data >= b->depth)
		errx(1, "CQE with unknown user_data %llu", (unsigned long long)cqe->user_data);
	j = &b->jobs[cqe->user_data];

	switch (j->step) {
	case STEP_OPEN:
		if (cqe->res < 0) {
			j->err = -cqe->res;
			finish_job(b, j);	/* nothing to close */
		} else {
			j->fd = cqe->res;
			submit_step(b, j, STEP_READ);
		}
		break;
	case STEP_READ:
		if (cqe->res > 0) {
			j->bytes += cqe->res;	/* short reads are normal: read on */
			submit_step(b, j, STEP_READ);
		} else if (cqe->res == -EINTR || cqe->res == -EAGAIN) {
			submit_step(b, j, STEP_READ);
		} else {
			if (cqe->res < 0)
				j->err = -cqe->res;	/* e.g. EISDIR, EIO */
			submit_step(b, j, STEP_CLOSE);	/* EOF or error: close it */
		}
		break;
	case STEP_CLOSE:
		if (cqe->res < 0 && !j->err)
			j->err = -cqe->res;
		finish_job(b, j);
		break;
	}
}

/* Reap every CQE there is. Returns how many. */
static unsigned drain_cq(struct bridge *b)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		struct io_uring_cqe copy = *cqe;

		/* Mark it seen first: on_cqe may queue SQEs, never CQEs, but a
		 * copy keeps the rule simple: never touch a CQE after seen. */
		io_uring_cqe_seen(&b->ring, cqe);
		on_cqe(b, &copy);
		n++;
	}
	return n;
}

static void submit(struct bridge *b)
{
	int ret = io_uring_submit(&b->ring);

	if (ret < 0)
		errx(1, "io_uring_submit: %s", strerror(-ret));
}

static bool finished(const struct bridge *b)
{
	return b->stdin_eof && !b->head && b->nfree == b->depth;
}

/* ---- bridge 1: epoll on top, the ring's eventfd in the epoll set ------- */

/*
 * Only for --defer. On a DEFER_TASKRUN ring, completions wait as task
 * work until the task enters the kernel to get them: the eventfd fires
 * when such work is queued, but the CQ stays empty until
 * io_uring_get_events(). Without that call this bridge hangs.
 */
static void fetch_completions(struct bridge *b)
{
	int ret;

	if (!b->defer)
		return;		/* a plain ring posts CQEs by itself */
	ret = io_uring_get_events(&b->ring);
	if (ret < 0 && ret != -EINTR)
		errx(1, "io_uring_get_events: %s", strerror(-ret));
}

/*
 * The eventfd said "something completed". Read it to reset it first. While
 * draining, tell the kernel not to signal at all
 * (IORING_CQ_EVENTFD_DISABLED): we are looking anyway, and the posts would
 * only cost wakeups that find nothing. A post that lands after the read
 * but before the kernel sees the switch-off makes the eventfd readable
 * again: at worst a wakeup that finds nothing. Re-enable, then look once
 * more: a CQE that arrived between the last peek and the re-enable posted
 * nothing.
 *
 * The second look closes the window only if the kernel, too, puts a full
 * fence between storing the CQ tail and reading the flag when another
 * thread (an io-wq worker) posts. On x86 the paths this program uses have
 * one on 6.1 (a spin_lock) and 6.18 (an smp_mb); nothing documents it, and
 * other kernels and architectures were not read, so run_forward()'s timeout
 * is what makes a lost post harmless (README).
 */
static void on_eventfd(struct bridge *b)
{
	uint64_t posts;
	unsigned got = 0;

	if (read(b->efd, &posts, sizeof posts) == (ssize_t)sizeof posts)
		b->efd_posts += posts;	/* posts since the last read, summed */
	else if (errno != EAGAIN)
		err(1, "read: eventfd");
	b->wakeups++;

	do {
		if (!b->no_toggle)
			io_uring_cq_eventfd_toggle(&b->ring, false);
		fetch_completions(b);
		got += drain_cq(b);
		start_jobs(b);
		/* Requests that complete inline here post no eventfd signal:
		 * the loop condition picks them up. */
		submit(b);
		if (!b->no_toggle)
			io_uring_cq_eventfd_toggle(&b->ring, true);
		/* Our half of the ordering: the re-enable (a store) must be
		 * visible before we read the CQ tail again (a load), and only
		 * a full fence orders a store before a later load. */
		io_uring_smp_mb();
		fetch_completions(b);	/* work queued while posts were off */
	} while (!b->skip_recheck && io_uring_cq_ready(&b->ring));

	if (got == 0)
		b->empty_wakeups++;
}

/* The third way: the ring fd itself was readable. Drain the same way; there
 * is no counter to reset and no switch to turn off while draining. */
static void on_ring_ready(struct bridge *b)
{
	unsigned got = 0;

	b->wakeups++;
	do {
		got += drain_cq(b);
		start_jobs(b);
		submit(b);
	} while (!b->skip_recheck && io_uring_cq_ready(&b->ring));
	if (got == 0)
		b->empty_wakeups++;
}

/*
 * The safety net. A post can be lost (see on_eventfd), so while requests
 * are in flight epoll_wait gives up after SAFETY_NET_MS and we look at the
 * CQ anyway. CQEs found here are wakeups that never came: count them, so
 * a run shows whether the net ever caught anything.
 */
static void on_timeout(struct bridge *b)
{
	fetch_completions(b);
	if (!io_uring_cq_ready(&b->ring))
		return;		/* nothing was lost: the I/O is just slow */
	b->missed_wakeups++;
	if (b->mode == MODE_EVENTFD)
		on_eventfd(b);
	else
		on_ring_ready(b);
}

static void run_forward(struct bridge *b)
{
	struct epoll_event evs[4];

	while (!finished(b)) {
		/* A file on stdin is never "ready" in epoll's sense: don't
		 * sleep while there is more of it to read. */
		bool poll_only = b->stdin_always_ready && stdin_wanted(b);
		bool in_flight = b->nfree < b->depth && !b->no_safety_net;
		int n;

		if (!poll_only) {
			flush_stdout(b);
			if (finished(b))
				break;	/* stdout failed: intake stopped */
		}
		n = epoll_wait(b->epfd, evs, 4,
			       poll_only ? 0 : in_flight ? SAFETY_NET_MS : -1);
		if (n < 0 && errno != EINTR)
			err(1, "epoll_wait");
		if (n == 0 && in_flight && !poll_only)
			on_timeout(b);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == TAG_STDIN)
				read_stdin(b);
			else if (evs[i].data.u32 == TAG_EVENTFD)
				on_eventfd(b);
			else
				on_ring_ready(b);
		}
		if (poll_only)
			read_stdin(b);
		start_jobs(b);
		submit(b);
	}
}

/* ---- bridge 2: the ring on top, polling the epoll fd ------------------- */

static void arm_poll(struct bridge *b)
{
	struct io_uring_sqe *sqe = get_sqe(b);

	if (b->multishot)
		io_uring_prep_poll_multishot(sqe, b->epfd, POLLIN);
	else
		io_uring_prep_poll_add(sqe, b->epfd, POLLIN);
	io_uring_sqe_set_data64(sqe, POLL_USER_DATA);
	b->poll_armed = true;
}

/*
 * The epoll fd became readable. A poll CQE is a hint like the eventfd:
 * ask epoll (without blocking) until it has nothing more to say. That
 * matters for a level-triggered fd in the set: epoll wakes pollers of its
 * own fd only when something new gets ready, not for an fd that stayed
 * ready because we read just one chunk of it.
 */
static void on_poll_cqe(struct bridge *b, const struct io_uring_cqe *cqe)
{
	b->poll_cqes++;
	if (!(cqe->flags & IORING_CQE_F_MORE))
		b->poll_armed = false;	/* one-shot, or multishot ended */
	if (cqe->res == -EINVAL && b->multishot) {
		b->multishot = false;	/* kernel < 5.13: no multishot poll */
		return;
	}
	if (cqe->res < 0 && cqe->res != -ECANCELED)
		errx(1, "poll on the epoll fd: %s", strerror(-cqe->res));
	b->epoll_hint = true;
}

static void drain_epoll(struct bridge *b)
{
	struct epoll_event evs[4];

	b->epoll_hint = false;
	while (b->stdin_in_set) {
		int n = epoll_wait(b->epfd, evs, 4, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err(1, "epoll_wait");
		if (n == 0)
			return;
		read_stdin(b);	/* stdin is the only fd in this set */
	}
}

static void run_reverse(struct bridge *b)
{
	/* Multishot has no feature bit: try it, on_poll_cqe falls back. */
	while (!finished(b)) {
		struct io_uring_cqe *cqe;

		if (!b->poll_armed)
			arm_poll(b);
		if (b->epoll_hint)
			drain_epoll(b);
		if (b->stdin_always_ready && stdin_wanted(b))
			read_stdin(b);
		start_jobs(b);
		if (finished(b))
			break;
		submit(b);
		if (!b->epoll_hint && !(b->stdin_always_ready && stdin_wanted(b)) &&
		    !io_uring_cq_ready(&b->ring)) {
			/* Nothing else to do: the one place this mode sleeps. */
			int ret;

			flush_stdout(b);
			if (finished(b))
				break;	/* stdout failed: intake stopped */
			ret = io_uring_wait_cqe(&b->ring, &cqe);
			if (ret < 0 && ret != -EINTR)
				errx(1, "io_uring_wait_cqe: %s", strerror(-ret));
			b->waits++;
		}
		drain_cq(b);
	}
}
