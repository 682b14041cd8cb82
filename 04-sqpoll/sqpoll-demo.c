/*
 * sqpoll-demo: checksum a file through an IORING_SETUP_SQPOLL ring, and
 * count the system calls that SQPOLL saves (and the CPU it costs).
 *
 * What it shows: with SQPOLL a thread of this process that runs only kernel
 * code (iou-sqp-PID, since Linux 5.12 and 5.10.162; before, a kernel thread
 * of its own) polls the submission queue, so publishing the SQ tail is
 * enough to submit.
 * The program does every io_uring_enter(2) itself, through one counting
 * wrapper, so the count it prints is the real one (strace -f -c agrees):
 * the wakeup check with its full memory fence, the blocking wait, the
 * SQ-full wait. --no-sqpoll does the same work on an ordinary ring.
 * Why it matters: SQPOLL trades a CPU core for syscalls. The numbers at the
 * end (enter calls, wakeups, CPU of the poller thread against the
 * application's) show both sides of that trade.
 *
 * Workload: read FILE in BLOCK-byte reads, DEPTH in flight, and print its
 * POSIX CRC exactly as cksum(1) does. Without FILE it checksums a generated
 * scratch file (deterministic contents) in /dev/shm.
 *
 * Usage:    sqpoll-demo [--no-sqpoll] [--wait] [-q DEPTH] [-b BLOCK]
 *                       [-s SIZE] [-e ENTRIES] [-i IDLE_MS] [-p PAUSE_MS]
 *                       [--sq-cpu N] [--app-cpu N] [--no-pin] [--fixed]
 *                       [--no-sq-wait] [FILE]
 * Example:  sqpoll-demo            SQPOLL, poller and app on different CPUs
 *           sqpoll-demo --no-sqpoll
 * Build:    cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -O2 -o sqpoll-demo sqpoll-demo.c -luring
 * Requires: Linux 5.6 (IORING_OP_READ); SQPOLL needs CAP_SYS_ADMIN before
 *           5.11, CAP_SYS_NICE in 5.11 and 5.12, nothing since 5.13 (nor
 *           on 5.10.162 and later 5.10s, which carry 5.15's io_uring);
 *           registered files are needed before 5.11 (--fixed takes that
 *           path anywhere); IORING_ENTER_SQ_WAIT needs 5.10 (before, a
 *           full SQ is waited for by spinning; --no-sq-wait spins
 *           anywhere); the poller shows up as the thread iou-sqp-PID since
 *           5.12 (and 5.10.162). liburing 2.3 or newer (it fills the SQ
 *           index array at setup; publish_sqes() relies on it).
 * Leaves out: IOPOLL, O_DIRECT, sharing a poller (IORING_SETUP_ATTACH_WQ:
 *           see exercises/), short reads are continued but never expected.
 */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PROG "sqpoll-demo"

enum reap_mode { REAP_SPIN, REAP_WAIT };

struct options {
	bool sqpoll;              /* false with --no-sqpoll */
	enum reap_mode reap;      /* SQPOLL only: spin (default) or --wait */
	unsigned depth;           /* reads in flight */
	unsigned block;           /* bytes per read */
	unsigned long long size;  /* scratch file size, when no FILE */
	unsigned entries;         /* SQ ring entries (default: depth) */
	unsigned idle_ms;         /* sq_thread_idle */
	unsigned pause_ms;        /* think time after each DEPTH blocks */
	int sq_cpu, app_cpu;      /* -1: choose */
	bool pin;                 /* false with --no-pin */
	bool one_cpu;             /* only one CPU usable: reap by waiting */
	bool same_cpu_spin;       /* asked to spin on the poller's CPU */
	bool fixed;               /* register the file even if not required */
	bool no_sq_wait;          /* spin for SQ room, as before Linux 5.10 */
	const char *path;         /* NULL: scratch file */
};

/* One read buffer per slot; block b always lives in slot b % depth. */
struct slot {
	unsigned char *buf;
	unsigned long long off;   /* file offset of the block */
	unsigned len, done;       /* bytes wanted, bytes read so far */
	bool ready;               /* all len bytes are in buf */
};

struct run {
	struct options o;
	struct io_uring ring;
	int fd;                   /* the file being read */
	bool registered;          /* fd is registered file 0 */
	unsigned long long size, nblocks, issued, consumed;
	struct slot *slots;
	unsigned char *bufs;
	uint32_t crc;
	/* Every io_uring_enter this process makes, by reason. */
	unsigned long enters, enter_submit, enter_wakeup, enter_wait, enter_sqfull;
	unsigned long reads;      /* SQEs queued (blocks, plus any continuations) */
	unsigned long sqfull_spins; /* SQ full, no SQ_WAIT: times we spun for room */
};

