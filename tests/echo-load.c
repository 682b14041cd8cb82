/*
 * echo-load: a load client and byte checker for echo servers.
 *
 * It opens CONNS TCP connections to 127.0.0.1:PORT, sends messages on each
 * and checks every byte that comes back against what was sent. It uses no
 * io_uring at all (non-blocking sockets, level-triggered epoll), so an
 * io_uring server and an epoll server are judged by the same yardstick.
 *
 * Message SEQ of connection ID is a slice of a fixed random pool, at an
 * offset and (with -r) of a length both drawn from a hash of (ID, SEQ): a
 * byte echoed on the wrong connection, twice, out of order or from an old
 * message almost surely differs from the byte expected.
 *
 * By default each connection is a closed loop: send one message, wait until
 * all of it is back, send the next. -b and -H pipeline instead.
 *
 * -R RATE paces the closed loop to a fixed offered load, so servers can be
 * compared doing the same work rather than each running flat out: RATE
 * round trips a second in all, as "slots" that fall due every 1/RATE
 * seconds on the monotonic clock, dealt round-robin to the connections
 * (each gets one every CONNS/RATE seconds). A connection sends its next
 * message only once a slot is due to it and its previous echo is back; a
 * slot that falls due while it still waits is owed and used at once when
 * the echo arrives, so a short stall is caught up, and a server (or a
 * client) that cannot keep up shows as a growing backlog of owed slots.
 *
 * Output: one line on stdout, always the same keys in the same order:
 *   RESULT conns=C total=T done=D rt=R bytes=B secs=S rt_per_s=X
 *          resets=Z failed=F mismatch=M stuck=K cli_cpu_s=U
 *          [srv_cpu_s=V srv_us_per_rt=W srv_rss_kb=K]   (with -P)
 *          [offered_per_s=O due=N behind=L kept_up=Y window_at_s=A]   (with -R)
 * rt counts completed round trips (messages fully echoed); with -d only
 * those after every first connection was up. With -R, due counts the slots
 * that fell due, behind those whose message was still unsent at the end,
 * kept_up is 1 when behind is at most 1% of due, and window_at_s is when the
 * window opened, in seconds after the start (to line up a counter sampled
 * from outside, such as perf stat -I). Details of failures go to
 * stderr. Exit 0 if every connection finished clean, 1 otherwise, 2 usage.
 *
 * Usage:    echo-load -p PORT [options]   (echo-load -h lists them)
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o echo-load echo-load.c
 * Requires: Linux (epoll); no io_uring, no liburing.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PROG "echo-load"
#define POOL_SLACK 65536        /* message offsets are drawn from this range */
#define RBUF_SIZE (256 * 1024)
#define MAX_MSG (64u << 20)
#define MAX_REPORTS 10          /* detailed failure lines on stderr */
#define MAX_RATE 10e6           /* -R: round trips a second, in all */

static void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " -p PORT [options]\n"
"  -p PORT      server port on 127.0.0.1 (-a ADDR for another IPv4 address)\n"
"  -c CONNS     connections open at once (default 1)\n"
"  -C TOTAL     churn: TOTAL connections in all, CONNS at a time; each one\n"
"               opens, does its messages, closes (default TOTAL = CONNS)\n"
"  -s SIZE      message size in bytes (default 64)\n"
"  -r MIN-MAX   random message sizes between MIN and MAX bytes\n"
"  -n MSGS      messages per connection (default 100; 1 with -i)\n"
"  -d SECS      run for SECS seconds (counted once all CONNS are up) instead\n"
"  -R RATE      pace: offer RATE round trips a second in all, spread evenly\n"
"               over the connections (closed loop only: not with -b or -H)\n"
"  -b           burst: write all messages before reading anything, start\n"
"               reading only when the socket would block or all are written\n"
"  -H           half-close: pipeline all messages, shutdown(SHUT_WR) after the\n"
"               last byte, expect every byte back and then EOF\n"
"  -x N         N connections reset (SO_LINGER 0 close) halfway through\n"
"               writing a message in mid-stream; not counted as failures\n"
"  -i SECS      idle: after its messages each connection stays open; hold\n"
"               them all idle SECS seconds, then report (with -P: RSS)\n"
"  -P PID       report the server's CPU time (all threads) and VmRSS\n"
"  -T SECS      give up after SECS seconds (default 60); unfinished\n"
"               connections count as stuck\n"
"  -h           this help\n"
"Prints one line: RESULT conns= total= done= rt= bytes= secs= rt_per_s=\n"
"resets= failed= mismatch= stuck= cli_cpu_s= [srv_cpu_s= srv_us_per_rt=\n"
"srv_rss_kb=] [offered_per_s= due= behind= kept_up= window_at_s=]. Exit 0\n"
"when all is clean, 1 on any failure, 2 on usage.\n");
}

