/*
 * no-register-op: run a command as a kernel that lacks one io_uring_register
 * opcode would: every io_uring_register(fd, OPCODE, ...) call fails with
 * EINVAL, which is what a kernel answers for an opcode it does not know.
 * The tests use it to take bufring-echo down its "before Linux 5.19" path
 * (IORING_REGISTER_PBUF_RING is opcode 22) on a new kernel.
 *
 * Usage:    no-register-op OPCODE COMMAND [ARG...]
 * Build:    cc -O2 -o no-register-op no-register-op.c
 * Requires: Linux 3.5 (seccomp filters), x86_64 or aarch64.
 */
#include <err.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "no-register-op: x86_64 and aarch64 only"
#endif
#define NR_IO_URING_REGISTER 427        /* the same on every architecture */

int main(int argc, char **argv)
{
	if (argc < 3)
		errx(2, "usage: no-register-op OPCODE COMMAND [ARG...]");
	char *end;
	unsigned long opcode = strtoul(argv[1], &end, 10);
	if (*argv[1] == '\0' || *end || opcode > 255)
		errx(2, "OPCODE must be a number from 0 to 255: %s", argv[1]);

	/* The opcode is the syscall's second argument: its low 32 bits. */
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_IO_URING_REGISTER, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)opcode, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]),
				   .filter = filter };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		err(1, "prctl(PR_SET_NO_NEW_PRIVS)");
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		err(1, "prctl(PR_SET_SECCOMP)");
	execvp(argv[2], argv + 2);
	err(127, "%s", argv[2]);
}
