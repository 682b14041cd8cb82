/*
 * zero-write.so: make every IORING_OP_WRITEV a program submits complete
 * with 0 bytes, to test what it does with a write that returns 0.
 *
 * No file or device makes a write of N > 0 bytes return 0 on demand, but
 * a WRITEV of zero iovecs really does return 0. So this preload library
 * sets sqe->len (the iovec count) of each WRITEV to 0 just before the
 * program hands its SQEs to the kernel. It learns where the rings are by
 * wrapping the program's own syscall() and mmap() calls, which is all a
 * program with no liburing (lesson 01's raw-cat) uses.
 *
 * Build: cc -shared -fPIC -o zero-write.so zero-write.c -ldl
 * Use:   LD_PRELOAD=./zero-write.so raw-cat FILE >OUT
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <linux/io_uring.h>

static int ring_fd = -1;
static struct io_uring_params params;
static char *sq_ring;                     /* mapped at IORING_OFF_SQ_RING */
static struct io_uring_sqe *sqes;         /* mapped at IORING_OFF_SQES */

/* <sys/mman.h> is left out on purpose: this is the definition. */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *(*real)(void *, size_t, int, int, int, off_t) = dlsym(RTLD_NEXT, "mmap");
	void *p = real(addr, len, prot, flags, fd, off);

	if (fd == ring_fd && p != (void *)-1) {     /* MAP_FAILED */
		if (off == (off_t)IORING_OFF_SQ_RING)
			sq_ring = p;
		else if (off == (off_t)IORING_OFF_SQES)
			sqes = p;
	}
	return p;
}

/* The SQEs queued but not yet consumed: [kernel's head, our tail). */
static void zero_the_writes(void)
{
	if (!sq_ring || !sqes)
		return;
	unsigned head = __atomic_load_n((unsigned *)(sq_ring + params.sq_off.head), __ATOMIC_ACQUIRE);
	unsigned tail = *(unsigned *)(sq_ring + params.sq_off.tail);
	unsigned mask = *(unsigned *)(sq_ring + params.sq_off.ring_mask);
	unsigned *array = (unsigned *)(sq_ring + params.sq_off.array);

	for (; head != tail; head++) {
		struct io_uring_sqe *sqe = &sqes[array[head & mask]];
		if (sqe->opcode == IORING_OP_WRITEV)
			sqe->len = 0;
	}
}

long syscall(long nr, ...)
{
	long (*real)(long, ...) = dlsym(RTLD_NEXT, "syscall");
	long a[6];
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == __NR_io_uring_enter && (int)a[0] == ring_fd)
		zero_the_writes();
	long ret = real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (nr == __NR_io_uring_setup && ret >= 0) {
		ring_fd = (int)ret;
		params = *(struct io_uring_params *)a[1];
	}
	return ret;
}