/* ---- options and global counters ---- */

static struct {
	struct sockaddr_in addr;
	unsigned conns, total, nmsgs, resetters;
	unsigned min_size, max_size;
	double duration, idle, timeout;
	double rate;              /* -R: offered round trips/s, 0 = flat out */
	bool burst, halfclose, timed;
	pid_t server;
} opt = { .conns = 1, .min_size = 64, .max_size = 64, .nmsgs = 100,
	  .timeout = 60 };

static struct {
	uint64_t rt, bytes;
	unsigned done, resets, failed, mismatch, stuck, reports;
} stat;

static unsigned char *pool;     /* random bytes every message is cut from */

/* ---- the pattern: which bytes message SEQ of connection ID holds ---- */

static uint64_t mix(uint64_t x)   /* splitmix64's finaliser */
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint32_t msg_size(uint32_t id, uint32_t seq)
{
	uint32_t span = opt.max_size - opt.min_size + 1;
	if (span == 1)
		return opt.min_size;
	return opt.min_size + (uint32_t)(mix(((uint64_t)id << 32 | seq) ^ 0x5eed) % span);
}

static const unsigned char *msg_bytes(uint32_t id, uint32_t seq)
{
	return pool + mix((uint64_t)id << 32 | seq) % POOL_SLACK;
}

static void make_pool(void)
{
	size_t len = (size_t)opt.max_size + POOL_SLACK + 8;
	pool = malloc(len);
	if (!pool) {
		fprintf(stderr, PROG ": malloc %zu: %s\n", len, strerror(errno));
		exit(1);
	}
	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = mix(i);
		memcpy(pool + i, &r, len - i < 8 ? len - i : 8);
	}
}

/* ---- time and the server's /proc figures ---- */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double self_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* utime+stime of every thread of PID, live or exited (io-wq workers come
 * and go), from /proc/PID/stat; -1 if it cannot be read. */
static double server_cpu(void)
{
	char path[64], buf[1024];
	unsigned long ut, st;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)opt.server);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');   /* the command name may hold spaces */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long server_rss_kb(void)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)opt.server);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---- connections ---- */

enum state { FREE, CONNECTING, RUNNING, DRAINING, IDLE };

struct conn {
	int fd;
	enum state state;
	uint32_t id;              /* connection number: keys the pattern */
	uint32_t nmsgs;           /* messages it sends (UINT32_MAX with -d) */
	uint32_t reset_at;        /* message it resets in, or UINT32_MAX */
	uint32_t tx_msg, tx_off;  /* next byte to send: message, offset */
	uint32_t owed;            /* -R: slots due to it, their messages unsent */
	uint32_t rx_msg, rx_off;  /* next byte expected back */
	uint64_t tx_total, rx_total;
	bool reading;             /* EPOLLIN wanted (false early in a burst) */
	bool writing;             /* EPOLLOUT wanted */
	bool shut;                /* SHUT_WR done (-H) */
};

static int epfd;
static struct conn *conns;
static unsigned next_id;       /* next connection number to open */
static unsigned live;          /* connections open now */
static double t_start, t0, t_end;   /* program start; window open, closed */
static double srv_cpu0, cli_cpu0;  /* CPU seconds when the window opened */
static double srv_cpu1, cli_cpu1;  /* and when it closed */
static bool measuring, stopping;

/* -R: the schedule. Slot K falls due at pace_t0 + K / RATE. */
static int timer_fd = -1;      /* readable when the next slot is due */
static double timer_set_for;   /* the due time timer_fd is armed for */
static double pace_t0;
static uint64_t slots;         /* slots dealt so far */
static unsigned deal_to;       /* the table entry the next slot goes to */
static uint64_t due;           /* of those, dealt to a connection that could use them */
static uint64_t behind;        /* slots still unsent when the window closed */

static void report(struct conn *c, const char *fmt, ...)
{
	if (stat.reports++ >= MAX_REPORTS)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, PROG ": conn %u: ", c->id);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void set_events(struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };
	if (c->reading)
		ev.events |= EPOLLIN;
	if (c->writing || c->state == CONNECTING)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		fprintf(stderr, PROG ": epoll_ctl: %s\n", strerror(errno));
		exit(1);
	}
}

