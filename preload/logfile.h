/*
 * logfile: the traffic log file, and putting records into it.
 *
 * Each record is formatted (record.h) and written with exactly one write()
 * to a file opened O_APPEND, so lines from many processes and threads never
 * interleave. The file is created 0600 and missing directories 0700.
 *
 * A record that cannot be written (a full disk, a file gone read-only) is
 * counted, not retried: the program goes on. The first loss in a process is
 * told to the owner's report function (the engine itself never writes to
 * stderr); once writing works again, the log gets a "log_error" event that
 * says how many records were lost.
 */
#ifndef RESPAN_LOGFILE_H
#define RESPAN_LOGFILE_H

#include <stddef.h>

#include "forkphase.h"
#include "record.h"
#include "redact.h"

/* Who writes to the log: the same for every record of the process. */
struct logfile_owner {
	const char *exe;		/* each record's "exe"; outlives the log */
	struct redact *red;		/* scrubs every line; may be NULL */
	/* Told once per process, with one line of text (no newline), when
	 * records start being lost. May be NULL. */
	void (*report)(const char *line);
};

struct logfile;

/*
 * Open (creating) the log at path: missing directories are made 0700, the
 * file is created 0600 and opened O_WRONLY|O_APPEND|O_CLOEXEC. owner is
 * copied. Returns 0 and *out, or a negative errno.
 */
int logfile_open(const char *path, const struct logfile_owner *owner,
		 struct logfile **out);

/*
 * The same, but nothing is opened or made until the first record is
 * written (a process that never logs never touches the file system). A
 * log that cannot be opened then is reported like a write that fails.
 * Returns 0 and *out, or -ENOMEM.
 */
int logfile_defer(const char *path, const struct logfile_owner *owner,
		  struct logfile **out);

/* The descriptor (-1 while a deferred log is not open yet), so the hooks can tell the library's own writes apart. */
int logfile_fd(const struct logfile *log);

/*
 * Write one formatted line with a single write(). Returns 0, or a negative
 * errno (-ENOSPC also for a short write: the file is shared by other
 * writers, so nothing is cut back; a newline is attempted so the next record
 * starts a line of its own, and readers skip a line that is not JSON).
 *
 * The log is kept at a descriptor of 100 or more (programs treat the low
 * numbers as theirs), and before each line logfile_write checks that the
 * descriptor is still the log file (device and inode): a program that
 * closed it and got the number back for a file of its own never receives a
 * record; the log is opened again instead.
 */
int logfile_write(struct logfile *log, const char *line, size_t len);

/*
 * Format a record and write it, counting it when it is lost (above). The
 * process facts (pid, ppid, exe) are filled in here. log may be NULL (no
 * log): then nothing happens.
 */
void logfile_request(struct logfile *log, const struct record_request *r);
void logfile_response(struct logfile *log, const struct record_response *r);

/* An "event" record now (event name, host and detail may be NULL). */
void logfile_event(struct logfile *log, const char *event, const char *host,
		   const char *detail);

void logfile_close(struct logfile *log);

/* Around fork(): see forkphase.h. */
void logfile_fork(struct logfile *log, enum fork_phase phase);

#endif
