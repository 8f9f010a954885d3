/*
 * environ: layer 1, applied in the constructor (see preload/envlayer.h for
 * what is set and why). Runs once, before main(), while the process has one
 * thread: setenv() is safe there and nowhere else, so a late first use of
 * the library (a hook called from another thread) never changes the
 * environment.
 */
#include "environ.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "envlayer.h"
#include "readfile.h"

extern char **environ;

#define CA_FILE_MAX (4u << 20)

/* A private directory for files the library makes: 0700, ours, not a link. */
static int private_dir(char *out, size_t size)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	int n = run && run[0] == '/' ? snprintf(out, size, "%s/respan", run) :
				       snprintf(out, size, "/tmp/respan-%u",
						(unsigned)getuid());
	if (n < 0 || (size_t)n >= size)
		return -1;
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return -1;
	struct stat st;
	if (lstat(out, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077) != 0)
		return -1;
	return 0;
}

/* Append a whole file to b, then a newline if it lacks one; hash its bytes. */
static int append_pem(const char *path, struct buf *b, uint64_t *hash)
{
	size_t start = b->len;
	if (readfile(path, b) < 0)
		return -1;
	for (size_t i = start; i < b->len; i++)	/* FNV-1a */
		*hash = (*hash ^ (unsigned char)b->data[i]) * 1099511628211ULL;
	if (b->len && b->data[b->len - 1] != '\n' && buf_append(b, "\n", 1) < 0)
		return -1;
	return 0;
}

/*
 * node reads one NODE_EXTRA_CA_CERTS file: write the user's CAs and
 * RESPAN_CA_FILE into one bundle, named by its content so that every process
 * of a tree shares it. Returns the bundle's path, or NULL.
 */
static char *ca_bundle(const char *user, const char *respan)
{
	char dir[512];
	if (private_dir(dir, sizeof(dir)) < 0)
		return NULL;
	struct buf pem;
	uint64_t hash = 14695981039346656037ULL;
	buf_init(&pem, 2 * CA_FILE_MAX + 2);
	if (append_pem(user, &pem, &hash) < 0 || append_pem(respan, &pem, &hash) < 0) {
		buf_free(&pem);
		return NULL;
	}
	const char *data = pem.data ? pem.data : "";
	size_t len = pem.len;
	char path[600], tmp[640];
	snprintf(path, sizeof(path), "%s/" ENVLAYER_BUNDLE_PREFIX "%016llx.pem", dir,
		 (unsigned long long)hash);
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	char *result = NULL;
	if (access(path, R_OK) == 0) {
		result = strdup(path);
	} else {
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
			      0600);
		if (fd >= 0) {
			bool ok = write(fd, data, len) == (ssize_t)len;
			ok = close(fd) == 0 && ok;
			if (ok && rename(tmp, path) == 0)
				result = strdup(path);
			else
				unlink(tmp);
		}
	}
	buf_free(&pem);
	return result;
}

int environ_apply(const struct config *cfg, const char *relay, const char *node_ca,
		  char *detail, size_t size)
{
	struct envlayer_plan plan;
	detail[0] = '\0';
	if ((relay ? envlayer_plan_relay(cfg, environ, relay, node_ca, &plan) :
		     envlayer_plan(cfg, environ, &plan)) < 0)
		return -1;
	size_t used = 0;
	for (size_t i = 0; i < plan.n_ops; i++) {
		const struct envlayer_op *op = &plan.ops[i];
		int rc = op->value ? setenv(op->name, op->value, 1) : unsetenv(op->name);
		if (rc == 0 && used < size) {
			int n = snprintf(detail + used, size - used, "%s%s%s",
					 used ? " " : "", op->value ? "" : "-", op->name);
			if (n > 0)
				used += (size_t)n;
		}
	}
	if (plan.ca_merge_user) {
		char *bundle = ca_bundle(plan.ca_merge_user, plan.ca_merge_respan);
		if (bundle && setenv("NODE_EXTRA_CA_CERTS", bundle, 1) == 0 &&
		    used < size)
			snprintf(detail + used, size - used, "%sNODE_EXTRA_CA_CERTS",
				 used ? " " : "");
		free(bundle);
	}
	envlayer_free(&plan);
	return 0;
}
