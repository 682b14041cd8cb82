/*
 * bad-echo: a deliberately broken echo server, to prove that echo-load
 * (the judge every test here relies on) notices broken echoes.
 *
 * Usage: bad-echo flip|drop|dup|close   (one connection at a time)
 * Build: cc -O2 -o bad-echo bad-echo.c
 * After 1000 bytes of a connection it flips one bit, drops a chunk,
 * sends a chunk twice, or closes early.
 */
#include <err.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		errx(2, "usage: bad-echo flip|drop|dup|close");
	const char *mode = argv[1];
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 16) < 0 || getsockname(lfd, (struct sockaddr *)&a, &len) < 0)
		err(1, "listen");
	printf("listening on 127.0.0.1:%u\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			err(1, "accept");
		char buf[512];
		ssize_t n;
		size_t total = 0;
		int broken = 0;
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			total += (size_t)n;
			size_t out = (size_t)n;
			int times = 1;
			if (total > 1000 && !broken) {
				broken = 1;
				if (!strcmp(mode, "close"))
					break;
				if (!strcmp(mode, "flip"))
					buf[0] ^= 1;
				else if (!strcmp(mode, "drop"))
					times = 0;
				else
					times = 2;      /* dup */
			}
			while (times-- > 0)
				if (write(fd, buf, out) != (ssize_t)out)
					goto done;
		}
done:
		close(fd);
	}
}