static void usage(FILE *out)
{
	fprintf(out,
"usage: " PROG " [--no-sqpoll] [--wait] [-q DEPTH] [-b BLOCK] [-s SIZE]\n"
"                   [-e ENTRIES] [-i IDLE_MS] [-p PAUSE_MS] [--sq-cpu N]\n"
"                   [--app-cpu N] [--no-pin] [--fixed] [--no-sq-wait] [FILE]\n"
"Checksum FILE (default: a generated scratch file of SIZE bytes) with reads\n"
"on an SQPOLL ring; print the cksum(1) line on stdout, counters on stderr.\n"
"  --no-sqpoll   the same work on an ordinary ring (submit+wait per batch)\n"
"  --wait        SQPOLL, but reap with a blocking io_uring_enter(GETEVENTS)\n"
"  -q DEPTH      reads in flight (default 32)\n"
"  -b BLOCK      bytes per read (default 4096)\n"
"  -s SIZE       scratch file size, suffix K/M/G (default 64M)\n"
"  -e ENTRIES    SQ ring entries (default DEPTH; fewer makes the SQ fill up)\n"
"  -i IDLE_MS    sq_thread_idle: poller spins about this long, rounded up to ticks (default 100)\n"
"  -p PAUSE_MS   pause after every DEPTH blocks, like an app with idle gaps (default 0)\n"
"  --sq-cpu N    pin the poller to CPU N (IORING_SETUP_SQ_AFF)\n"
"  --app-cpu N   pin this program to CPU N (default: a CPU the poller does not use)\n"
"  --no-pin      pin nothing\n"
"  --fixed       use a registered file even where the kernel does not need it\n"
"  --no-sq-wait  SQPOLL, SQ full: spin for a free slot instead of IORING_ENTER_SQ_WAIT\n"
"                (what it does on kernels before 5.10, which lack SQ_WAIT)\n");
}

static unsigned long long parse_size(const char *opt, const char *s,
				     unsigned long long min, unsigned long long max)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end != s && (*end == 'K' || *end == 'k'))
		shift = 10, end++;
	else if (end != s && *end == 'M')
		shift = 20, end++;
	else if (end != s && *end == 'G')
		shift = 30, end++;
	/* compare before shifting: 18014398509481984G would wrap round to 0 */
	if (errno || end == s || *end || *s == '-' || v > max >> shift ||
	    v << shift < min) {
		fprintf(stderr, PROG ": %s: invalid value '%s' (%llu to %llu)\n",
			opt, s, min, max);
		exit(2);
	}
	return v << shift;
}

/* Bad usage: one line naming what was wrong, and exit 2. getopt's own
 * message would name the program as typed ("./sqpoll-demo") and be
 * followed by the whole usage text. */
static void bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, PROG ": %s: %s (" PROG " -h lists the options)\n", arg, what);
	exit(2);
}

/* The option getopt_long() stopped at: a short one by its letter (in
 * optopt), a long one as written (optopt is 0, or its value 256 and up). */
static const char *bad_option(char **argv, char short_opt[3])
{
	if (optopt <= 0 || optopt > 255)
		return argv[optind - 1];
	short_opt[0] = '-', short_opt[1] = (char)optopt, short_opt[2] = '\0';
	return short_opt;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	char short_opt[3];
	enum { NO_SQPOLL = 256, WAIT, SQ_CPU, APP_CPU, NO_PIN, FIXED, NO_SQ_WAIT };
	static const struct option longs[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "no-sqpoll", no_argument, NULL, NO_SQPOLL },
		{ "wait", no_argument, NULL, WAIT },
		{ "sq-cpu", required_argument, NULL, SQ_CPU },
		{ "app-cpu", required_argument, NULL, APP_CPU },
		{ "no-pin", no_argument, NULL, NO_PIN },
		{ "fixed", no_argument, NULL, FIXED },
		{ "no-sq-wait", no_argument, NULL, NO_SQ_WAIT },
		{ 0 }
	};
	int c;

	*o = (struct options){ .sqpoll = true, .reap = REAP_SPIN, .depth = 32,
		.block = 4096, .size = 64 << 20, .idle_ms = 100,
		.sq_cpu = -1, .app_cpu = -1, .pin = true };
	opterr = 0;       /* bad_usage() says it, with our name */
	while ((c = getopt_long(argc, argv, ":hq:b:s:e:i:p:", longs, NULL)) != -1) {

		switch (c) {
		case 'h': usage(stdout); exit(0);
		case 'q': o->depth = parse_size("-q", optarg, 1, 4096); break;
		case 'b': o->block = parse_size("-b", optarg, 1, 1 << 20); break;
		case 's': o->size = parse_size("-s", optarg, 0, 1ULL << 32); break;
		case 'e': o->entries = parse_size("-e", optarg, 1, 4096); break;
		case 'i': o->idle_ms = parse_size("-i", optarg, 1, 60000); break;
		case 'p': o->pause_ms = parse_size("-p", optarg, 0, 10000); break;
		case NO_SQPOLL: o->sqpoll = false; break;
		case WAIT: o->reap = REAP_WAIT; break;
		case SQ_CPU: o->sq_cpu = (int)parse_size("--sq-cpu", optarg, 0, CPU_SETSIZE - 1); break;
		case APP_CPU: o->app_cpu = (int)parse_size("--app-cpu", optarg, 0, CPU_SETSIZE - 1); break;
		case NO_PIN: o->pin = false; break;
		case FIXED: o->fixed = true; break;
		case NO_SQ_WAIT: o->no_sq_wait = true; break;
		case ':': bad_usage("needs a value", bad_option(argv, short_opt)); break;
		default: bad_usage(optopt > 255 ? "takes no value" : "unknown option",
				   bad_option(argv, short_opt));
		}
	}
	if (argc - optind > 1)
		bad_usage("a second FILE; one at most", argv[optind + 1]);
	o->path = optind < argc ? argv[optind] : NULL;
	if (!o->entries)
		o->entries = o->depth;
	if ((unsigned long long)o->depth * o->block > 256ULL << 20) {
		fprintf(stderr, PROG ": -q %u times -b %u is over 256 MiB of buffers\n",
			o->depth, o->block);
		exit(2);
	}
}

