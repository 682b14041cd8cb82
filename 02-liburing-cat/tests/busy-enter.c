/*
 * busy-enter: run a command whose Nth io_uring_enter that submits SQEs
 * fails with EBUSY (or -e EAGAIN), as Linux 5.5 to 5.12 answer a submit
 * while the CQ has overflowed. From 5.13 the kernel never does, so a test
 * on a newer kernel needs this to reach the program's retry path.
 *
 * Usage:    busy-enter [-n N] [-e EBUSY|EAGAIN] [-d MS] CMD [ARG...]
 *           -d MS holds the Nth call MS milliseconds before answering it,
 *           so that requests in flight complete while it waits.
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o busy-enter busy-enter.c
 * Requires: Linux 5.19 (seccomp user notification with
 *           SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, see install_filter());
 *           exit 77 without it. x86-64: other architectures' calls pass
 *           untouched.
 *
 * How: the child installs a seccomp filter that hands every io_uring_enter
 * with to_submit > 0 to this process (SECCOMP_RET_USER_NOTIF), which lets
 * each one go on unchanged except the Nth: that one returns the errno
 * without entering the kernel, so no SQE is consumed, as with a real EBUSY.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif

static void usage(void)
{
	fprintf(stderr, "Usage: busy-enter [-n N] [-e EBUSY|EAGAIN] [-d MS] CMD [ARG...]\n");
	exit(2);
}

/* io_uring_enter(fd, to_submit, ...) with to_submit > 0: ask us. */
static int install_filter(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* the low 32 bits of args[1] on little-endian x86-64 */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	/*
	 * Once we have read a call, only a fatal signal may end its wait
	 * (WAIT_KILLABLE_RECV, Linux 5.19). Without it io_uring's own task
	 * work, which interrupts a wait as a signal does, can break the wait
	 * just as our answer arrives: the call starts again from scratch and
	 * the injected error is lost (1 run in 500 here with it left out).
	 */
	return (int)syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER,
			    SECCOMP_FILTER_FLAG_NEW_LISTENER |
			    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
}

static void send_fd(int sock, int fd)
{
	char data = 0, ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sock, &msg, 0) != 1)
		_exit(126);
}

/* The listener descriptor, or -1 with errno from the child's seccomp call. */
static int recv_fd(int sock)
{
	unsigned char data = 0;
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS) {
		errno = data; /* the child sent its errno instead */
		return -1;
	}
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static void child(int sock, char **argv)
{
	int listener = install_filter();

	if (listener < 0) {
		unsigned char e = (unsigned char)errno;

		if (write(sock, &e, 1) != 1)
			_exit(126);
		_exit(126);
	}
	send_fd(sock, listener);
	close(listener);
	close(sock);
	execvp(argv[0], argv);
	fprintf(stderr, "busy-enter: %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Answer each notification until no task uses the filter (POLLHUP). */
static void serve(int listener, long nth, int err, long hold_ms)
{
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;
	struct pollfd pfd = { .fd = listener, .events = POLLIN };
	long answered = 0;	/* calls that got our answer */

	for (;;) {
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("busy-enter: poll");
			exit(1);
		}
		if (!(pfd.revents & POLLIN))
			return; /* POLLHUP: no task uses the filter any more */
		memset(&req, 0, sizeof(req));
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req))
			continue;
		memset(&resp, 0, sizeof(resp));
		resp.id = req.id;
		if (answered + 1 == nth) {
			struct timespec hold = { hold_ms / 1000, hold_ms % 1000 * 1000000 };

			nanosleep(&hold, NULL);
			resp.error = -err;
		} else {
			resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		}
		/* ENOENT: a fatal signal ended the call; it never comes back */
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0)
			answered++;
	}
}

int main(int argc, char **argv)
{
	long nth = 1, hold_ms = 0;
	int err = EBUSY, opt, sv[2], listener, status;
	pid_t pid;

	while ((opt = getopt(argc, argv, "+n:e:d:")) != -1) {
		char *end;

		if (opt == 'n' && (nth = strtol(optarg, &end, 10)) > 0 && !*end)
			continue;
		if (opt == 'd' && (hold_ms = strtol(optarg, &end, 10)) >= 0 && !*end)
			continue;
		if (opt == 'e' && strcmp(optarg, "EBUSY") == 0)
			err = EBUSY;
		else if (opt == 'e' && strcmp(optarg, "EAGAIN") == 0)
			err = EAGAIN;
		else
			usage();
	}
	if (optind == argc)
		usage();
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv)) {
		perror("busy-enter: socketpair");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("busy-enter: fork");
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		child(sv[1], argv + optind);
	}
	close(sv[1]);
	listener = recv_fd(sv[0]);
	if (listener < 0) {
		fprintf(stderr, "busy-enter: seccomp user notification, killable once read: %s"
			" (needs Linux 5.19)\n", strerror(errno));
		waitpid(pid, NULL, 0);
		return 77;
	}
	serve(listener, nth, err, hold_ms);
	if (waitpid(pid, &status, 0) < 0) {
		perror("busy-enter: waitpid");
		return 1;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
