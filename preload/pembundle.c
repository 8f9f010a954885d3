/* pembundle: PEM files as one; see pembundle.h. */
#include "pembundle.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "buf.h"
#include "readfile.h"

int pembundle_write(const char *dir, const char *prefix, const char *const *files, size_t n,
		    size_t max, char *out, size_t size)
{
	struct buf pem;
	uint64_t hash = 14695981039346656037ULL;
	int rc = -1;
	buf_init(&pem, n * (max + 1));
	for (size_t i = 0; i < n; i++) {
		size_t start = pem.len;
		if (readfile(files[i], &pem) < 0)
			goto out;
		for (size_t k = start; k < pem.len; k++)	/* FNV-1a */
			hash = (hash ^ (unsigned char)pem.data[k]) * 1099511628211ULL;
		if (pem.len && pem.data[pem.len - 1] != '\n' && buf_append(&pem, "\n", 1) < 0)
			goto out;
	}
	int w = snprintf(out, size, "%s/%s%016llx.pem", dir, prefix, (unsigned long long)hash);
	if (w < 0 || (size_t)w >= size)
		goto out;
	if (access(out, R_OK) == 0) {
		rc = 0;
		goto out;
	}
	char tmp[4400];
	snprintf(tmp, sizeof(tmp), "%s.%ld", out, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		goto out;
	bool ok = write(fd, pem.data ? pem.data : "", pem.len) == (ssize_t)pem.len;
	ok = close(fd) == 0 && ok;
	if (ok && rename(tmp, out) == 0)
		rc = 0;
	else
		unlink(tmp);
out:
	buf_free(&pem);
	return rc;
}