/*
 * The POSIX cksum(1) CRC: polynomial 0x04C11DB7, most significant bit
 * first, then the length, then inverted. Eight bytes per step with eight
 * tables, so that checksumming stays cheaper than the reads it checks.
 */
static uint32_t crc_table[8][256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i << 24;

		for (int k = 0; k < 8; k++)
			c = (c & 0x80000000u) ? (c << 1) ^ 0x04C11DB7u : c << 1;
		crc_table[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (int i = 0; i < 256; i++)
			crc_table[t][i] = (crc_table[t - 1][i] << 8) ^
				crc_table[0][crc_table[t - 1][i] >> 24];
}

static uint32_t crc_update(uint32_t c, const unsigned char *p, size_t n)
{
	for (; n >= 8; p += 8, n -= 8) {
		uint32_t a = c ^ ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
				  (uint32_t)p[2] << 8 | p[3]);

		c = crc_table[7][a >> 24] ^ crc_table[6][(a >> 16) & 255] ^
		    crc_table[5][(a >> 8) & 255] ^ crc_table[4][a & 255] ^
		    crc_table[3][p[4]] ^ crc_table[2][p[5]] ^
		    crc_table[1][p[6]] ^ crc_table[0][p[7]];
	}
	while (n--)
		c = (c << 8) ^ crc_table[0][(c >> 24) ^ *p++];
	return c;
}

static uint32_t crc_finish(uint32_t c, unsigned long long len)
{
	for (; len; len >>= 8) {
		unsigned char b = len & 255;

		c = crc_update(c, &b, 1);
	}
	return ~c;
}

/* Write all of buf, continuing short writes. */
static int write_all(int fd, const unsigned char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		buf += w, n -= (size_t)w;
	}
	return 0;
}

/*
 * The default input: SIZE bytes of xorshift output (always the same), in
 * an unnamed file on tmpfs, so the reads hit the page cache and measure
 * io_uring, not the disk.
 */
static int make_scratch(unsigned long long size)
{
	static unsigned char chunk[1 << 20];
	const char *dirs[] = { "/dev/shm", getenv("TMPDIR"), "/tmp" };
	uint64_t x = 0x9E3779B97F4A7C15ull;
	int fd = -1;

	for (size_t i = 0; i < 3 && fd < 0; i++)
		if (dirs[i])
			fd = open(dirs[i], O_TMPFILE | O_RDWR, 0600);
	if (fd < 0)
		err(1, "scratch file (O_TMPFILE in /dev/shm, $TMPDIR or /tmp)");
	while (size) {
		size_t n = size < sizeof(chunk) ? size : sizeof(chunk);

		for (size_t i = 0; i < n; i += 8) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(chunk + i, &x, n - i < 8 ? n - i : 8);
		}
		if (write_all(fd, chunk, n) < 0)
			err(1, "scratch file: write");
		size -= n;
	}
	return fd;
}

/*
 * A closed standard input or error would be handed by the next open() to
 * the scratch file or the ring, and the report would be written into our
 * own files. Hold them with /dev/null, as a daemon does. (A closed stdout
 * is an error instead: the checksum line is the program's output.)
 */
