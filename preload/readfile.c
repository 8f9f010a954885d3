#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The reading, apart: readfile() is called at every process's start for
 * config files that are mostly not there, and a frame with the 8 KiB
 * buffer in it would reach two pages deeper into the stack (each a page
 * fault) just to find that out.
 */
__attribute__((noinline)) static int read_all(int fd, struct buf *out)
{
	char chunk[8192];
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		if ((rc = buf_append(out, chunk, (size_t)n)) < 0)
			break;
	}
	return rc;
}

int readfile(const char *path, struct buf *out)
{
	struct stat st;
	/* O_NONBLOCK: a FIFO named here must not hang the program in open(). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EISDIR;
	}
	int rc = read_all(fd, out);
	close(fd);
	return rc == -E2BIG ? -EFBIG : rc;
}
