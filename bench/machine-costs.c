/*
 * machine-costs: what the machine charges for the things io_uring saves.
 *
 * What it shows: the price, on the machine at hand, of one system call, one
 * wake-up of a thread sleeping on another CPU, one switch between two
 * threads on the same CPU, one page fault on fresh anonymous memory, and
 * the memcpy bandwidth. The lessons explain their measurements with these
 * figures ("N system calls saved at about X µs each"); this program is
 * where those figures come from, and `make bench` prints its table at the
 * top of bench/REPORT.md.
 * Why it matters: a virtual machine can charge ten times what bare metal
 * does for a system call or a wake-up, and io_uring's savings scale with it.
 *
 * Usage:    machine-costs [-r ROUNDS] [-s SCALE]
 *           ROUNDS repetitions of each probe (default 5; the table shows
 *           the median and the range); SCALE divides every loop count and
 *           buffer size (default 1; the tests use a large one to stay quick).
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -pthread -o machine-costs machine-costs.c
 * Requires: Linux (sched_setaffinity, eventfd: 2.6.22), no liburing.
 * Leaves out: hardware counters (a VM often has none), huge pages, NUMA.
 */
#define _GNU_SOURCE    /* sched_setaffinity, CPU_SET */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 99

static const char *prog = "machine-costs";

static void die(const char *context, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, context, strerror(err));
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- one system call ------------------------------------------------- */

/* getppid through syscall(2): glibc caches nothing for it, and the kernel
 * does almost no work, so the time is the crossing itself. */
static double syscall_ns(long scale)
{
	long n = 1000000 / scale + 1;
	double t0 = now_ns();

	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return (now_ns() - t0) / (double)n;
}

/* ---- ping-pong between two threads ----------------------------------- */

/* Each thread blocks in read() on its own eventfd until the other writes
 * it: every hop puts one thread to sleep and wakes the other. */
struct pingpong {
	int to_peer, to_main;    /* eventfds */
	long hops;
	int peer_cpu;
};

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		die("sched_setaffinity", errno);
}

static void send_token(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		die("eventfd write", errno);
}

static void wait_token(int fd)
{
	uint64_t got;

	if (read(fd, &got, sizeof(got)) != sizeof(got))
		die("eventfd read", errno);
}

static void *peer(void *arg)
{
	struct pingpong *pp = arg;

	pin_to(pp->peer_cpu);
	for (long i = 0; i < pp->hops; i++) {
		wait_token(pp->to_peer);
		send_token(pp->to_main);
	}
	return NULL;
}

/* The first two CPUs this process may run on (taskset or a container may
 * allow fewer than the machine has); returns how many there are, up to 2. */
static int allowed_cpus(int cpu[2])
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		die("sched_getaffinity", errno);
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpu[n++] = c;
	return n;
}

/* Nanoseconds per one-way hop (a wake-up of the other thread), with this
 * thread on main_cpu and its peer on peer_cpu. */
static double hop_ns(int main_cpu, int peer_cpu, long scale)
{
	struct pingpong pp = { .hops = 20000 / scale + 1, .peer_cpu = peer_cpu };
	pthread_t thread;
	double t0, t1;
	int err;

	pp.to_peer = eventfd(0, EFD_CLOEXEC);
	pp.to_main = eventfd(0, EFD_CLOEXEC);
	if (pp.to_peer < 0 || pp.to_main < 0)
		die("eventfd", errno);
	pin_to(main_cpu);
	err = pthread_create(&thread, NULL, peer, &pp);
	if (err)
		die("pthread_create", err);
	t0 = now_ns();
	for (long i = 0; i < pp.hops; i++) {
		send_token(pp.to_peer);
		wait_token(pp.to_main);
	}
	t1 = now_ns();
	pthread_join(thread, NULL);
	close(pp.to_peer);
	close(pp.to_main);
	return (t1 - t0) / (double)(2 * pp.hops);
}

/* ---- page faults and memcpy ------------------------------------------ */

static char *map_fresh(size_t bytes)
{
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap", errno);
	/* 4 KiB faults, whatever the transparent huge page setting. */
	madvise(p, bytes, MADV_NOHUGEPAGE);
	return p;
}