/* Close and count. *counter is done, failed, mismatch or resets. */
static void conn_end(struct conn *c, unsigned *counter)
{
	(*counter)++;
	close(c->fd);      /* also removes it from the epoll set */
	c->fd = -1;
	c->state = FREE;
	live--;
}

static void conn_fail(struct conn *c, const char *what, int e)
{
	report(c, "%s%s%s (message %u, %" PRIu64 " of %" PRIu64 " bytes back)",
	       what, e ? ": " : "", e ? strerror(e) : "", c->rx_msg, c->rx_total,
	       c->tx_total);
	conn_end(c, &stat.failed);
}

static void conn_reset(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_end(c, &stat.resets);   /* close() with linger 0 sends RST */
}

static bool pipelined(void)
{
	return opt.burst || opt.halfclose;
}

/* Send what this connection may send now. False if it ended. */
static bool conn_send(struct conn *c)
{
	while (c->tx_msg < c->nmsgs && !stopping &&
	       (pipelined() || c->tx_msg == c->rx_msg) &&
	       (opt.rate == 0 || c->owed > 0)) {
		uint32_t size = msg_size(c->id, c->tx_msg);
		uint32_t upto = size;
		if (c->tx_msg == c->reset_at)
			upto = size / 2;     /* reset halfway through it */
		if (c->tx_off >= upto && c->tx_msg == c->reset_at) {
			conn_reset(c);
			return false;
		}
		ssize_t n = write(c->fd, msg_bytes(c->id, c->tx_msg) + c->tx_off,
				  upto - c->tx_off);
		if (n < 0) {
			if (errno == EAGAIN) {
				bool was = c->reading && c->writing;
				c->writing = c->reading = true;
				if (!was)
					set_events(c);
				return true;
			}
			conn_fail(c, "write", errno);
			return false;
		}
		c->tx_off += (uint32_t)n;
		c->tx_total += (uint64_t)n;
		if (c->tx_off == size) {
			c->tx_msg++;
			c->tx_off = 0;
			if (opt.rate > 0)
				c->owed--;   /* this message used its slot */
		}
	}
	if (c->tx_msg == c->nmsgs && opt.halfclose && !c->shut) {
		c->shut = true;
		if (shutdown(c->fd, SHUT_WR) < 0) {
			conn_fail(c, "shutdown", errno);
			return false;
		}
	}
	if (c->writing || !c->reading) {
		c->writing = false;
		c->reading = true;
		set_events(c);
	}
	return true;
}

/* All messages are back: close, drain to EOF, or idle. */
static void conn_finished(struct conn *c)
{
	if (opt.halfclose) {
		c->state = DRAINING;
	} else if (opt.idle > 0 && !stopping) {
		c->state = IDLE;
	} else {
		conn_end(c, &stat.done);
	}
}

/* Check N received bytes against the messages they should be. */
static bool check_bytes(struct conn *c, const unsigned char *p, size_t n)
{
	if (c->rx_total + n > c->tx_total) {
		report(c, "%zu bytes came back that were never sent",
		       (size_t)(c->rx_total + n - c->tx_total));
		conn_end(c, &stat.mismatch);
		return false;
	}
	while (n > 0) {
		uint32_t size = msg_size(c->id, c->rx_msg);
		size_t k = size - c->rx_off;
		if (k > n)
			k = n;
		const unsigned char *want = msg_bytes(c->id, c->rx_msg) + c->rx_off;
		if (memcmp(p, want, k) != 0) {
			size_t i = 0;
			while (p[i] == want[i])
				i++;
			report(c, "mismatch in message %u at byte %zu of %u: "
			       "got 0x%02x, want 0x%02x", c->rx_msg,
			       (size_t)c->rx_off + i, size, p[i], want[i]);
			conn_end(c, &stat.mismatch);
			return false;
		}
		c->rx_off += (uint32_t)k;
		c->rx_total += k;
		p += k;
		n -= k;
		if (measuring)
			stat.bytes += k;
		if (c->rx_off == size) {
			c->rx_msg++;
			c->rx_off = 0;
			if (measuring)
				stat.rt++;
		}
	}
	return true;
}

