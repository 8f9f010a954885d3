#include "logread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *shown_name(const struct logread *r)
{
	return strcmp(r->name, "-") == 0 ? "<stdin>" : r->name;
}

static void forget_buffer(struct logread *r)
{
	buf_reset(&r->buf);
	r->pos = r->scanned = 0;
	r->skipping = false;
}

int logread_open(struct logread *r, const char *name, bool follow)
{
	struct stat st;
	memset(r, 0, sizeof(*r));
	r->name = name;
	if (strcmp(name, "-") == 0) {
		r->fd = STDIN_FILENO;
	} else {
		r->fd = open(name, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0)
			return -errno;
	}
	if (fstat(r->fd, &st) < 0) {
		int e = -errno;
		logread_close(r);
		return e;
	}
	if (S_ISDIR(st.st_mode)) {
		logread_close(r);
		return -EISDIR;
	}
	r->regular = S_ISREG(st.st_mode);
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	/* A pipe's end is final: there is nothing to follow. */
	r->follow = follow && r->regular;
	buf_init(&r->buf, LOGREAD_LINE_MAX + LOGREAD_CHUNK);
	return 0;
}

void logread_close(struct logread *r)
{
	if (r->fd > STDIN_FILENO)
		close(r->fd);
	r->fd = -1;
	buf_free(&r->buf);
}

/* Parse one line (NUL-terminated at len): the record, or NULL after a warning. */
static cJSON *parse_line(struct logread *r, const char *line, size_t len, bool last)
{
	cJSON *o;
	if (strspn(line, " \t\r") == len)
		return NULL;	/* an empty line is no record, and no harm */
	o = cJSON_ParseWithLengthOpts(line, len + 1, NULL, true);
	if (cJSON_IsObject(o))
		return o;
	cJSON_Delete(o);
	r->skipped++;
	fprintf(stderr, "respan: %s:%lu: %s, skipped\n", shown_name(r), r->lineno,
		last ? "incomplete last line" : "not a JSON record");
	return NULL;
}

int logread_next(struct logread *r, cJSON **rec)
{
	char chunk[LOGREAD_CHUNK];
	for (;;) {
		char *data = r->buf.data;
		char *nl = data ? memchr(data + r->scanned, '\n', r->buf.len - r->scanned) : NULL;
		if (nl) {
			size_t start = r->pos, end = (size_t)(nl - data);
			r->pos = r->scanned = end + 1;
			r->lineno++;
			if (r->skipping) {	/* the end of an over-long line */
				r->skipping = false;
				continue;
			}
			*nl = '\0';
			if ((*rec = parse_line(r, data + start, end - start, false)) != NULL)
				return 1;
			continue;
		}
		r->scanned = r->buf.len;
		if (r->skipping) {
			forget_buffer(r);
			r->skipping = true;
		} else if (r->buf.len - r->pos >= LOGREAD_LINE_MAX) {
			r->skipped++;
			fprintf(stderr, "respan: %s:%lu: line longer than %u MiB, skipped\n",
				shown_name(r), r->lineno + 1, LOGREAD_LINE_MAX >> 20);
			forget_buffer(r);
			r->skipping = true;
		} else if (r->pos > 0) {
			buf_consume(&r->buf, r->pos);
			r->scanned -= r->pos;
			r->pos = 0;
		}

		ssize_t n = read(r->fd, chunk, sizeof(chunk));
		if (n < 0)
			return -errno;
		if (n > 0) {
			r->eof = false;
			r->offset += n;
			if (buf_append(&r->buf, chunk, (size_t)n) < 0)
				return -ENOMEM;
			continue;
		}
		r->eof = true;
		if (r->follow)
			return 0;	/* a partial last line may still be completed */
		/* The end: a last line without its newline. */
		if (r->pos < r->buf.len && !r->skipping) {
			size_t len = r->buf.len - r->pos;
			r->lineno++;
			*rec = parse_line(r, r->buf.data + r->pos, len, true);
			forget_buffer(r);
			if (*rec)
				return 1;
		}
		forget_buffer(r);
		return 0;
	}
}

int logread_reopen(struct logread *r)
{
	struct stat st;
	const char *what;
	int fd = -1;

	if (!r->follow)
		return 0;
	if (strcmp(r->name, "-") != 0 && stat(r->name, &st) == 0 &&
	    (st.st_dev != r->dev || st.st_ino != r->ino)) {
		fd = open(r->name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return 0;	/* try again next time */
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			return 0;
		}
		what = "replaced";
	} else if (fstat(r->fd, &st) == 0 && st.st_size < r->offset) {
		what = "truncated";
	} else {
		return 0;
	}
	if (r->pos < r->buf.len && !r->skipping) {
		r->skipped++;
		fprintf(stderr, "respan: %s:%lu: incomplete last line, skipped\n",
			shown_name(r), r->lineno + 1);
	}
	fprintf(stderr, "respan: %s: %s; reading it from the start\n", shown_name(r), what);
	if (fd >= 0) {
		close(r->fd);
		r->fd = fd;
		r->dev = st.st_dev;
		r->ino = st.st_ino;
	} else if (lseek(r->fd, 0, SEEK_SET) < 0) {
		return 0;
	}
	forget_buffer(r);
	r->offset = 0;
	r->lineno = 0;
	r->eof = false;
	return 1;
}

/* ---- record fields ---------------------------------------------------------- */

const char *logread_str(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool logread_num(const cJSON *obj, const char *name, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!cJSON_IsNumber(v))
		return false;
	*out = v->valuedouble;
	return true;
}

bool logread_true(const cJSON *obj, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, name));
}
