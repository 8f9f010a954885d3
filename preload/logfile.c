#include "logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "mkdirs.h"

/*
 * The log is opened at a descriptor no lower than this: programs assume the
 * small numbers after 2 are theirs (they close them, dup2 onto them, pass
 * them to children), and a number taken from under them is a number taken.
 */
#define LOGFILE_FD_MIN 100

/* An event's line: host and detail are short texts, never bodies. */
#define LOGFILE_EVENT_MAX (256u * 1024)

struct logfile {
	int fd;			/* swapped atomically when the log is reopened */
	dev_t dev;		/* what fd must still be, or it is not ours */
	ino_t ino;
	char *path;
	pthread_mutex_t lock;	/* one reopen at a time */
	struct logfile_owner owner;
	/* Records that could not be written since the last one that could. */
	atomic_ulong dropped;
	atomic_int last_error;
	atomic_flag warned;
	/* A short write left a line without its end (the disk filled up). */
	atomic_bool torn;
};

/* Open path for appending at a high descriptor; its identity in *st. */
static int open_high(const char *path, struct stat *st)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
		      0600);
	if (fd < 0)
		return -errno;
	if (fd < LOGFILE_FD_MIN) {
		/* EINVAL when RLIMIT_NOFILE is lower: the low one will do. */
		int high = fcntl(fd, F_DUPFD_CLOEXEC, LOGFILE_FD_MIN);
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

/* open_high, making the missing directories only when they are missing. */
static int open_log(const char *path, struct stat *st)
{
	int fd = open_high(path, st);
	if (fd != -ENOENT)
		return fd;
	int rc = mkdirs_parents(path);
	return rc < 0 ? rc : open_high(path, st);
}

/* The log, not open yet (fd -1: current_fd opens it), or NULL. */
static struct logfile *logfile_new(const char *path, const struct logfile_owner *owner)
{
	struct logfile *log = malloc(sizeof(*log));
	char *copy = strdup(path);
	if (log == NULL || copy == NULL) {
		free(log);
		free(copy);
		return NULL;
	}
	log->fd = -1;
	log->dev = 0;
	log->ino = 0;
	log->path = copy;
	pthread_mutex_init(&log->lock, NULL);
	log->owner = *owner;
	atomic_init(&log->dropped, 0);
	atomic_init(&log->last_error, 0);
	atomic_flag_clear(&log->warned);
	atomic_init(&log->torn, false);
	return log;
}

int logfile_open(const char *path, const struct logfile_owner *owner,
		 struct logfile **out)
{
	struct stat st;
	int fd = open_log(path, &st);
	if (fd < 0)
		return fd;
	struct logfile *log = logfile_new(path, owner);
	if (log == NULL) {
		close(fd);
		return -ENOMEM;
	}
	log->fd = fd;
	log->dev = st.st_dev;
	log->ino = st.st_ino;
	*out = log;
	return 0;
}

int logfile_defer(const char *path, const struct logfile_owner *owner,
		  struct logfile **out)
{
	*out = logfile_new(path, owner);
	return *out ? 0 : -ENOMEM;
}

static bool still_ours(const struct logfile *log, int fd)
{
	struct stat st;
	return fd >= 0 && fstat(fd, &st) == 0 &&
	       st.st_dev == __atomic_load_n(&log->dev, __ATOMIC_ACQUIRE) &&
	       st.st_ino == __atomic_load_n(&log->ino, __ATOMIC_ACQUIRE);
}

/*
 * The descriptor to write to: log->fd while it is still the log, else the
 * log opened again. The program may have closed our descriptor (a daemon
 * closing everything, close_range) and been given the same number for a
 * file of its own: records must never land there. The old number is not
 * closed here, it is no longer ours. A log moved aside and made anew is
 * from then on the log (logrotate's "create"). A deferred log is opened
 * here, by its first record.
 */
static int current_fd(struct logfile *log)
{
	int fd = __atomic_load_n(&log->fd, __ATOMIC_ACQUIRE);
	if (still_ours(log, fd))
		return fd;
	pthread_mutex_lock(&log->lock);
	fd = log->fd;
	if (!still_ours(log, fd)) {
		struct stat st;
		fd = open_log(log->path, &st);
		if (fd >= 0) {
			__atomic_store_n(&log->dev, st.st_dev, __ATOMIC_RELEASE);
			__atomic_store_n(&log->ino, st.st_ino, __ATOMIC_RELEASE);
			__atomic_store_n(&log->fd, fd, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&log->lock);
	return fd;
}

/*
 * The process's pid and its parent's, asked for once: two system calls a
 * record otherwise. A child made by fork() asks again (logfile_fork); the
 * parent recorded is the one the process had when it first logged, which
 * stays the one that started it even if that one exits first.
 */
static pid_t my_pid, my_ppid;

void logfile_fork(struct logfile *log, enum fork_phase phase)
{
	fork_phase_lock(&log->lock, phase);
	if (phase == FORK_CHILD)
		__atomic_store_n(&my_pid, 0, __ATOMIC_RELAXED);
}

int logfile_fd(const struct logfile *log)
{
	return log ? __atomic_load_n(&log->fd, __ATOMIC_ACQUIRE) : -1;
}

int logfile_write(struct logfile *log, const char *line, size_t len)
{
	int fd = current_fd(log);
	if (fd < 0)
		return fd;
	ssize_t n;
	/*
	 * A line cut short by a full disk gets its end before the next record,
	 * once there is room again: a reader then finds one bad line, never a
	 * good record glued to a bad one.
	 */
	if (atomic_load_explicit(&log->torn, memory_order_relaxed)) {
		do {
			n = write(fd, "\n", 1);
		} while (n < 0 && errno == EINTR);
		if (n != 1)
			return n < 0 ? -errno : -ENOSPC;
		atomic_store(&log->torn, false);
	}
	do {
		n = write(fd, line, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < len) {
		if (n > 0)
			atomic_store(&log->torn, true);
		return -ENOSPC;
	}
	return 0;
}

void logfile_close(struct logfile *log)
{
	if (log == NULL)
		return;
	if (log->fd >= 0)
		close(log->fd);
	free(log->path);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

static void proc_of(const struct logfile *log, struct record_proc *proc)
{
	pid_t pid = __atomic_load_n(&my_pid, __ATOMIC_ACQUIRE);
	if (pid == 0) {
		__atomic_store_n(&my_ppid, getppid(), __ATOMIC_RELAXED);
		pid = getpid();
		__atomic_store_n(&my_pid, pid, __ATOMIC_RELEASE);
	}
	proc->pid = pid;
	proc->ppid = __atomic_load_n(&my_ppid, __ATOMIC_RELAXED);
	proc->exe = log->owner.exe;
}

/*
 * Each thread formats its records in a buffer of its own, kept between
 * records up to LINE_KEEP (freed with the thread): no allocation per
 * record. Small, since a program may have a thousand threads: a record
 * with a larger body allocates, which its formatting costs far more than. A record written while one is being formatted (the log_error
 * event put() may add) gets a buffer of its own.
 */
#define LINE_KEEP (16u * 1024)

static pthread_key_t line_key;
static pthread_once_t line_once = PTHREAD_ONCE_INIT;
static __thread struct buf *line_kept;
static __thread bool line_busy;

static void line_drop(void *p)
{
	struct buf *b = p;
	buf_free(b);
	free(b);
}

static void line_key_make(void)
{
	if (pthread_key_create(&line_key, line_drop) != 0)
		line_key = (pthread_key_t)-1;
}

static struct buf *line_take(void)
{
	if (line_busy)
		return NULL;
	if (line_kept == NULL) {
		pthread_once(&line_once, line_key_make);
		struct buf *b = line_key == (pthread_key_t)-1 ? NULL : malloc(sizeof(*b));
		if (b == NULL)
			return NULL;
		buf_init(b, SIZE_MAX);
		if (pthread_setspecific(line_key, b) != 0) {
			free(b);
			return NULL;
		}
		line_kept = b;
	}
	line_busy = true;
	buf_reset(line_kept);
	return line_kept;
}

static void line_give_back(struct buf *b)
{
	if (b->cap > LINE_KEEP)
		buf_free(b);
	line_busy = false;
}

/* Write a formatted line; a line that cannot be written is counted. */
static void put(struct logfile *log, const struct buf *line)
{
	if (line->len == 0)
		return;
	int rc = logfile_write(log, line->data, line->len);
	if (rc < 0) {
		atomic_fetch_add(&log->dropped, 1);
		atomic_store(&log->last_error, -rc);
		if (!atomic_flag_test_and_set(&log->warned) && log->owner.report) {
			char msg[600];
			snprintf(msg, sizeof(msg),
				 "respan: RESPAN_LOG=%.400s: %s: records are being lost",
				 log->path, strerror(-rc));
			log->owner.report(msg);
		}
		return;
	}
	unsigned long lost = atomic_exchange(&log->dropped, 0);
	if (lost) {
		/* Writing works again: the log itself says what it is missing. */
		char detail[160];
		snprintf(detail, sizeof(detail), "%lu records were lost: %s", lost,
			 strerror(atomic_load(&log->last_error)));
		logfile_event(log, "log_error", NULL, detail);
	}
}

/* One record of any of the three types (exactly one of them non-NULL). */
struct any_record {
	const struct record_request *request;
	const struct record_response *response;
	const struct record_event *event;
};

static void put_record(struct logfile *log, const struct any_record *r)
{
	struct record_proc proc;
	struct buf own, *line;
	int rc;

	if (log == NULL)
		return;
	line = line_take();
	proc_of(log, &proc);
	if (line == NULL) {
		buf_init(&own, SIZE_MAX);
		line = &own;
	}
	/* Requests and responses carry bodies (capped by RESPAN_LOG_BODY_MAX
	 * before they get here); an event is a few short texts. */
	line->max = r->event ? LOGFILE_EVENT_MAX : SIZE_MAX;
	if (r->request)
		rc = record_format_request(&proc, r->request, log->owner.red, line);
	else if (r->response)
		rc = record_format_response(&proc, r->response, log->owner.red, line);
	else
		rc = record_format_event(&proc, r->event, log->owner.red, line);
	if (line == &own) {
		if (rc == 0)
			put(log, line);
		buf_free(line);
		return;
	}
	/* put() may log an event itself: that one takes a buffer of its own
	 * (line_busy), and this one is given back after. */
	if (rc == 0)
		put(log, line);
	line_give_back(line);
}

void logfile_request(struct logfile *log, const struct record_request *r)
{
	const struct any_record any = { .request = r };
	put_record(log, &any);
}

void logfile_response(struct logfile *log, const struct record_response *r)
{
	const struct any_record any = { .response = r };
	put_record(log, &any);
}

void logfile_event(struct logfile *log, const char *event, const char *host,
		   const char *detail)
{
	const struct record_event e = {
		.ts_ms = clock_real_ms(), .event = event, .host = host,
		.detail = detail,
	};
	const struct any_record any = { .event = &e };
	put_record(log, &any);
}
