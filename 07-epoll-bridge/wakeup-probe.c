/*
 * wakeup-probe: which completions wake an epoll loop, through which door.
 *
 * What it shows: three ways to let epoll know that a ring has completions,
 * tried on this kernel rather than taken from a blog post:
 *   eventfd        io_uring_register_eventfd, the eventfd in the epoll set
 *   eventfd_async  io_uring_register_eventfd_async, the same
 *   ring fd        the ring's own fd in the epoll set
 * each on a plain ring and on a DEFER_TASKRUN ring, for three kinds of
 * completion: one posted inline while we submit (a NOP), one posted by task
 * work while we sleep in epoll_wait (a 20 ms timeout), and one posted by an
 * io-wq worker thread while we sleep (a read of a pipe forced there with
 * IOSQE_ASYNC, written to 20 ms later). On 6.18 that last one takes a
 * detour, seen with the io_uring tracepoints: the worker finds the pipe
 * empty and arms a poll instead of blocking; the write fires the poll,
 * whose task work runs in *our* thread (that is the EINTR in its row) and
 * hands the read back to io-wq, where a worker completes it and posts the
 * CQE.
 * For each it prints whether epoll_wait woke, how many times it returned
 * EINTR first, and whether the CQE was in the CQ before io_uring_get_events.
 *
 * Why it matters: epoll-bridge relies on the plain eventfd waking it for
 * every kind of completion; the other rows show what goes wrong with the
 * alternatives (see the README).
 *
 * Usage:    wakeup-probe [-t MS]    (MS: how long to wait for a wakeup, default 500)
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o wakeup-probe wakeup-probe.c -luring
 * Requires: Linux 5.6 (eventfd_async, IOSQE_ASYNC), liburing 2.3 (io_uring_get_events);
 *           DEFER_TASKRUN rows need Linux 6.1 and say so otherwise.
 */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <liburing.h>

#ifndef IORING_SETUP_DEFER_TASKRUN	/* headers older than Linux 6.1 */
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

enum notifier { EVENTFD, EVENTFD_ASYNC, RING_FD };
enum completion { INLINE, TASK_WORK, IO_WQ };

static const char *const notifier_name[] = { "eventfd", "eventfd_async", "ring fd" };
static const char *const completion_name[] = {
	"inline (NOP)", "task work (timeout)", "io-wq (read, IOSQE_ASYNC)",
};

static int wait_ms = 500;

static void usage(FILE *f)
{
	fprintf(f, "usage: wakeup-probe [-t MS]\n"
		"  tries each way of waking an epoll loop for io_uring completions\n"
		"  -t MS   how long to wait for a wakeup that may never come (default 500)\n");
}

/* Exit 77 when there is no io_uring at all. */
static void check_uring(int ret)
{
	struct utsname u;

	if (ret != -EPERM && ret != -ENOSYS)
		return;
	if (uname(&u) != 0)
		strcpy(u.release, "unknown");
	fprintf(stderr, "wakeup-probe: io_uring_setup: %s: %s (this kernel: %s)\n",
		strerror(-ret), ret == -EPERM
		? "io_uring is blocked here (a container's seccomp profile, or the "
		  "kernel.io_uring_disabled sysctl)"
		: "this kernel has no io_uring (Linux 5.1) or a sandbox hides it",
		u.release);
	exit(77);
}

/* Queue the request whose completion we want to be told about. For io-wq,
 * a read of a pipe that a child process writes 20 ms later, forced onto a
 * worker with IOSQE_ASYNC: the completion lands while we sleep, never
 * before. The worker does not block in the read: it finds the pipe empty
 * and arms a poll, and the rest goes as the header says (seen on 6.18;
 * before Linux 6.4 pipes lack FMODE_NOWAIT, and the path differs). Returns
 * the writer's pid, or 0. */
static pid_t submit_one(struct io_uring *ring, enum completion c,
			struct __kernel_timespec *ts, int pipefd[2], char *byte)
{
	pid_t pid = 0;
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int ret;

	if (!sqe)
		errx(1, "io_uring_get_sqe: submission queue full");
	if (c == INLINE) {
		io_uring_prep_nop(sqe);
	} else if (c == TASK_WORK) {
		io_uring_prep_timeout(sqe, ts, 0, 0);
	} else {
		io_uring_prep_read(sqe, pipefd[0], byte, 1, 0);
		sqe->flags |= IOSQE_ASYNC;
	}
	ret = io_uring_submit(ring);
	if (ret < 0)
		errx(1, "io_uring_submit: %s", strerror(-ret));
	if (c == IO_WQ) {
		pid = fork();
		if (pid < 0)
			err(1, "fork");
		if (pid == 0) {
			struct timespec pause = { .tv_nsec = 20 * 1000 * 1000 };

			nanosleep(&pause, NULL);
			_exit(write(pipefd[1], "x", 1) == 1 ? 0 : 1);
		}
	}
	return pid;
}

/*
 * Sleep in epoll_wait until it reports something, or until wait_ms pass
 * with nothing *after* the completion certainly happened: on a loaded
 * machine the writer may take longer than one window to run, and a late
 * writer must not read as "no wakeup". Counts the EINTRs on the way.
 */
