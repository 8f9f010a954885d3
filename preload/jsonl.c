#include "jsonl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"

#define JSONL_LINE_MAX (64u * 1024 * 1024)

/*
 * The log is opened at a descriptor no lower than this: programs assume the
 * small numbers after 2 are theirs (they close them, dup2 onto them, pass
 * them to children), and a number taken from under them is a number taken.
 */
#define JSONL_FD_MIN 100

struct jsonl {
	int fd;			/* swapped atomically when the log is reopened */
	dev_t dev;		/* what fd must still be, or it is not ours */
	ino_t ino;
	char *path;
	pthread_mutex_t lock;	/* one reopen at a time */
};

/* Length of the valid UTF-8 sequence at p, or 0 when it is not valid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t need;
	unsigned min;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2; min = 0x80; cp = c & 0x1fu;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3; min = 0x800; cp = c & 0x0fu;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4; min = 0x10000; cp = c & 0x07u;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

/* Bytes from u[i] on that are ASCII other than NUL; returns where they end. */
static size_t ascii_run(const unsigned char *u, size_t i, size_t n)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	/* Eight at a time: no high bit set, and no zero byte. */
	while (n - i >= 8) {
		uint64_t v;
		memcpy(&v, u + i, 8);
		if ((v & highs) != 0 || ((v - ones) & ~v & highs) != 0)
			break;
		i += 8;
	}
	while (i < n && (unsigned)u[i] - 1u < 0x7fu)
		i++;
	return i;
}

/* Text for the log: valid UTF-8 without NUL bytes. */
static bool is_text(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	for (size_t i = 0; i < n;) {
		i = ascii_run(u, i, n);
		if (i == n)
			break;
		if (u[i] == 0)
			return false;
		size_t k = utf8_seq(u + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/*
 * A JSON string from (p, n). Header values may hold obs-text that is not
 * UTF-8: such bytes are taken as Latin-1 so the record stays valid JSON.
 */
static cJSON *json_str(const char *p, size_t n)
{
	char *s = malloc(n * 2 + 1);
	if (s == NULL)
		return NULL;
	const unsigned char *u = (const unsigned char *)p;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t run = ascii_run(u, i, n);
		memcpy(s + o, u + i, run - i);	/* the usual case, in one piece */
		o += run - i;
		i = run;
		if (i == n)
			break;
		size_t k = u[i] ? utf8_seq(u + i, n - i) : 0;
		if (k > 0) {
			memcpy(s + o, u + i, k);
			o += k;
			i += k;
		} else if (u[i] == 0) {
			i++;	/* NUL cannot travel in a C string; drop it */
		} else {
			s[o++] = (char)(0xc0 | u[i] >> 6);
			s[o++] = (char)(0x80 | (u[i] & 0x3f));
			i++;
		}
	}
	s[o] = '\0';
	cJSON *j = cJSON_CreateString(s);
	free(s);
	return j;
}

static cJSON *json_cstr(const char *s)
{
	return s ? json_str(s, strlen(s)) : cJSON_CreateNull();
}

void jsonl_timestamp(long long ts_ms, char *out, size_t size)
{
	time_t secs = (time_t)(ts_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ts_ms % 1000));
}

long long jsonl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void add_common(cJSON *o, const char *type, const char *id,
		       long long ts_ms, pid_t pid)
{
	char ts[40];
	jsonl_timestamp(ts_ms, ts, sizeof(ts));
	cJSON_AddItemToObject(o, "type", cJSON_CreateString(type));
	if (id)
		cJSON_AddItemToObject(o, "id", cJSON_CreateString(id));
	cJSON_AddItemToObject(o, "ts", cJSON_CreateString(ts));
	cJSON_AddItemToObject(o, "pid", cJSON_CreateNumber((double)pid));
}

static cJSON *json_headers(const struct http_header *h, size_t n)
{
	cJSON *list = cJSON_CreateArray();
	for (size_t i = 0; list && i < n; i++) {
		cJSON *pair = cJSON_CreateArray();
		cJSON_AddItemToArray(pair, json_str(h[i].name, h[i].name_len));
		if (http_header_is_secret(h[i].name, h[i].name_len))
			cJSON_AddItemToArray(pair, cJSON_CreateString(REDACT_MARK));
		else
			cJSON_AddItemToArray(pair,
					     json_str(h[i].value, h[i].value_len));
		cJSON_AddItemToArray(list, pair);
	}
	return list;
}

/* body or body_base64, then body_bytes and body_truncated. */
static int add_body(cJSON *o, const struct log_body *b, struct redact *red)
{
	struct buf clean;
	buf_init(&clean, JSONL_LINE_MAX);
	int rc = redact_scrub(red, b->data ? b->data : "", b->len, &clean);
	if (rc < 0)
		goto out;
	if (is_text(clean.data ? clean.data : "", clean.len)) {
		cJSON_AddItemToObject(o, "body",
				      json_str(clean.data ? clean.data : "", clean.len));
	} else {
		struct buf enc;
		buf_init(&enc, JSONL_LINE_MAX);
		rc = b64_encode(clean.data, clean.len, &enc);
		if (rc == 0)
			cJSON_AddItemToObject(o, "body_base64",
					      cJSON_CreateString(enc.data ? enc.data : ""));
		buf_free(&enc);
		if (rc < 0)
			goto out;
	}
	cJSON_AddItemToObject(o, "body_bytes", cJSON_CreateNumber((double)b->total));
	cJSON_AddItemToObject(o, "body_truncated", cJSON_CreateBool(b->truncated));
out:
	buf_free(&clean);
	return rc;
}

/* Print o, scrub the line of every secret, append it and a newline. */
static int finish(cJSON *o, struct redact *red, struct buf *out)
{
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text == NULL)
		return -ENOMEM;
	size_t start = out->len;
	int rc = redact_scrub(red, text, strlen(text), out);
	if (rc == 0)
		rc = buf_append(out, "\n", 1);
	if (rc < 0)
		out->len = start;	/* never leave half a record behind */
	if (out->data)
		out->data[out->len] = '\0';
	free(text);
	return rc;
}