static void hold_stdin_stderr(void)
{
	/* open() takes the lowest free descriptor: 0 first, then 2 (1 is open) */
	for (int fd = 0; fd <= 2; fd += 2)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			err(1, "/dev/null");
}

static void open_input(struct run *r)
{
	const char *name = r->o.path ? r->o.path : "scratch file";
	struct stat st;

	/* O_NONBLOCK: open() of a FIFO would wait for a writer before we
	 * could refuse it. Cleared once it is a regular file: before Linux
	 * 5.15 io_uring honoured it and failed a read that had to wait for
	 * the disk with -EAGAIN; since commit 5d329e1286b0 ("io_uring: allow
	 * retry for O_NONBLOCK if async is supported"; also in 5.14.7, and in
	 * 5.10.162 with the rest of 5.15's io_uring) it retries such a read
	 * itself when the file supports non-blocking reads. Cleared, the flag
	 * cannot matter on any kernel. */
	r->fd = r->o.path ? open(r->o.path, O_RDONLY | O_NONBLOCK) : make_scratch(r->o.size);
	if (r->fd < 0)
		err(1, "%s", name);
	if (fstat(r->fd, &st) < 0)
		err(1, "%s: fstat", name);
	if (!S_ISREG(st.st_mode))
		errx(1, "%s: not a regular file", name);
	if (fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) & ~O_NONBLOCK) < 0)
		err(1, "%s: fcntl", name);
	r->size = (unsigned long long)st.st_size;
	r->nblocks = (r->size + r->o.block - 1) / r->o.block;
}

/*
 * Where things run. Spinning for completions on the CPU the poller needs
 * is the worst case: the poller only runs when the scheduler preempts the
 * spinner, about 8 ms per I/O on this kind of machine. So by default the
 * poller gets one CPU (IORING_SETUP_SQ_AFF) and this thread another; with
 * one CPU only (a 1-vCPU VM, taskset -c 0), completions are reaped with a
 * blocking wait instead. Nothing is printed here: a setup error must stay
 * the one line on stderr, so report() says what was chosen, and
 * warn_placement() warns once the ring exists.
 */
static void choose_cpus(struct options *o)
{
	int first = -1, second = -1;
	cpu_set_t set;

	if (!o->pin) {
		if (o->sq_cpu >= 0 || o->app_cpu >= 0)
			errx(2, "--no-pin contradicts --sq-cpu/--app-cpu");
		return;
	}
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		err(1, "sched_getaffinity");
	for (int c = 0; c < CPU_SETSIZE && second < 0; c++)
		if (CPU_ISSET(c, &set))
			*(first < 0 ? &first : &second) = c;
	if ((o->sq_cpu >= 0 && !CPU_ISSET(o->sq_cpu, &set)) ||
	    (o->app_cpu >= 0 && !CPU_ISSET(o->app_cpu, &set)))
		errx(1, "CPU %d is not one this process may use (see taskset -p %d)",
		     o->sq_cpu >= 0 && !CPU_ISSET(o->sq_cpu, &set) ? o->sq_cpu : o->app_cpu,
		     (int)getpid());
	if (o->app_cpu < 0)
		o->app_cpu = o->sq_cpu == first && second >= 0 ? second : first;
	if (!o->sqpoll)
		o->sq_cpu = -1;
	else if (o->sq_cpu < 0)
		o->sq_cpu = o->app_cpu == first ? second : first;
	if (!o->sqpoll || o->reap != REAP_SPIN)
		return;
	if (o->sq_cpu >= 0 && o->sq_cpu == o->app_cpu) {
		o->same_cpu_spin = true;
	} else if (o->sq_cpu < 0) {
		o->one_cpu = true;
		o->reap = REAP_WAIT;
	}
}

/* Said after setup, so that a setup failure stays the only line. */
static void warn_placement(const struct options *o)
{
	if (o->same_cpu_spin)
		fprintf(stderr, PROG ": warning: spinning on the poller's CPU; "
			"each I/O waits for a scheduler switch\n");
}

static void pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		err(1, "sched_setaffinity CPU %d", cpu);
}

