/*
 * Unit tests for cli/log/logfilter.c: the filters of `respan log show`,
 * their parsers (times, durations, statuses, pids) and what they match.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "log/logfilter.h"
#include "pageguard.h"

#define NONE (-0x7fffffffffffffffLL)	/* the case must be refused */

struct parse_case {
	const char *in;
	long long want;
};

/*
 * Each case through parse, its input ending at an unmapped page (no byte
 * past the NUL is read): the value, or -EINVAL with *out left alone.
 */
static void run_cases(int (*parse)(const char *, long long *),
		      const struct parse_case *cases, size_t n_cases)
{
	for (size_t i = 0; i < n_cases; i++) {
		size_t n = strlen(cases[i].in) + 1;
		const char *in = pageguard_copy(cases[i].in, n);
		long long ms = 42;
		int rc = parse(in, &ms);
		if (cases[i].want == NONE) {
			assert_int_equal(rc, -EINVAL);
			assert_int_equal(ms, 42);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(ms, cases[i].want);
		}
		pageguard_free(in);
	}
}

static void test_parse_time(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1970-01-01T00:00:00.000Z", 0 },
		{ "2026-11-25T08:49:55.592Z", 1795596595592LL },	/* as the log writes */
		{ "2026-11-25t08:49:55.592z", 1795596595592LL },
		{ "2026-11-25 08:49:55.592Z", 1795596595592LL },
		{ "2026-11-25T08:49:55.592", 1795596595592LL },		/* no offset: UTC */
		{ "2026-11-25T08:49:55.5929999Z", 1795596595592LL },	/* cut to ms */
		{ "2026-11-25T08:49:55.5Z", 1795596595500LL },
		{ "2026-11-25T08:49:55+01:00", 1795592995000LL },
		{ "2026-11-25T08:49:55+0100", 1795592995000LL },
		{ "2026-11-25T08:49:55-01:30", 1795601995000LL },
		{ "2026-11-25T08:49Z", 1795596540000LL },
		{ "2026-11-25T08:49", 1795596540000LL },
		{ "2026-11-25", 1795564800000LL },
		{ "2000-02-29", 951782400000LL },
		{ "1969-12-31T23:59:59Z", -1000 },
		{ "9999-12-31T23:59:59.999Z", 253402300799999LL },
		{ "2016-12-31T23:59:60Z", 1483228800000LL },		/* a leap second */
		{ "", NONE },
		{ "2026", NONE },
		{ "2026-11", NONE },
		{ "2026-11-2", NONE },
		{ "26-11-25", NONE },
		{ "2026-13-01", NONE },
		{ "2026-00-01", NONE },
		{ "2026-11-31", NONE },
		{ "2001-02-29", NONE },
		{ "1900-02-29", NONE },
		{ "2026-11-25T", NONE },
		{ "2026-11-25T8:49", NONE },
		{ "2026-11-25T24:00:00Z", NONE },
		{ "2026-11-25T08:60:00Z", NONE },
		{ "2026-11-25T08:49:61Z", NONE },
		{ "2026-11-25T08:49:55.Z", NONE },
		{ "2026-11-25T08:49:55ZZ", NONE },
		{ "2026-11-25T08:49:55+1", NONE },
		{ "2026-11-25T08:49:55+24:00", NONE },
		{ "2026-11-25T08:49:55+01:60", NONE },
		{ "2026-11-25Z", NONE },
		{ " 2026-11-25", NONE },
		{ "2026-11-25 ", NONE },
		{ "10m", NONE },
	};
	run_cases(logfilter_parse_time, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_parse_duration(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ "90s", 90000 },
		{ "10m", 600000 },
		{ "2h", 7200000 },
		{ "1d", 86400000 },
		{ "1w", 604800000 },
		{ "0s", 0 },
		{ "1h30m", 5400000 },
		{ "1d2h3m4s", 93784000 },
		{ "007m", 420000 },
		{ "36600d", 36600LL * 86400000 },	/* 100 years, just */
		{ "36601d", NONE },			/* past that */
		{ "99999999999999999999s", NONE },	/* no overflow */
		{ "", NONE },
		{ "10", NONE },				/* a number needs its unit */
		{ "m", NONE },
		{ "10M", NONE },
		{ "10 m", NONE },
		{ "-10m", NONE },
		{ "1.5h", NONE },
		{ "10mm", NONE },
		{ "10y", NONE },
	};
	run_cases(logfilter_parse_duration, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_since(void **state)
{
	(void)state;
	struct logfilter f = { 0 };
	assert_int_equal(logfilter_set_since(&f, "10m", 1000000000), 0);
	assert_true(f.has_since);
	assert_int_equal(f.since_ms, 1000000000 - 600000);
	assert_int_equal(logfilter_set_since(&f, "1970-01-02", 5), 0);
	assert_int_equal(f.since_ms, 86400000);
	assert_int_equal(logfilter_set_since(&f, "yesterday", 5), -EINVAL);
	assert_int_equal(f.since_ms, 86400000);	/* unchanged */
}

static void test_status_and_pid(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		bool ok;
		size_t n;
		int lo0, hi0;
	} cases[] = {
		{ "200", true, 1, 200, 200 },
		{ "0", true, 1, 0, 0 },
		{ "999", true, 1, 999, 999 },
		{ "4xx", true, 1, 400, 499 },
		{ "5XX", true, 1, 500, 599 },
		{ "1xx", true, 1, 100, 199 },
		{ "error", true, 1, 0, -1 },
		{ "ERROR", true, 1, 0, -1 },
		{ "429,5xx,error", true, 3, 429, 429 },
		{ "6xx", false, 0, 0, 0 },
		{ "0xx", false, 0, 0, 0 },
		{ "4x", false, 0, 0, 0 },
		{ "1000", false, 0, 0, 0 },
		{ "", false, 0, 0, 0 },
		{ "200,", false, 0, 0, 0 },
		{ ",200", false, 0, 0, 0 },
		{ "2 00", false, 0, 0, 0 },
		{ "-1", false, 0, 0, 0 },
		{ "errors", false, 0, 0, 0 },
		{ "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", true, 16, 1, 1 },
		{ "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", false, 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct logfilter f = { 0 };
		int rc = logfilter_set_status(&f, cases[i].in);
		assert_int_equal(rc, cases[i].ok ? 0 : -EINVAL);
		assert_int_equal(f.n_status, cases[i].n);
		if (cases[i].ok) {
			assert_int_equal(f.status[0].lo, cases[i].lo0);
			assert_int_equal(f.status[0].hi, cases[i].hi0);
		}
	}
	struct logfilter f = { 0 };
	assert_int_equal(logfilter_set_pid(&f, "123"), 0);
	assert_true(f.has_pid && f.pid == 123);
	assert_int_equal(logfilter_set_pid(&f, "2147483647"), 0);
	assert_int_equal(logfilter_set_pid(&f, "2147483648"), -EINVAL);
	assert_int_equal(logfilter_set_pid(&f, "0"), -EINVAL);
	assert_int_equal(logfilter_set_pid(&f, ""), -EINVAL);
	assert_int_equal(logfilter_set_pid(&f, "12a"), -EINVAL);
	assert_int_equal(logfilter_set_pid(&f, "-5"), -EINVAL);
	assert_true(f.pid == 2147483647);
}

/* ---- matching --------------------------------------------------------------- */

static cJSON *rec(const char *json)
{
	cJSON *o = cJSON_Parse(json);
	assert_non_null(o);
	return o;
}

static void test_is_error(void **state)
{
	(void)state;
	static const struct {
		const char *resp;	/* NULL: no response */
		bool error;
	} cases[] = {
		{ NULL, true },
		{ "{\"status\": 200, \"error\": null}", false },
		{ "{\"status\": 399}", false },
		{ "{\"status\": 100}", false },
		{ "{\"status\": 99}", true },
		{ "{\"status\": 400}", true },
		{ "{\"status\": 503}", true },
		{ "{\"status\": 0}", true },
		{ "{}", true },
		{ "{\"status\": \"200\"}", true },	/* not a number: not known */
		{ "{\"status\": 200, \"error\": \"process exited\"}", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *r = cases[i].resp ? rec(cases[i].resp) : NULL;
		assert_int_equal(logfilter_is_error(r), cases[i].error);
		cJSON_Delete(r);
	}
}

/* The records: an exchange of pid 7 (openai, 429), one of pid 8 (no
 * provider, no response), a response alone, an event of pid 7. */
#define REQ7 "{\"type\":\"request\",\"id\":\"7-1\",\"ts\":\"2026-11-25T08:00:00.000Z\"," \
	     "\"pid\":7,\"provider\":\"openai\"}"
#define RESP7 "{\"type\":\"response\",\"id\":\"7-1\",\"ts\":\"2026-11-25T09:30:00.000Z\"," \
	      "\"pid\":7,\"status\":429,\"error\":null}"
#define REQ8 "{\"type\":\"request\",\"id\":\"8-1\",\"ts\":\"2026-11-25T10:00:00.000Z\"," \
	     "\"pid\":8,\"provider\":null}"
#define ORPHAN "{\"type\":\"response\",\"id\":\"9-4\",\"ts\":\"2026-11-25T11:00:00.000Z\"," \
	       "\"pid\":9,\"status\":200,\"error\":null}"
#define EVENT7 "{\"type\":\"event\",\"ts\":\"2026-11-25T12:00:00.000Z\",\"pid\":7," \
	       "\"event\":\"bypass\"}"

enum { X7, X8, XORPHAN, XEVENT, N_ITEMS };

static void items(struct logitem it[N_ITEMS])
{
	memset(it, 0, sizeof(struct logitem) * N_ITEMS);
	it[X7].req = rec(REQ7);
	it[X7].resp = rec(RESP7);
	it[X8].req = rec(REQ8);
	it[XORPHAN].resp = rec(ORPHAN);
	it[XEVENT].event = rec(EVENT7);
}

static void free_items(struct logitem it[N_ITEMS])
{
	for (int i = 0; i < N_ITEMS; i++) {
		cJSON_Delete(it[i].req);
		cJSON_Delete(it[i].resp);
		cJSON_Delete(it[i].event);
	}
}

static void test_match(void **state)
{
	(void)state;
	static const struct {
		const char *provider, *pid, *status, *since, *id;
		const char *shown;	/* X7, X8, orphan, event: 1 shown */
	} cases[] = {
		{ NULL, NULL, NULL, NULL, NULL, "1111" },
		{ "openai", NULL, NULL, NULL, NULL, "1000" },
		{ "-", NULL, NULL, NULL, NULL, "0100" },
		{ "anthropic", NULL, NULL, NULL, NULL, "0000" },
		{ NULL, "7", NULL, NULL, NULL, "1001" },	/* events too */
		{ NULL, "9", NULL, NULL, NULL, "0010" },	/* a response alone: its pid */
		{ NULL, NULL, "429", NULL, NULL, "1000" },	/* events left out */
		{ NULL, NULL, "4xx", NULL, NULL, "1000" },
		{ NULL, NULL, "2xx", NULL, NULL, "0010" },
		{ NULL, NULL, "error", NULL, NULL, "1100" },	/* 429, no response */
		{ NULL, NULL, "200,error", NULL, NULL, "1110" },
		{ NULL, NULL, "0", NULL, NULL, "0000" },	/* no response is not status 0 */
		{ NULL, NULL, NULL, "2026-11-25T09:00:00Z", NULL, "0111" },	/* by the request */
		{ NULL, NULL, NULL, "2026-11-25T08:00:00Z", NULL, "1111" },	/* at, included */
		{ NULL, NULL, NULL, "2026-11-25T12:00:00.001Z", NULL, "0000" },
		{ NULL, NULL, NULL, NULL, "7-1", "1000" },
		{ NULL, NULL, NULL, NULL, "9-4", "0010" },
		{ NULL, NULL, NULL, NULL, "7", "0000" },
		{ "openai", "7", "4xx", "2026-11-25", "7-1", "1000" },	/* all of them */
		{ "openai", "8", NULL, NULL, NULL, "0000" },
		{ NULL, "7", NULL, "2026-11-25T11:00:00Z", NULL, "0001" },
	};
	struct logitem it[N_ITEMS];
	items(it);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct logfilter f = { 0 };
		char shown[N_ITEMS + 1];
		f.provider = cases[i].provider;
		f.id = cases[i].id;
		if (cases[i].pid)
			assert_int_equal(logfilter_set_pid(&f, cases[i].pid), 0);
		if (cases[i].status)
			assert_int_equal(logfilter_set_status(&f, cases[i].status), 0);
		if (cases[i].since)
			assert_int_equal(logfilter_set_since(&f, cases[i].since, 0), 0);
		for (int k = 0; k < N_ITEMS; k++)
			shown[k] = logfilter_match(&f, &it[k]) ? '1' : '0';
		shown[N_ITEMS] = '\0';
		if (strcmp(shown, cases[i].shown) != 0)
			fprintf(stderr, "case %zu: shown %s\n", i, shown);
		assert_string_equal(shown, cases[i].shown);
		assert_int_equal(logfilter_empty(&f), i == 0);
		assert_int_equal(logfilter_hides_events(&f),
				 cases[i].provider || cases[i].status || cases[i].id);
	}
	free_items(it);
}

/* A record whose ts is missing or not a time is not known to be recent. */
static void test_since_without_a_time(void **state)
{
	(void)state;
	struct logitem it = { 0 };
	struct logfilter f = { 0 };
	assert_int_equal(logfilter_set_since(&f, "1970-01-01", 0), 0);
	it.event = rec("{\"type\":\"event\",\"pid\":1,\"ts\":\"yesterday\"}");
	assert_false(logfilter_match(&f, &it));
	cJSON_Delete(it.event);
	it.event = rec("{\"type\":\"event\",\"pid\":1}");
	assert_false(logfilter_match(&f, &it));
	cJSON_Delete(it.event);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_since),
		cmocka_unit_test(test_status_and_pid),
		cmocka_unit_test(test_is_error),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_since_without_a_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