int jsonl_format_request(const struct log_proc *proc, const struct log_request *r,
			 struct redact *red, struct buf *out)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return -ENOMEM;
	add_common(o, "request", r->id, r->ts_ms, proc->pid);
	cJSON_AddItemToObject(o, "ppid", cJSON_CreateNumber((double)proc->ppid));
	cJSON_AddItemToObject(o, "exe", json_cstr(proc->exe));
	cJSON_AddItemToObject(o, "layer", json_cstr(r->layer));
	cJSON_AddItemToObject(o, "provider", r->provider_name ?
			      cJSON_CreateString(r->provider_name) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "routed", cJSON_CreateBool(r->routed));
	cJSON_AddItemToObject(o, "method", json_cstr(r->method));

	struct buf url;
	buf_init(&url, JSONL_LINE_MAX);
	int rc = 0;
	const char *urls[2] = { r->url, r->routed_url };
	const char *names[2] = { "url", "routed_url" };
	for (int i = 0; i < 2; i++) {
		if (urls[i] == NULL) {
			cJSON_AddItemToObject(o, names[i], cJSON_CreateNull());
			continue;
		}
		buf_reset(&url);
		if ((rc = redact_url(urls[i], strlen(urls[i]), &url)) < 0)
			break;
		cJSON_AddItemToObject(o, names[i], json_str(url.data, url.len));
	}
	buf_free(&url);
	cJSON_AddItemToObject(o, "headers", json_headers(r->headers, r->n_headers));
	if (rc == 0)
		rc = add_body(o, &r->body, red);
	if (rc < 0) {
		cJSON_Delete(o);
		return rc;
	}
	return finish(o, red, out);
}

int jsonl_format_response(const struct log_proc *proc,
			  const struct log_response *r, struct redact *red,
			  struct buf *out)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return -ENOMEM;
	add_common(o, "response", r->id, r->ts_ms, proc->pid);
	cJSON_AddItemToObject(o, "status", cJSON_CreateNumber(r->status));
	cJSON_AddItemToObject(o, "headers", json_headers(r->headers, r->n_headers));
	int rc = add_body(o, &r->body, red);
	if (rc < 0) {
		cJSON_Delete(o);
		return rc;
	}
	cJSON_AddItemToObject(o, "sse", cJSON_CreateBool(r->sse));
	cJSON_AddItemToObject(o, "ttfb_ms", r->ttfb_ms < 0 ? cJSON_CreateNull() :
			      cJSON_CreateNumber((double)r->ttfb_ms));
	cJSON_AddItemToObject(o, "duration_ms", cJSON_CreateNumber((double)r->duration_ms));
	if (r->usage) {
		cJSON *u = cJSON_CreateObject();
		cJSON_AddItemToObject(u, "model", json_cstr(r->usage->model));
		cJSON_AddItemToObject(u, "input_tokens", r->usage->input_tokens < 0 ?
				      cJSON_CreateNull() :
				      cJSON_CreateNumber((double)r->usage->input_tokens));
		cJSON_AddItemToObject(u, "output_tokens", r->usage->output_tokens < 0 ?
				      cJSON_CreateNull() :
				      cJSON_CreateNumber((double)r->usage->output_tokens));
		cJSON_AddItemToObject(o, "usage", u);
	} else {
		cJSON_AddItemToObject(o, "usage", cJSON_CreateNull());
	}
	cJSON_AddItemToObject(o, "output_text", r->output_text ?
			      json_str(r->output_text, r->output_text_len) :
			      cJSON_CreateNull());
	cJSON_AddItemToObject(o, "error", json_cstr(r->error));
	return finish(o, red, out);
}