/* io_uring_setup failed: say why, and exit 77 when it is the environment. */
static void setup_failed(struct run *r, int ret)
{
	struct io_uring plain;

	if ((ret == -EPERM || ret == -EACCES) && r->o.sqpoll &&
	    io_uring_queue_init(1, &plain, 0) == 0) {
		io_uring_queue_exit(&plain);
		errx(77, "IORING_SETUP_SQPOLL: %s: an ordinary ring works, so SQPOLL "
		     "itself is refused: before Linux 5.11 it needs CAP_SYS_ADMIN "
		     "(5.10.162 and later 5.10s: nothing), 5.11 and 5.12 accept "
		     "CAP_SYS_NICE instead, since 5.13 it needs nothing, and since "
		     "5.16 a security module (SELinux) may refuse it", strerror(-ret));
	}
	if (ret == -EPERM || ret == -EACCES)
		errx(77, "io_uring_setup: %s: io_uring is blocked here (a container's "
		     "seccomp profile, or the kernel.io_uring_disabled sysctl)",
		     strerror(-ret));
	if (ret == -ENOSYS)
		errx(77, "io_uring_setup: %s: no io_uring in this kernel (Linux 5.1+) "
		     "or a seccomp filter hides it", strerror(-ret));
	if (ret == -ENOMEM)
		errx(77, "io_uring_setup: %s: RLIMIT_MEMLOCK too low for the rings "
		     "(kernels before 5.12, bar 5.10.162 and later, charge them "
		     "to it; try ulimit -l)",
		     strerror(-ret));
	if (ret == -EINVAL && r->o.sq_cpu >= 0)
		errx(1, "io_uring_setup: %s: sq_thread_cpu %d refused", strerror(-ret),
		     r->o.sq_cpu);
	if (ret == -EINVAL)
		errx(77, "io_uring_setup: %s: setup flags unknown to this kernel "
		     "(IORING_SETUP_CQSIZE needs Linux 5.5)", strerror(-ret));
	errx(1, "io_uring_setup: %s", strerror(-ret));
}

static void setup_ring(struct run *r)
{
	struct io_uring_params p;
	struct io_uring_probe *probe;
	unsigned most = r->o.entries > r->o.depth ? r->o.entries : r->o.depth;
	int ret;

	memset(&p, 0, sizeof(p));
	/* Room for every read in flight: the CQ never overflows, so reaping
	 * never has to enter the kernel to flush an overflow list. */
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = 2 * most;
	if (r->o.sqpoll) {
		p.flags |= IORING_SETUP_SQPOLL;
		/* sq_thread_idle: after this many ms with no new SQE the poller
		 * sets IORING_SQ_NEED_WAKEUP and sleeps; the next submission
		 * then costs one io_uring_enter to wake it. Long: fewer wakeups
		 * in a bursty load, but a core burned through every idle gap. */
		p.sq_thread_idle = r->o.idle_ms;
		if (r->o.sq_cpu >= 0) {
			p.flags |= IORING_SETUP_SQ_AFF;
			p.sq_thread_cpu = (unsigned)r->o.sq_cpu;
		}
	}
	ret = io_uring_queue_init_params(r->o.entries, &r->ring, &p);
	if (ret < 0)
		setup_failed(r, ret);

	probe = io_uring_get_probe_ring(&r->ring);
	if (!probe || !io_uring_opcode_supported(probe, IORING_OP_READ))
		errx(77, "IORING_OP_READ not supported (needs Linux 5.6)");
	io_uring_free_probe(probe);

	/* Before 5.11 an SQPOLL ring could only use registered files: the
	 * poller had no access to the process's file table. */
	if (r->o.fixed || (r->o.sqpoll && !(p.features & IORING_FEAT_SQPOLL_NONFIXED))) {
		ret = io_uring_register_files(&r->ring, &r->fd, 1);
		if (ret < 0)
			errx(1, "io_uring_register_files: %s", strerror(-ret));
		r->registered = true;
	}
}

/*
 * Every io_uring_enter(2) of this program goes through here, so the count
 * printed at the end is exact. liburing's io_uring_submit(), wait_cqe()
 * and sqring_wait() make these same calls inside the library, out of
 * sight; here they are in the open. `reason` is the counter to bump.
 */
