/*
 * Unit tests for preload/logfile.c: the file (modes, append, a descriptor
 * taken by the program, a full disk) and putting records into it (events,
 * lost records counted and reported once, secrets scrubbed).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "jsonlines.h"
#include "logfile.h"

#define RESPAN_KEY "rk-logfile-test-0123456789"

static int reports;
static char last_report[1024];

static void report(const char *line)
{
	reports++;
	snprintf(last_report, sizeof(last_report), "%s", line);
}

static const struct logfile_owner owner = { "/usr/bin/test", NULL, report };

struct fixture {
	char dir[64];
	char path[128];
	struct redact *red;
	struct logfile *log;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/respan-logfile-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/traffic.jsonl", f->dir);
	f->red = redact_new();
	redact_add(f->red, RESPAN_KEY, strlen(RESPAN_KEY));
	struct logfile_owner o = { "/usr/bin/test", f->red, report };
	if (logfile_open(f->path, &o, &f->log) != 0)
		return -1;
	reports = 0;
	last_report[0] = '\0';
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	logfile_close(f->log);
	redact_free(f->red);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Every record in the log, in order; none holds the key. */
static cJSON *read_log(const struct fixture *f)
{
	static const char *const never[] = { RESPAN_KEY, NULL };
	return jsonlines_read(f->path, never);
}


/* The file at path holds exactly the records n=1, 2, 3, in that order. */
static void assert_three_records(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char text[64] = { 0 };
	assert_int_equal(fread(text, 1, sizeof(text) - 1, f), 24);
	fclose(f);
	assert_string_equal(text, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
}

static void test_file_modes_and_append(void **state)
{
	(void)state;
	char dir[] = "/tmp/respan-logfile-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/a/b/traffic.jsonl", dir);

	mode_t old = umask(0);
	struct logfile *log;
	assert_int_equal(logfile_open(path, &owner, &log), 0);
	umask(old);
	assert_true(logfile_fd(log) >= 0);
	assert_int_equal(logfile_write(log, "{\"n\":1}\n", 8), 0);
	struct logfile *log2;
	assert_int_equal(logfile_open(path, &owner, &log2), 0);
	assert_int_equal(logfile_write(log2, "{\"n\":2}\n", 8), 0);
	assert_int_equal(logfile_write(log, "{\"n\":3}\n", 8), 0);
	logfile_close(log);
	logfile_close(log2);

	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char sub[300];
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	assert_three_records(path);

	unlink(path);
	rmdir(sub);
	snprintf(sub, sizeof(sub), "%s/a", dir);
	rmdir(sub);
	rmdir(dir);
}

/*
 * A program closes the log's descriptor and gets the number back for a file
 * of its own (here by dup2 onto it): that file receives nothing, the record
 * goes to the log, opened again.
 */
