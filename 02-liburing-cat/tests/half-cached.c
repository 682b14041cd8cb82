/*
 * half-cached: leave only every other BLOCK of FILE in the page cache (the
 * first, the third, ...), so that reads of the cached blocks complete at
 * once and reads of the others wait for the disk: completions then come
 * back out of file order, which is what uring-cat's slot ring is for.
 *
 * Usage:    half-cached BLOCK FILE
 * Build:    cc -std=gnu11 -Wall -Wextra -O2 -o half-cached half-cached.c
 * Limits:   only a file on a disk filesystem (ext4, xfs, btrfs) can leave
 *           the cache; on tmpfs every block stays cached and nothing
 *           comes back out of order. Dropping a block from the cache is a
 *           request (posix_fadvise(2)), not a promise: pages another
 *           process has mapped stay.
 */
#include <err.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct stat st;
	char *buf;
	long block;
	int fd, ret;

	if (argc != 3 || (block = strtol(argv[1], NULL, 10)) <= 0)
		errx(2, "usage: half-cached BLOCK FILE");
	fd = open(argv[2], O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		err(1, "%s", argv[2]);
	buf = malloc(block);
	if (!buf)
		errx(1, "cannot allocate %ld bytes", block);
	/*
	 * Dropping every other range would not work: the kernel caches a file
	 * in folios that may be larger than a block, and drops only whole
	 * ones; and it keeps dirty pages, so a file just written is synced
	 * first. So: sync, drop it all, then read back the blocks to keep,
	 * with read-ahead off (POSIX_FADV_RANDOM), so only they come back.
	 */
	if (fdatasync(fd))
		err(1, "%s: fdatasync", argv[2]);
	ret = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (!ret)
		ret = posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
	if (ret)
		errx(1, "%s: posix_fadvise: %s", argv[2], strerror(ret));
	for (off_t off = 0; off < st.st_size; off += 2 * block)
		if (pread(fd, buf, block, off) < 0)
			err(1, "%s: read", argv[2]);
	free(buf);
	close(fd);
	return 0;
}