static int enter(struct run *r, unsigned long *reason, unsigned to_submit,
		 unsigned min_complete, unsigned flags)
{
	for (;;) {
		long ret;

		r->enters++, (*reason)++;
		ret = syscall(__NR_io_uring_enter, r->ring.ring_fd, to_submit,
			      min_complete, flags, NULL, 0);
		if (ret >= 0)
			return (int)ret;
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Make the SQEs prepared since the last call visible to the kernel by
 * storing the new SQ tail. Release order: whoever reads the tail (the
 * poller, on another CPU) also sees the SQE bytes written before it.
 * liburing's io_uring_submit() starts the same way; liburing (2.3 and
 * later) filled the SQ index array with 0..n-1 at setup, so the tail
 * alone publishes. (2.0 to 2.2 filled it in io_uring_submit() instead.)
 */
static void publish_sqes(struct run *r)
{
	struct io_uring_sq *sq = &r->ring.sq;

	if (sq->sqe_head == sq->sqe_tail)
		return;
	sq->sqe_head = sq->sqe_tail;
	atomic_store_explicit((_Atomic unsigned *)sq->ktail, sq->sqe_tail,
			      memory_order_release);
}

/*
 * SQPOLL: submitting costs a syscall only when the poller sleeps, which it
 * shows by setting IORING_SQ_NEED_WAKEUP. The full fence orders our store
 * of the SQ tail (publish_sqes) before our load of the flags. Without it
 * the CPU may load first: we read "awake" while the poller, going to sleep,
 * reads the old tail; each leaves the work to the other and the SQEs sit
 * unseen. The kernel has the mirror fence between setting the flag and
 * re-reading the tail. liburing's io_uring_submit() does exactly this
 * (sq_ring_needs_enter() in liburing's src/queue.c: io_uring_smp_mb(),
 * then the flags); the snippet in io_uring_setup(2) leaves the fence out.
 */
static int wake_poller_if_needed(struct run *r)
{
	unsigned flags;

	atomic_thread_fence(memory_order_seq_cst);
	flags = atomic_load_explicit((_Atomic unsigned *)r->ring.sq.kflags,
				     memory_order_relaxed);
	if (!(flags & IORING_SQ_NEED_WAKEUP))
		return 0;
	return enter(r, &r->enter_wakeup, 0, 0, IORING_ENTER_SQ_WAKEUP);
}

/* Hand the prepared SQEs to the kernel: what io_uring_submit() does. */
static int submit(struct run *r)
{
	struct io_uring_sq *sq = &r->ring.sq;
	bool fresh = sq->sqe_head != sq->sqe_tail;
	unsigned pending;

	publish_sqes(r);
	if (r->o.sqpoll)
		return fresh ? wake_poller_if_needed(r) : 0;
	/* No poller: only io_uring_enter submits, and only it moves khead. */
	pending = sq->sqe_tail - *sq->khead;
	return pending ? enter(r, &r->enter_submit, pending, 0, 0) : 0;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * The SQ ring is full. Without SQPOLL, submitting empties it. With SQPOLL
 * only the poller empties it: publish (waking it if it sleeps), then sleep
 * until it frees a slot with IORING_ENTER_SQ_WAIT (Linux 5.10). That call
 * is liburing's io_uring_sqring_wait(); made here so it is counted. Before
 * 5.10 the kernel refuses the flag (EINVAL) and we spin for the slot
 * instead; --no-sq-wait takes that path on any kernel.
 */
static void make_room(struct run *r)
{
	unsigned before = io_uring_sq_space_left(&r->ring);
	int ret = submit(r);

	if (ret >= 0 && r->o.sqpoll && !io_uring_sq_space_left(&r->ring)) {
		ret = r->o.no_sq_wait ? -EINVAL
			: enter(r, &r->enter_sqfull, 0, 0, IORING_ENTER_SQ_WAIT);
		if (ret == -EINVAL) {
			r->o.no_sq_wait = true;   /* and do not ask again */
			r->sqfull_spins++;
			while (!io_uring_sq_space_left(&r->ring))
				cpu_relax();
			ret = 0;
		}
	}
	if (ret < 0)
		errx(1, "io_uring_enter: %s", strerror(-ret));
	if (!r->o.sqpoll && ret == 0 && before == 0)
		errx(1, "io_uring_enter: SQ ring full and nothing submitted");
}

static void queue_read(struct run *r, struct slot *s)
{
	struct io_uring_sqe *sqe;
	unsigned n = s->len - s->done;

	while (!(sqe = io_uring_get_sqe(&r->ring)))
		make_room(r);
	if (r->registered) {
		io_uring_prep_read(sqe, 0, s->buf + s->done, n, s->off + s->done);
		sqe->flags |= IOSQE_FIXED_FILE;   /* 0 = index in the file table */
	} else {
		io_uring_prep_read(sqe, r->fd, s->buf + s->done, n, s->off + s->done);
	}
	io_uring_sqe_set_data(sqe, s);
	r->reads++;
}

/* Fill the window: block b goes to slot b % depth while it is free. */
static void issue_reads(struct run *r)
{
	while (r->issued < r->nblocks && r->issued - r->consumed < r->o.depth) {
		struct slot *s = &r->slots[r->issued % r->o.depth];
		unsigned long long off = r->issued * r->o.block;

		s->off = off;
		s->len = r->size - off < r->o.block ? (unsigned)(r->size - off) : r->o.block;
		s->done = 0;
		s->ready = false;
		queue_read(r, s);
		r->issued++;
	}
}

/* Submit what is queued and wait until the CQ holds at least one CQE. */
static void submit_and_wait(struct run *r)
{
	struct io_uring_sq *sq = &r->ring.sq;
	int ret = 0;

	if (!r->o.sqpoll) {
		/* One syscall submits the batch and waits for a completion,
		 * as io_uring_submit_and_wait(ring, 1) would. */
		publish_sqes(r);
		ret = enter(r, &r->enter_submit, sq->sqe_tail - *sq->khead, 1,
			    IORING_ENTER_GETEVENTS);
	} else if ((ret = submit(r)) >= 0 && r->o.reap == REAP_SPIN) {
		/* No syscall at all: the poller submits the reads (one it
		 * cannot finish inline, every tmpfs read, goes on to an io-wq
		 * worker, which posts its CQE); we watch the CQ tail (an
		 * acquire load). */
		while (!io_uring_cq_ready(&r->ring))
			cpu_relax();
	} else {
		/* Blocking wait: one io_uring_enter per wait, SQPOLL or not.
		 * This is why SQPOLL alone does not cut the count. */
		while (ret >= 0 && !io_uring_cq_ready(&r->ring))
			ret = enter(r, &r->enter_wait, 0, 1, IORING_ENTER_GETEVENTS);
	}
	if (ret < 0)
		errx(1, "io_uring_enter: %s", strerror(-ret));
}

static void complete_read(struct run *r, struct slot *s, int res)
{
	const char *name = r->o.path ? r->o.path : "scratch file";

	if (res < 0)
		errx(1, "%s: read at offset %llu: %s", name, s->off + s->done,
		     strerror(-res));
	if (res == 0)
		errx(1, "%s: ends at %llu, expected %llu bytes (did it shrink?)",
		     name, s->off + s->done, r->size);
	s->done += (unsigned)res;
	if (s->done < s->len)
		queue_read(r, s);         /* short read: go on where it stopped */
	else
		s->ready = true;
}

/* Take every CQE there is. With one ready, io_uring_peek_cqe() never
 * enters the kernel (it does only to flush an overflowed CQ). */
static void drain_cq(struct run *r)
{
	while (io_uring_cq_ready(&r->ring)) {
		struct io_uring_cqe *cqe;
		struct slot *s;
		int res;

		if (io_uring_peek_cqe(&r->ring, &cqe) < 0 || !cqe)
			break;
		s = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&r->ring, cqe);
		complete_read(r, s, res);
	}
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Checksum blocks in file order as they become ready (CRC is sequential). */
static void consume_ready(struct run *r)
{
	while (r->consumed < r->issued) {
		struct slot *s = &r->slots[r->consumed % r->o.depth];

		if (!s->ready)
			break;
		r->crc = crc_update(r->crc, s->buf, s->len);
		s->ready = false;
		r->consumed++;
		if (r->o.pause_ms && r->consumed % r->o.depth == 0)
			sleep_ms(r->o.pause_ms);
	}
}

static void run_workload(struct run *r)
{
	while (r->consumed < r->nblocks) {
		issue_reads(r);
		submit_and_wait(r);
		drain_cq(r);
		consume_ready(r);
	}
}

/*
 * Since Linux 5.12 (and 5.10.162) the poller is a thread of this process
 * named iou-sqp-PID (before, a kernel thread io_uring-sq, outside the
 * process).
 * It names itself when it first runs, so look for it after the work.
 */
static pid_t find_poller(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	pid_t tid = 0;

	while (d && (e = readdir(d)) && !tid) {
		char path[300], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "iou-sqp-", 8))
			tid = (pid_t)strtol(e->d_name, NULL, 10);
		fclose(f);
	}
	if (d)
		closedir(d);
	return tid;
}