static int wait_for_wakeup(int epfd, pid_t writer, int *eintr)
{
	struct epoll_event ev;
	bool written = writer == 0;

	for (;;) {
		int n = epoll_wait(epfd, &ev, 1, wait_ms);

		if (n < 0 && errno == EINTR) {
			/* EINTR with no signal at all: task work queued for
			 * this task interrupts its sleep so that the task
			 * runs it on the way out. */
			(*eintr)++;
			continue;
		}
		if (n < 0)
			err(1, "epoll_wait");
		if (n > 0 || written)
			return n;
		/* Nothing yet, and the writer may not have run: wait for it
		 * to finish, then give the wakeup one more full window. */
		if (waitpid(writer, NULL, 0) < 0)
			err(1, "waitpid");
		written = true;
	}
}

/* One cell of the table. Returns false if the ring kind is not available. */
static bool probe(unsigned ring_flags, enum notifier n, enum completion c)
{
	struct __kernel_timespec ts = { .tv_nsec = 20 * 1000 * 1000 };
	struct epoll_event ev = { .events = EPOLLIN };
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	int ret, epfd, efd = -1, woke, eintr = 0, pipefd[2];
	pid_t writer;
	char byte;
	bool visible;

	ret = io_uring_queue_init(4, &ring, ring_flags);
	check_uring(ret);
	if (ret == -EINVAL && ring_flags)
		return false;
	if (ret < 0)
		errx(1, "io_uring_queue_init: %s", strerror(-ret));

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		err(1, "epoll_create1");
	if (n == RING_FD) {
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, ring.ring_fd, &ev) != 0)
			err(1, "epoll_ctl: ring fd");
	} else {
		efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (efd < 0)
			err(1, "eventfd");
		ret = n == EVENTFD_ASYNC ? io_uring_register_eventfd_async(&ring, efd)
					 : io_uring_register_eventfd(&ring, efd);
		if (ret < 0)
			errx(1, "io_uring_register_eventfd: %s", strerror(-ret));
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev) != 0)
			err(1, "epoll_ctl: eventfd");
	}

	if (pipe2(pipefd, O_CLOEXEC) != 0)
		err(1, "pipe2");
	writer = submit_one(&ring, c, &ts, pipefd, &byte);
	woke = wait_for_wakeup(epfd, writer, &eintr);
	visible = io_uring_cq_ready(&ring) > 0;

	/* Collect the CQE whatever happened, so the request is gone. */
	ret = io_uring_get_events(&ring);
	if (ret < 0)
		errx(1, "io_uring_get_events: %s", strerror(-ret));
	ret = io_uring_wait_cqe(&ring, &cqe);
	if (ret < 0)
		errx(1, "io_uring_wait_cqe: %s", strerror(-ret));
	io_uring_cqe_seen(&ring, cqe);
	if (writer > 0)
		waitpid(writer, NULL, 0);	/* if wait_for_wakeup did not */
	close(pipefd[0]);
	close(pipefd[1]);

	printf("%-14s %-14s %-26s %-5s %-6d %s\n", notifier_name[n],
	       ring_flags ? "DEFER_TASKRUN" : "plain", completion_name[c],
	       woke ? "yes" : "no", eintr, visible ? "yes" : "no");
	if (efd >= 0)
		close(efd);
	close(epfd);
	io_uring_queue_exit(&ring);
	return true;
}

/*
 * Each cell in a child process of its own: tearing a ring down queues work
 * that can interrupt the next cell's epoll_wait, and would blur the count.
 * Returns the child's status: 0 done, 3 ring kind not available.
 */
static int run_cell(unsigned ring_flags, enum notifier n, enum completion c)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		err(1, "fork");
	if (pid == 0) {
		bool ok = probe(ring_flags, n, c);

		if (fflush(stdout) != 0) {
			warn("stdout");	/* e.g. >/dev/full: the row is lost */
			_exit(1);
		}
		_exit(ok ? 0 : 3);
	}
	if (waitpid(pid, &status, 0) < 0)
		err(1, "waitpid");
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE) {
		/* The reader of our stdout went away (| head): end as cat
		 * would, by the same signal, not with a silent exit 1. */
		signal(SIGPIPE, SIG_DFL);
		raise(SIGPIPE);
	}
	if (WIFSIGNALED(status))
		errx(1, "a probe cell died of signal %d (%s)", WTERMSIG(status),
		     strsignal(WTERMSIG(status)));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* A line of the table, flushed at once: the cells print from children. */
static void print_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (fflush(stdout) != 0)
		err(1, "stdout");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const unsigned ring_kinds[] = {
		0, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "ht:", longopts, NULL)) != -1) {
		switch (opt) {
		case 't': {
			char *end;
			long v;

			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 || v > 60000) {
				warnx("-t: must be 1 to 60000 ms");
				usage(stderr);
				return 2;
			}
			wait_ms = (int)v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	if (fcntl(STDOUT_FILENO, F_GETFD) == -1)
		errx(1, "stdout: %s", strerror(EBADF));
	print_line("%-14s %-14s %-26s %-5s %-6s %s\n", "notifier", "ring",
		   "completion", "woke", "EINTR", "CQE in CQ before get_events");
	for (int n = EVENTFD; n <= RING_FD; n++)
		for (size_t r = 0; r < sizeof ring_kinds / sizeof ring_kinds[0]; r++)
			for (int c = INLINE; c <= IO_WQ; c++) {
				int status = run_cell(ring_kinds[r], n, c);

				if (status == 77 || status == 1)
					return status;
				if (status == 3) {
					print_line("%-14s %-14s (needs Linux 6.1)\n",
						   notifier_name[n], "DEFER_TASKRUN");
					break;
				}
			}
	return 0;
}