/* Nanoseconds for the first touch of one fresh 4 KiB page. */
static double fault_ns(long scale)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = 65536 / (size_t)scale + 1;
	char *p = map_fresh(pages * page);
	double t0 = now_ns();

	for (size_t i = 0; i < pages; i++)
		p[i * page] = 1;
	double t = (now_ns() - t0) / (double)pages;
	munmap(p, pages * page);
	return t;
}

/* GiB per second memcpy moves between two already-touched buffers; the best
 * of three copies, so a neighbour's burst does not set the figure. */
static double memcpy_gib_s(long scale)
{
	size_t bytes = ((size_t)128 << 20) / (size_t)scale;
	char *src = map_fresh(bytes), *dst = map_fresh(bytes);
	double best = 0;

	memset(src, 0x5a, bytes);
	memset(dst, 0, bytes);
	for (int i = 0; i < 3; i++) {
		double t0 = now_ns();

		memcpy(dst, src, bytes);
		double gib_s = (double)bytes / (double)(1 << 30) / ((now_ns() - t0) / 1e9);
		if (gib_s > best)
			best = gib_s;
	}
	if (dst[bytes - 1] != 0x5a)    /* keeps the copy from being optimised out */
		die("memcpy check", EIO);
	munmap(src, bytes);
	munmap(dst, bytes);
	return best;
}

/* ---- rounds and the table -------------------------------------------- */

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void print_row(const char *what, const char *unit, double *v, int rounds,
		      const char *how)
{
	qsort(v, (size_t)rounds, sizeof(*v), by_value);
	printf("| %s | %.1f %s (%.1f-%.1f) | %s |\n", what, v[rounds / 2], unit, v[0],
	       v[rounds - 1], how);
}

static void usage(void)
{
	fprintf(stderr, "usage: %s [-r ROUNDS] [-s SCALE]\n", prog);
	exit(2);
}

static long parse_long(const char *s, const char *what, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 1 || v > max) {
		fprintf(stderr, "%s: %s: not a number from 1 to %ld: '%s'\n", prog, what, max, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	double sys[MAX_ROUNDS], cross[MAX_ROUNDS], same[MAX_ROUNDS], fault[MAX_ROUNDS],
		copy[MAX_ROUNDS];
	long rounds = 5, scale = 1;
	int opt;

	opterr = 0;    /* one line of our own instead of getopt's */
	while ((opt = getopt(argc, argv, "r:s:")) != -1) {
		if (opt == 'r')
			rounds = parse_long(optarg, "-r", MAX_ROUNDS);
		else if (opt == 's')
			scale = parse_long(optarg, "-s", 100000);
		else
			usage();
	}
	if (optind != argc)
		usage();
	int cpu[2], cpus = allowed_cpus(cpu);

	/* The probes alternate inside each round, so a noisy neighbour
	 * spreads over all of them rather than spoiling one. */
	for (int r = 0; r < rounds; r++) {
		sys[r] = syscall_ns(scale);
		cross[r] = cpus >= 2 ? hop_ns(cpu[0], cpu[1], scale) / 1000 : 0;
		same[r] = hop_ns(cpu[0], cpu[0], scale) / 1000;
		fault[r] = fault_ns(scale) / 1000;
		copy[r] = memcpy_gib_s(scale);
	}
	printf("| probe | median (min-max) of %ld rounds | how |\n|---|---|---|\n", rounds);
	print_row("system call", "ns", sys, (int)rounds, "`syscall(SYS_getppid)` in a loop");
	if (cpus >= 2)
		print_row("wake-up of a thread on another CPU", "µs", cross, (int)rounds,
			  "eventfd ping-pong, the two threads pinned to two CPUs; one hop");
	else
		printf("| wake-up of a thread on another CPU | not measured: this process may use one CPU only | |\n");
	print_row("switch to another thread on the same CPU", "µs", same, (int)rounds,
		  "the same ping-pong, both threads pinned to one CPU; one hop");
	print_row("page fault, first touch of a fresh 4 KiB page", "µs", fault, (int)rounds,
		  "`mmap` anonymous memory, `MADV_NOHUGEPAGE`, write one byte a page");
	print_row("memcpy bandwidth", "GiB/s", copy, (int)rounds,
		  "between two touched buffers, best of 3 copies a round");
	if (fflush(stdout) != 0 || ferror(stdout))    /* a full disk, a closed pipe */
		die("stdout", errno ? errno : EIO);
	return 0;
}