static double clock_ms(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) < 0)
		return -1;
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time of any thread of this process: the clock id Linux defines for
 * a thread (the number pthread_getcpuclockid() builds; we have no pthread_t
 * for a thread the kernel created). */
static double thread_cpu_ms(pid_t tid)
{
	return clock_ms((clockid_t)((~(unsigned)tid << 3) | 6));
}

struct times { double wall, app, proc; };

static struct times now(void)
{
	return (struct times){ clock_ms(CLOCK_MONOTONIC),
		clock_ms(CLOCK_THREAD_CPUTIME_ID), clock_ms(CLOCK_PROCESS_CPUTIME_ID) };
}

static const char *cpu_name(int cpu, char *buf, size_t n)
{
	if (cpu < 0)
		return "any CPU";
	snprintf(buf, n, "CPU %d", cpu);
	return buf;
}

static void report(const struct run *r, struct times t, pid_t poller, double poller_ms)
{
	const struct options *o = &r->o;
	char sq[32], app[32];

	if (o->sqpoll)
		fprintf(stderr, PROG ": SQPOLL ring, sq_thread_idle %u ms, poller on %s, "
			"app on %s, reap by %s\n", o->idle_ms,
			cpu_name(o->sq_cpu, sq, sizeof(sq)), cpu_name(o->app_cpu, app, sizeof(app)),
			o->reap == REAP_SPIN ? "spinning on the CQ (no syscall)"
			: o->one_cpu ? "blocking io_uring_enter (only one CPU usable: "
				       "spinning would starve the poller)"
			: "blocking io_uring_enter");
	else
		fprintf(stderr, PROG ": ordinary ring (--no-sqpoll), app on %s, "
			"one io_uring_enter submits and waits\n",
			cpu_name(o->app_cpu, app, sizeof(app)));
	fprintf(stderr, "  reads done:           %lu (%llu bytes, %u per read, "
		"depth %u, SQ entries %u%s)\n", r->reads, r->size, o->block,
		o->depth, r->ring.sq.ring_entries, r->registered ? ", registered file" : "");
	fprintf(stderr, "  io_uring_enter calls: %lu (submit %lu, wakeup %lu, wait %lu, "
		"sq-full %lu)\n", r->enters, r->enter_submit, r->enter_wakeup,
		r->enter_wait, r->enter_sqfull);
	fprintf(stderr, "  wakeups needed:       %lu\n", r->enter_wakeup);
	if (r->sqfull_spins)
		fprintf(stderr, "  SQ full, spun:        %lu times (no IORING_ENTER_SQ_WAIT)\n",
			r->sqfull_spins);
	fprintf(stderr, "  wall time:            %.1f ms\n", t.wall);
	fprintf(stderr, "  CPU, app thread:      %.1f ms\n", t.app);
	if (poller)
		fprintf(stderr, "  CPU, poller thread:   %.1f ms (iou-sqp-%d)\n",
			poller_ms, (int)getpid());
	else if (o->sqpoll)
		fprintf(stderr, "  CPU, poller thread:   not a thread of this process "
			"(kernel before 5.12, bar 5.10.162 and later)\n");
	fprintf(stderr, "  CPU, whole process:   %.1f ms\n", t.proc);
}