int jsonl_format_event(const struct log_proc *proc, const struct log_event *e,
		       struct redact *red, struct buf *out)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return -ENOMEM;
	add_common(o, "event", NULL, e->ts_ms, proc->pid);
	cJSON_AddItemToObject(o, "exe", json_cstr(proc->exe));
	cJSON_AddItemToObject(o, "event", json_cstr(e->event));
	cJSON_AddItemToObject(o, "host", json_cstr(e->host));
	cJSON_AddItemToObject(o, "detail", json_cstr(e->detail));
	return finish(o, red, out);
}

/* mkdir -p of path's directory; directories made here get mode 0700. */
static int make_parents(const char *path)
{
	char dir[PATH_MAX];
	size_t n = strlen(path);
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n + 1);
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

/* Open path for appending at a high descriptor; its identity in *st. */
static int open_high(const char *path, struct stat *st)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
		      0600);
	if (fd < 0)
		return -errno;
	if (fd < JSONL_FD_MIN) {
		/* EINVAL when RLIMIT_NOFILE is lower: the low one will do. */
		int high = fcntl(fd, F_DUPFD_CLOEXEC, JSONL_FD_MIN);
		if (high >= 0) {
			close(fd);
			fd = high;
		}
	}
	if (fstat(fd, st) != 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int jsonl_open(const char *path, struct jsonl **out)
{
	int rc = make_parents(path);
	if (rc < 0)
		return rc;
	struct jsonl *log = malloc(sizeof(*log));
	char *copy = strdup(path);
	struct stat st;
	int fd = log && copy ? open_high(path, &st) : -ENOMEM;
	if (fd < 0) {
		free(log);
		free(copy);
		return fd;
	}
	log->fd = fd;
	log->dev = st.st_dev;
	log->ino = st.st_ino;
	log->path = copy;
	pthread_mutex_init(&log->lock, NULL);
	*out = log;
	return 0;
}

static bool still_ours(const struct jsonl *log, int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 &&
	       st.st_dev == __atomic_load_n(&log->dev, __ATOMIC_ACQUIRE) &&
	       st.st_ino == __atomic_load_n(&log->ino, __ATOMIC_ACQUIRE);
}

/*
 * The descriptor to write to: log->fd while it is still the log, else the
 * log opened again. The program may have closed our descriptor (a daemon
 * closing everything, close_range) and been given the same number for a
 * file of its own: records must never land there. The old number is not
 * closed here, it is no longer ours. A log moved aside and made anew is
 * from then on the log (logrotate's "create").
 */
static int current_fd(struct jsonl *log)
{
	int fd = __atomic_load_n(&log->fd, __ATOMIC_ACQUIRE);
	if (still_ours(log, fd))
		return fd;
	pthread_mutex_lock(&log->lock);
	fd = log->fd;
	if (!still_ours(log, fd)) {
		struct stat st;
		fd = open_high(log->path, &st);
		if (fd >= 0) {
			__atomic_store_n(&log->dev, st.st_dev, __ATOMIC_RELEASE);
			__atomic_store_n(&log->ino, st.st_ino, __ATOMIC_RELEASE);
			__atomic_store_n(&log->fd, fd, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&log->lock);
	return fd;
}

void jsonl_fork(struct jsonl *log, enum fork_phase phase)
{
	fork_phase_lock(&log->lock, phase);
}

int jsonl_fd(const struct jsonl *log)
{
	return log ? __atomic_load_n(&log->fd, __ATOMIC_ACQUIRE) : -1;
}

int jsonl_write(struct jsonl *log, const char *line, size_t len)
{
	int fd = current_fd(log);
	if (fd < 0)
		return fd;
	ssize_t n;
	do {
		n = write(fd, line, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < len) {
		/* Keep the next record on a line of its own if there is room. */
		ssize_t ignored = write(fd, "\n", 1);
		(void)ignored;
		return -ENOSPC;
	}
	return 0;
}

void jsonl_close(struct jsonl *log)
{
	if (log == NULL)
		return;
	close(log->fd);
	free(log->path);
	pthread_mutex_destroy(&log->lock);
	free(log);
}