static void conn_readable(struct conn *c)
{
	static unsigned char rbuf[RBUF_SIZE];
	ssize_t n = read(c->fd, rbuf, sizeof(rbuf));
	if (n < 0) {
		if (errno != EAGAIN)
			conn_fail(c, "read", errno);
		return;
	}
	if (n == 0) {
		if (c->state == DRAINING)
			conn_end(c, &stat.done);
		else if (c->state == IDLE)
			conn_fail(c, "server closed an idle connection", 0);
		else
			conn_fail(c, "unexpected EOF from the server", 0);
		return;
	}
	if (c->state == DRAINING || c->state == IDLE) {
		report(c, "%zd bytes after the last message", n);
		conn_end(c, &stat.mismatch);
		return;
	}
	if (!check_bytes(c, rbuf, (size_t)n))
		return;
	if (c->rx_msg == c->nmsgs) {
		conn_finished(c);
		return;
	}
	if (stopping) {           /* -d is over: leave mid-message */
		conn_end(c, &stat.done);
		return;
	}
	if (!pipelined() && c->rx_off == 0)
		conn_send(c);
}

static void conn_connected(struct conn *c)
{
	int e = 0;
	socklen_t len = sizeof(e);
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len);
	if (e) {
		conn_fail(c, "connect", e);
		return;
	}
	c->state = RUNNING;
	c->reading = !opt.burst;
	c->writing = false;
	set_events(c);
	conn_send(c);
}

static void conn_open(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->id = next_id++;
	c->nmsgs = opt.timed ? UINT32_MAX : opt.nmsgs;
	c->reset_at = UINT32_MAX;
	if (c->id < opt.resetters)
		c->reset_at = opt.timed ? 50 : opt.nmsgs / 2;
	c->state = CONNECTING;
	live++;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_fail(c, "socket", errno);
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		conn_fail(c, "epoll_ctl", errno);
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&opt.addr, sizeof(opt.addr)) < 0 &&
	    errno != EINPROGRESS)
		conn_fail(c, "connect", errno);
}

static void conn_event(struct conn *c, uint32_t events)
{
	if (c->state == CONNECTING) {
		conn_connected(c);
		return;
	}
	if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && c->reading) {
		conn_readable(c);
		if (c->state == FREE)
			return;
	}
	if ((events & (EPOLLOUT | EPOLLERR)) && c->writing && c->state == RUNNING)
		conn_send(c);
}

/* ---- pacing (-R) ---- */

static double slot_time(uint64_t k)
{
	return pace_t0 + (double)k / opt.rate;
}

/* Deal every slot due by T, round-robin over the connection table, so
 * each connection gets one every CONNS/RATE seconds. An empty table entry,
 * or a connection already owed all the messages it has left, lets its
 * slot lapse: due counts only slots that can become a message. */
static void pace(double t)
{
	while (slot_time(slots) <= t) {
		struct conn *c = &conns[deal_to];
		slots++;
		if (++deal_to == opt.conns)
			deal_to = 0;
		if ((c->state != RUNNING && c->state != CONNECTING) ||
		    c->tx_msg + c->owed >= c->nmsgs)
			continue;
		due++;
		if (++c->owed == 1 && c->state == RUNNING)
			conn_send(c);   /* sends now unless its echo is still out */
	}
}

/* Wake the loop when slot K falls due; one timerfd_settime per change. */
static void arm_timer(uint64_t k)
{
	double when = slot_time(k);
	if (when == timer_set_for)
		return;
	struct itimerspec its = { .it_value = {
		.tv_sec = (time_t)when,
		.tv_nsec = (long)((when - (double)(time_t)when) * 1e9) } };
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;    /* all zero would disarm it */
	if (timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		fprintf(stderr, PROG ": timerfd_settime: %s\n", strerror(errno));
		exit(1);
	}
	timer_set_for = when;
}

static void timer_fired(void)
{
	uint64_t expirations;
	if (read(timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN) {
		fprintf(stderr, PROG ": read timerfd: %s\n", strerror(errno));
		exit(1);
	}
}

static void setup_timer(void)
{
	timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (timer_fd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, timer_fd, &ev) < 0) {
		fprintf(stderr, PROG ": timerfd: %s\n", strerror(errno));
		exit(1);
	}
}

/* Slots dealt but not yet used: the backlog of a load not kept up with. */
static uint64_t backlog(void)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < opt.conns; i++)
		if (conns[i].state != FREE)
			n += conns[i].owed;
	return n;
}

/* ---- the run ---- */

/* Close the measuring window at T, before any connection is closed: the
 * server's work on the closes is not part of the figures. */
static void end_window(double t)
{
	t_end = t;
	behind = backlog();
	cli_cpu1 = self_cpu();
	if (opt.server)
		srv_cpu1 = server_cpu();
}