static void test_descriptor_taken_by_the_program(void **state)
{
	(void)state;
	char dir[] = "/tmp/respan-logfile-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256], theirs[256];
	snprintf(path, sizeof(path), "%s/traffic.jsonl", dir);
	snprintf(theirs, sizeof(theirs), "%s/theirs.txt", dir);

	struct logfile *log;
	assert_int_equal(logfile_open(path, &owner, &log), 0);
	int fd = logfile_fd(log);
	assert_true(fd >= 100);			/* out of the program's way */
	assert_int_equal(logfile_write(log, "{\"n\":1}\n", 8), 0);

	int other = open(theirs, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(other >= 0);
	assert_int_equal(dup2(other, fd), fd);	/* the number is theirs now */
	close(other);
	assert_int_equal(logfile_write(log, "{\"n\":2}\n", 8), 0);
	assert_true(logfile_fd(log) != fd);

	close(logfile_fd(log));			/* closed outright: opened again */
	assert_int_equal(logfile_write(log, "{\"n\":3}\n", 8), 0);
	logfile_close(log);

	struct stat st;
	assert_int_equal(stat(theirs, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_three_records(path);
	close(fd);
	unlink(theirs);
	unlink(path);
	rmdir(dir);
}

static void test_full_disk(void **state)
{
	(void)state;
	struct logfile *log;
	if (logfile_open("/dev/full", &owner, &log) != 0)
		skip();
	assert_int_equal(logfile_write(log, "{}\n", 3), -ENOSPC);
	logfile_close(log);
	assert_int_equal(logfile_open("/proc/nonexistent-dir/x.jsonl", &owner, &log) < 0, 1);
}

/*
 * A record cut short (the file may grow only so far: RLIMIT_FSIZE here, a
 * full disk in life) is ended by a newline before the next record once
 * there is room, so the next record is a line of its own.
 */
static void test_torn_line_is_ended(void **state)
{
	(void)state;
	char path[] = "/tmp/respan-torn-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct logfile *log;
	assert_int_equal(logfile_open(path, &owner, &log), 0);
	struct rlimit was, small;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
	small = was;
	small.rlim_cur = 10;
	void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_int_equal(logfile_write(log, "{\"n\":1,\"long\":true}\n", 22), -ENOSPC);
	assert_true(logfile_write(log, "{\"n\":2}\n", 8) < 0);	/* no room at all */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
	signal(SIGXFSZ, old);
	assert_int_equal(logfile_write(log, "{\"n\":3}\n", 8), 0);
	logfile_close(log);

	char got[64] = { 0 };
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, got, sizeof(got) - 1), 19);
	close(fd);
	assert_string_equal(got, "{\"n\":1,\"lo\n{\"n\":3}\n");
	unlink(path);
}

/*
 * A deferred log touches nothing until its first record: then the missing
 * directories are made (0700) and the file created. One that cannot be
 * opened is reported like a write that fails, and is tried again.
 */
static void test_deferred_open(void **state)
{
	(void)state;
	char dir[64], sub[96], path[128];
	struct stat st;
	struct logfile *log;
	snprintf(dir, sizeof(dir), "/tmp/respan-logdefer-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/a", dir);
	snprintf(path, sizeof(path), "%s/a/b/traffic.jsonl", dir);

	assert_int_equal(logfile_defer(path, &owner, &log), 0);
	assert_int_equal(logfile_fd(log), -1);
	assert_int_equal(stat(sub, &st), -1);
	logfile_event(log, "bypass", "api.openai.com", "first");
	assert_true(logfile_fd(log) >= 100);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(st.st_size > 0);
	logfile_close(log);

	/* A file standing where the directory should be: lost, said once. */
	char blocked[160];
	snprintf(blocked, sizeof(blocked), "%s/a/b/traffic.jsonl/x.jsonl", dir);
	reports = 0;
	assert_int_equal(logfile_defer(blocked, &owner, &log), 0);
	logfile_event(log, "bypass", NULL, "one");
	logfile_event(log, "bypass", NULL, "two");
	assert_int_equal(reports, 1);
	assert_non_null(strstr(last_report, "Not a directory: records are being lost"));
	assert_int_equal(logfile_fd(log), -1);
	logfile_close(log);

	unlink(path);
	snprintf(path, sizeof(path), "%s/a/b", dir);
	rmdir(path);
	rmdir(sub);
	rmdir(dir);
}

/*
 * The pid is asked for once, and again in a child made by fork() (around
 * which the library calls logfile_fork): a child's records carry its own
 * pid, and its parent's pid as ppid.
 */
static void test_pid_after_fork(void **state)
{
	struct fixture *f = *state;
	logfile_event(f->log, "bypass", NULL, "parent");
	logfile_fork(f->log, FORK_PREPARE);
	pid_t child = fork();
	if (child == 0) {
		logfile_fork(f->log, FORK_CHILD);
		logfile_event(f->log, "bypass", NULL, "child");
		_exit(0);
	}
	logfile_fork(f->log, FORK_PARENT);
	assert_true(child > 0);
	int st;
	assert_int_equal(waitpid(child, &st, 0), child);
	logfile_event(f->log, "bypass", NULL, "parent again");
	cJSON *log = read_log(f);
	assert_int_equal(cJSON_GetArraySize(log), 3);
	static const char *const details[] = { "parent", "child", "parent again" };
	for (int i = 0; i < 3; i++) {
		const cJSON *e = cJSON_GetArrayItem(log, i);
		assert_string_equal(jsonlines_str(e, "detail"), details[i]);
		long want = i == 1 ? (long)child : (long)getpid();
		assert_int_equal((long)cJSON_GetObjectItem(e, "pid")->valuedouble, want);
	}
	cJSON_Delete(log);
}

static void test_event(void **state)
{
	struct fixture *f = *state;
	logfile_event(f->log, "bypass", "api.anthropic.com", "sni");
	cJSON *log = read_log(f);
	assert_int_equal(cJSON_GetArraySize(log), 1);
	const cJSON *e = cJSON_GetArrayItem(log, 0);
	assert_string_equal(jsonlines_str(e, "event"), "bypass");
	assert_string_equal(jsonlines_str(e, "exe"), "/usr/bin/test");
	assert_string_equal(jsonlines_str(e, "detail"), "sni");
	cJSON_Delete(log);
}

/*
 * A log that cannot be written (here: RLIMIT_FSIZE, as a full disk would
 * be): the caller goes on, records are counted, and once writing works
 * again the log gets a log_error event saying how many were lost.
 */
static void test_log_write_failure(void **state)
{
	struct fixture *f = *state;
	logfile_event(f->log, "bypass", "api.openai.com", "first");
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);

	struct rlimit saved, small;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	small = saved;
	small.rlim_cur = (rlim_t)st.st_size;	/* not one byte more */
	void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	logfile_event(f->log, "bypass", "api.openai.com", "lost 1");
	logfile_event(f->log, "bypass", "api.openai.com", "lost 2");
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, old);

	logfile_event(f->log, "bypass", "api.openai.com", "after");
	cJSON *log = read_log(f);
	assert_int_equal(cJSON_GetArraySize(log), 3);
	assert_string_equal(jsonlines_str(cJSON_GetArrayItem(log, 0), "detail"), "first");
	/* The first record that could be written, then what was missed. */
	assert_string_equal(jsonlines_str(cJSON_GetArrayItem(log, 1), "detail"), "after");
	const cJSON *err = cJSON_GetArrayItem(log, 2);
	assert_string_equal(jsonlines_str(err, "event"), "log_error");
	assert_non_null(strstr(jsonlines_str(err, "detail"), "2 records were lost"));
	cJSON_Delete(log);
	/* The owner was told once, in one line naming the file. */
	assert_int_equal(reports, 1);
	assert_non_null(strstr(last_report, f->path));
	assert_non_null(strstr(last_report, "records are being lost"));
}