int main(int argc, char **argv)
{
	struct run r = { .crc = 0 };
	struct times t0, t1;
	double poller0 = 0, poller_ms = 0;
	pid_t poller;

	parse_args(argc, argv, &r.o);
	/* Closed, descriptor 1 would go to the scratch file, and so would
	 * the checksum line. */
	if (fcntl(STDOUT_FILENO, F_GETFD) < 0)
		err(1, "standard output");
	hold_stdin_stderr();
	crc_init();
	open_input(&r);
	choose_cpus(&r.o);
	setup_ring(&r);
	warn_placement(&r.o);
	/* Pin after setup: a poller created without SQ_AFF inherits the
	 * affinity its creator had at that moment (since Linux 6.11; before,
	 * it allowed itself every online CPU). */
	if (r.o.app_cpu >= 0)
		pin_self(r.o.app_cpu);

	r.slots = calloc(r.o.depth, sizeof(*r.slots));
	if (!r.slots || posix_memalign((void **)&r.bufs, 4096,
				       (size_t)r.o.depth * r.o.block))
		errx(1, "out of memory for %u buffers of %u bytes", r.o.depth, r.o.block);
	/* Zeroed only for valgrind, which cannot see the kernel write into
	 * them through the ring and would call the bytes uninitialised. */
	memset(r.bufs, 0, (size_t)r.o.depth * r.o.block);
	for (unsigned i = 0; i < r.o.depth; i++)
		r.slots[i].buf = r.bufs + (size_t)i * r.o.block;

	poller = r.o.sqpoll ? find_poller() : 0;
	if (poller)
		poller0 = thread_cpu_ms(poller);
	t0 = now();
	run_workload(&r);
	t1 = now();
	if (r.o.sqpoll && !poller)
		poller = find_poller();       /* it had not named itself yet */
	if (poller)
		poller_ms = thread_cpu_ms(poller) - poller0;

	if (r.o.path)
		printf("%u %llu %s\n", crc_finish(r.crc, r.size), r.size, r.o.path);
	else
		printf("%u %llu\n", crc_finish(r.crc, r.size), r.size);
	if (fflush(stdout) == EOF)
		warn("standard output");        /* >/dev/full: exit 1 below */
	report(&r, (struct times){ t1.wall - t0.wall, t1.app - t0.app,
				   t1.proc - t0.proc }, poller, poller_ms);

	io_uring_queue_exit(&r.ring);
	close(r.fd);
	free(r.bufs);
	free(r.slots);
	return ferror(stdout) ? 1 : 0;
}