static void start_measuring(void)
{
	measuring = true;
	t0 = now();
	pace_t0 = t0;
	cli_cpu0 = self_cpu();
	if (opt.server)
		srv_cpu0 = server_cpu();
}

/* Open connections into free slots, up to CONNS at once and TOTAL in all. */
static void refill(void)
{
	for (unsigned i = 0; i < opt.conns && next_id < opt.total && !stopping; i++)
		if (conns[i].state == FREE)
			conn_open(&conns[i]);
}

static unsigned count(enum state s)
{
	unsigned n = 0;
	for (unsigned i = 0; i < opt.conns; i++)
		n += conns[i].state == s;
	return n;
}

static void close_all(unsigned *counter)
{
	for (unsigned i = 0; i < opt.conns; i++)
		if (conns[i].state != FREE)
			conn_end(&conns[i], counter);
}

static void run(void)
{
	struct epoll_event evs[256];
	double start = now(), deadline = start + opt.timeout, idle_until = 0;
	if (!opt.timed)
		start_measuring();
	refill();
	while (live > 0 || (next_id < opt.total && !stopping)) {
		double t = now();
		if (opt.timed && !measuring && count(CONNECTING) == 0)
			start_measuring();
		if (opt.timed && measuring && !stopping && t >= t0 + opt.duration) {
			stopping = true;        /* finish: close what is open */
			end_window(t);
			close_all(&stat.done);
			break;
		}
		if (opt.idle > 0 && live > 0 && count(IDLE) == live &&
		    next_id >= opt.total) {
			if (idle_until == 0)
				idle_until = t + opt.idle;
			else if (t >= idle_until)
				break;
		}
		if (t >= deadline) {
			for (unsigned i = 0; i < opt.conns; i++)
				if (conns[i].state != FREE)
					report(&conns[i], "stuck: %" PRIu64 " of %"
					       PRIu64 " bytes back", conns[i].rx_total,
					       conns[i].tx_total);
			end_window(t);
			close_all(&stat.stuck);
			break;
		}
		if (opt.rate > 0 && measuring) {
			pace(t);
			arm_timer(slots);
		}
		int n = epoll_wait(epfd, evs, 256, 100);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, PROG ": epoll_wait: %s\n", strerror(errno));
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c)
				timer_fired();  /* the next pass deals the slots */
			else if (c->state != FREE)  /* not closed earlier in this batch */
				conn_event(c, evs[i].events);
		}
		refill();   /* after the batch: a reused slot gets no stale event */
	}
	if (t_end == 0)
		end_window(now());
}

static void print_result(void)
{
	long rss = -1;
	double srv = -1;
	if (opt.server) {
		rss = server_rss_kb();          /* idle connections still open */
		if (srv_cpu1 >= 0 && srv_cpu0 >= 0)
			srv = srv_cpu1 - srv_cpu0;
	}
	double cli = cli_cpu1 - cli_cpu0;
	close_all(&stat.done);               /* idle ones finished clean */
	double secs = t_end - t0;
	if (!measuring || secs <= 0)
		secs = 0;
	printf("RESULT conns=%u total=%u done=%u rt=%" PRIu64 " bytes=%" PRIu64
	       " secs=%.3f rt_per_s=%.0f resets=%u failed=%u mismatch=%u"
	       " stuck=%u cli_cpu_s=%.3f",
	       opt.conns, opt.total, stat.done, stat.rt, stat.bytes, secs,
	       secs > 0 ? (double)stat.rt / secs : 0.0, stat.resets,
	       stat.failed, stat.mismatch, stat.stuck, cli);
	if (opt.server)
		printf(" srv_cpu_s=%.3f srv_us_per_rt=%.2f srv_rss_kb=%ld", srv,
		       stat.rt && srv >= 0 ? srv * 1e6 / (double)stat.rt : 0.0, rss);
	if (opt.rate > 0)
		printf(" offered_per_s=%.0f due=%" PRIu64 " behind=%" PRIu64
		       " kept_up=%d window_at_s=%.3f", opt.rate, due, behind,
		       behind * 100 <= due, measuring ? t0 - t_start : 0.0);
	printf("\n");
	fflush(stdout);
	if (stat.reports > MAX_REPORTS)
		fprintf(stderr, PROG ": ... and %u more failure reports\n",
			stat.reports - MAX_REPORTS);
}

/* ---- options ---- */

static unsigned long number(const char *s, const char *what, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || *s == '-') {
		fprintf(stderr, PROG ": bad %s: %s\n", what, s);
		usage(stderr);
		exit(2);
	}
	return v;
}

