/*
 * Exercise 1: a batch of NOPs. (Reference solution.)
 *
 * IORING_OP_NOP does nothing, which makes it the purest way to see the
 * ring's arithmetic: N SQEs in, one io_uring_enter, N CQEs out.
 *
 * This file borrows raw-cat.c's ring functions (ring_open, get_sqe,
 * submit_and_wait, reap) by including it; read them there first.
 *
 * Build:  cc -std=gnu11 -Wall -O2 -I.. -o nop-batch 1-nop-batch.c
 * Goal:   ./nop-batch 8   prints   8 NOPs: 1 io_uring_enter call(s), 8 CQEs
 */
#define main raw_cat_main
#include "raw-cat.c"
#undef main

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : QUEUE_DEPTH;
	struct ring r;

	if (n < 1 || n > QUEUE_DEPTH) {
		fprintf(stderr, "usage: nop-batch [1..%d]\n", QUEUE_DEPTH);
		return 2;
	}
	int ret = ring_open(&r, QUEUE_DEPTH);
	if (ret != 0)
		return ret;

	for (long i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = get_sqe(&r);   /* zeroed: already a NOP */
		sqe->opcode = IORING_OP_NOP;
		sqe->user_data = i;
	}
	if (submit_and_wait(&r, (unsigned)n) < 0)
		return 1;
	reap(&r);

	printf("%ld NOPs: %lu io_uring_enter call(s), %lu CQEs\n", n, r.enters,
	       r.cqes_seen);
	ring_close(&r);
	return 0;
}
