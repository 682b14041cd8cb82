/*
 * deny-uring: run a command with io_uring switched off, the way a container
 * runtime switches it off.
 *
 * Docker's default seccomp profile (since moby PR #46762) makes
 * io_uring_setup, io_uring_enter and io_uring_register fail with EPERM; a
 * kernel built without io_uring, or a gVisor-style sandbox, gives ENOSYS.
 * This tool installs a seccomp filter that does the same to itself and then
 * executes COMMAND, so every lesson can be tested for the clear message and
 * exit code 77 it owes a reader who meets that wall.
 *
 * -e EINVAL is what a kernel answers to setup flags it does not know: with
 * it a test can take the "feature missing" path of a program on a kernel
 * that has the feature. -r OPCODE leaves io_uring alone except for
 * io_uring_register(2) calls with that opcode, which fail (EINVAL unless
 * -e says otherwise), as on a kernel older than the opcode: -r 22
 * (IORING_REGISTER_PBUF_RING) is a kernel before 5.19 to lesson 06.
 *
 * Usage:    deny-uring [-e EPERM|ENOSYS|EINVAL|ENOMEM] [-r OPCODE] COMMAND [ARG...]
 * Build:    cc -Wall -Wextra -O2 -o deny-uring deny-uring.c
 * Requires: Linux 3.5 (seccomp filters), x86_64 or aarch64.
 */
#include <err.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define THIS_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_ARCH AUDIT_ARCH_AARCH64
#else
#error "deny-uring knows x86_64 and aarch64 only"
#endif

/* The io_uring syscall numbers are the same on every architecture. */
#define NR_SETUP 425
#define NR_ENTER 426
#define NR_REGISTER 427

static void usage(FILE *to)
{
	fprintf(to, "usage: deny-uring [-e EPERM|ENOSYS|EINVAL|ENOMEM] [-r OPCODE] COMMAND [ARG...]\n");
}

/* opcode < 0: every io_uring call fails; else only io_uring_register(2)
 * with that opcode, its second argument (the low 32 bits of it). */
static void install_filter(unsigned short errnum, int opcode)
{
	struct sock_filter code[16] = {
		/* A foreign-architecture syscall could dodge the numbers below. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	};
	/* Then the test, whose jumps land on the two returns at its end:
	 * "k, 0" skips k instructions to reach the errno return, "0, k" to
	 * reach the allow. */
	unsigned short n = 4;
	if (opcode < 0) {
		code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_SETUP, 3, 0);
		code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_ENTER, 2, 0);
		code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_REGISTER, 1, 0);
	} else {
		code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_REGISTER, 0, 2);
		code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
							 offsetof(struct seccomp_data, args[1]));
		code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)opcode, 1, 0);
	}
	code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | errnum);
	struct sock_fprog prog = { .len = n, .filter = code };

	/* Lets an unprivileged process install a filter; it is inherited by exec. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		err(1, "prctl(PR_SET_NO_NEW_PRIVS)");
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == -1)
		err(1, "prctl(PR_SET_SECCOMP)");
}

int main(int argc, char **argv)
{
	unsigned short errnum = 0;	/* not given: EPERM, or EINVAL with -r */
	int opt, opcode = -1;
	char *end;

	while ((opt = getopt(argc, argv, "+e:r:h")) != -1) {
		switch (opt) {
		case 'e':
			if (strcmp(optarg, "EPERM") == 0)
				errnum = EPERM;
			else if (strcmp(optarg, "ENOSYS") == 0)
				errnum = ENOSYS;
			else if (strcmp(optarg, "EINVAL") == 0)
				errnum = EINVAL;
			else if (strcmp(optarg, "ENOMEM") == 0)
				errnum = ENOMEM;	/* a ring over ulimit -l, before 5.12 */
			else
				errx(2, "-e takes EPERM, ENOSYS, EINVAL or ENOMEM, not %s", optarg);
			break;
		case 'r':
			opcode = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || opcode < 0 || opcode > 255)
				errx(2, "-r takes an io_uring_register opcode from 0 to 255, not %s", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 2;
	}
	if (!errnum)
		errnum = opcode < 0 ? EPERM : EINVAL;
	install_filter(errnum, opcode);
	execvp(argv[optind], &argv[optind]);
	err(127, "%s", argv[optind]);
}