static double seconds(const char *s, const char *what)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v > 0) || v > 86400) {
		fprintf(stderr, PROG ": bad %s: %s\n", what, s);
		usage(stderr);
		exit(2);
	}
	return v;
}

static double rate(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v > 0) || v > MAX_RATE) {
		fprintf(stderr, PROG ": bad rate: %s\n", s);
		usage(stderr);
		exit(2);
	}
	return v;
}

static void parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	const char *addr = "127.0.0.1";
	long port = -1;
	bool nset = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "a:bC:c:d:Hhi:n:P:p:R:r:s:T:x:",
				 longopts, NULL)) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'b': opt.burst = true; break;
		case 'C': opt.total = (unsigned)number(optarg, "total", 100000000); break;
		case 'c': opt.conns = (unsigned)number(optarg, "connections", 1000000); break;
		case 'd': opt.duration = seconds(optarg, "duration"); opt.timed = true; break;
		case 'H': opt.halfclose = true; break;
		case 'h': usage(stdout); exit(0);
		case 'i': opt.idle = seconds(optarg, "idle time"); break;
		case 'n': opt.nmsgs = (unsigned)number(optarg, "messages", UINT32_MAX - 1); nset = true; break;
		case 'P': opt.server = (pid_t)number(optarg, "pid", INT_MAX); break;
		case 'p': port = (long)number(optarg, "port", 65535); break;
		case 'R': opt.rate = rate(optarg); break;
		case 'r': {
			unsigned a, b;
			char extra;
			if (sscanf(optarg, "%u-%u%c", &a, &b, &extra) != 2 || a == 0 ||
			    a > b || b > MAX_MSG) {
				fprintf(stderr, PROG ": bad size range: %s\n", optarg);
				usage(stderr);
				exit(2);
			}
			opt.min_size = a;
			opt.max_size = b;
			break;
		}
		case 's':
			opt.min_size = opt.max_size = (unsigned)number(optarg, "size", MAX_MSG);
			if (opt.min_size == 0) {
				fprintf(stderr, PROG ": bad size: 0\n");
				exit(2);
			}
			break;
		case 'T': opt.timeout = seconds(optarg, "timeout"); break;
		case 'x': opt.resetters = (unsigned)number(optarg, "resets", 100000000); break;
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc || port <= 0 || opt.conns == 0 || opt.nmsgs == 0) {
		fprintf(stderr, PROG ": %s\n", port <= 0 ? "-p PORT is required" :
			optind != argc ? "unexpected argument" : "-c and -n must be at least 1");
		usage(stderr);
		exit(2);
	}
	if (opt.timed && (opt.halfclose || opt.burst || opt.idle > 0)) {
		fprintf(stderr, PROG ": -d does not mix with -b, -H or -i\n");
		exit(2);
	}
	if (opt.rate > 0 && (opt.halfclose || opt.burst)) {
		fprintf(stderr, PROG ": -R paces a closed loop: it does not mix with -b or -H\n");
		exit(2);
	}
	if (opt.idle > 0 && !nset)
		opt.nmsgs = 1;
	if (opt.total == 0)
		opt.total = opt.conns;
	if (opt.conns > opt.total)
		opt.conns = opt.total;
	opt.addr.sin_family = AF_INET;
	opt.addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &opt.addr.sin_addr) != 1) {
		fprintf(stderr, PROG ": bad address: %s\n", addr);
		exit(2);
	}
}

/* Thousands of sockets need more than the usual 1024 descriptors. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < opt.conns + 16)
		fprintf(stderr, PROG ": warning: only %lu descriptors for %u connections\n",
			(unsigned long)rl.rlim_cur, opt.conns);
}

int main(int argc, char **argv)
{
	t_start = now();
	parse(argc, argv);
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	/* A backstop in case the loop itself wedges: SIGALRM kills us. */
	alarm((unsigned)(opt.timeout + opt.duration + opt.idle) + 10);
	make_pool();
	conns = calloc(opt.conns, sizeof(*conns));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || epfd < 0) {
		fprintf(stderr, PROG ": setup: %s\n", strerror(errno));
		return 1;
	}
	for (unsigned i = 0; i < opt.conns; i++)
		conns[i].fd = -1;
	if (opt.rate > 0)
		setup_timer();
	run();
	print_result();
	free(conns);
	free(pool);
	close(epfd);
	if (timer_fd >= 0)
		close(timer_fd);
	return stat.failed || stat.mismatch || stat.stuck ? 1 : 0;
}