/* A secret the redactor knows never reaches the file, whatever field. */
static void test_event_scrubbed(void **state)
{
	struct fixture *f = *state;
	logfile_event(f->log, "bypass", "host-" RESPAN_KEY, "detail " RESPAN_KEY);
	cJSON *log = read_log(f);
	assert_int_equal(cJSON_GetArraySize(log), 1);
	assert_non_null(strstr(jsonlines_str(cJSON_GetArrayItem(log, 0), "detail"), "[REDACTED]"));
	cJSON_Delete(log);
}

/* No log (RESPAN_LOG=off, or it could not be opened): nothing happens. */
static void test_no_log(void **state)
{
	(void)state;
	logfile_event(NULL, "bypass", "api.openai.com", NULL);
	struct record_request rq = { .id = "1-1", .method = "GET" };
	logfile_request(NULL, &rq);
	struct record_response rs = { .id = "1-1", .ttfb_ms = -1 };
	logfile_response(NULL, &rs);
	assert_int_equal(logfile_fd(NULL), -1);
	logfile_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_modes_and_append),
		cmocka_unit_test(test_descriptor_taken_by_the_program),
		cmocka_unit_test(test_full_disk),
		cmocka_unit_test(test_torn_line_is_ended),
		cmocka_unit_test(test_deferred_open),
		cmocka_unit_test_setup_teardown(test_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pid_after_fork, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_scrubbed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_write_failure, setup, teardown),
		cmocka_unit_test(test_no_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
