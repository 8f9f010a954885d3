/*
 * Unit tests for preload/sse.c: WHATWG event-stream framing, identical events
 * for every split of the input, the per-event cap, and no over-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pageguard.h"
#include "sse.h"

/* Events are recorded as "name\0len\0data" runs so NUL bytes survive. */
static void record(void *ctx, const char *event, const char *data, size_t len)
{
	struct buf *out = ctx;
	assert_int_equal(buf_printf(out, "%s%c%zu%c", event, 0, len, 0), 0);
	assert_int_equal(buf_append(out, data, len), 0);
}

static void expect_add(struct buf *out, const char *event, const char *data,
		       size_t len)
{
	assert_int_equal(buf_printf(out, "%s%c%zu%c", event, 0, len, 0), 0);
	assert_int_equal(buf_append(out, data, len), 0);
}

/* Feed (in, len) in pieces of the given sizes (the rest in one), then finish. */
static void run(const char *in, size_t len, const size_t *cuts, size_t ncuts,
		struct buf *out)
{
	struct sse s;
	size_t off = 0;
	sse_init(&s);
	for (size_t i = 0; i < ncuts && off < len; i++) {
		size_t n = cuts[i] < len - off ? cuts[i] : len - off;
		sse_feed(&s, in + off, n, record, out);
		off += n;
	}
	sse_feed(&s, in + off, len - off, record, out);
	sse_finish(&s, record, out);
	sse_free(&s);
}

static char label[64] = "";	/* the case being checked, named in failures */

static void assert_same(const struct buf *got, const struct buf *want)
{
	if (got->len != want->len ||
	    (want->len && memcmp(got->data, want->data, want->len) != 0))
		fail_msg("%s: events differ (%zu bytes recorded, %zu expected)", label,
			 got->len, want->len);
}

/* One stream with every framing rule in it. */
static const char sample[] =
	"\xef\xbb\xbf: a comment after the BOM\r\n"
	"event: message_start\r\n"
	"data: {\"type\":\"message_start\"}\r\n"
	"\r\n"
	"data:no space\n"
	"data:  two spaces\n"
	"\n"
	"event:update\r"
	"data\r"
	"data: x\r"
	"id: 7\r"
	"retry: 100\r"
	"\r"
	"event: nodata\n"
	"id: 8\n"
	"\n"
	"unknown: field\n"
	"data: a:b:c\n"
	"data\n"
	"\n"
	": ping\n"
	"data: [DONE]\r\n"
	"\r\n"
	"data: cut short";

static void sample_expect(struct buf *want)
{
#define EXPECT(name, lit) expect_add(want, name, lit, sizeof(lit) - 1)
	EXPECT("message_start", "{\"type\":\"message_start\"}");
	EXPECT("message", "no space\n two spaces");
	EXPECT("update", "\nx");
	EXPECT("message", "a:b:c\n");
	EXPECT("message", "[DONE]");
	EXPECT("message", "cut short");
#undef EXPECT
}

static void test_sample_every_split(void **state)
{
	(void)state;
	size_t len = sizeof(sample) - 1;
	struct buf want, got;
	buf_init(&want, SIZE_MAX);
	buf_init(&got, SIZE_MAX);
	sample_expect(&want);

	snprintf(label, sizeof(label), "sample whole");
	run(sample, len, NULL, 0, &got);
	assert_same(&got, &want);

	for (size_t a = 0; a <= len; a++) {
		for (size_t b = 0; b <= len - a; b++) {
			size_t cuts[2] = { a, b };
			snprintf(label, sizeof(label), "sample cut at %zu and %zu", a, a + b);
			buf_reset(&got);
			run(sample, len, cuts, 2, &got);
			assert_same(&got, &want);
		}
	}

	/* Byte at a time. */
	size_t ones[sizeof(sample)];
	for (size_t i = 0; i < len; i++)
		ones[i] = 1;
	snprintf(label, sizeof(label), "sample byte at a time");
	buf_reset(&got);
	run(sample, len, ones, len, &got);
	assert_same(&got, &want);
	buf_free(&want);
	buf_free(&got);
}

struct ev {
	const char *name, *data;
	size_t len;
};

struct case_ {
	const char *in;
	size_t len;
	struct ev want[3];	/* ends at a NULL name */
};

#define S(x) x, sizeof(x) - 1
#define E(n, d) { n, d, sizeof(d) - 1 }

static const struct case_ cases[] = {
	{ S(""), { { NULL, NULL, 0 } } },
	{ S("\n\n\r\n"), { { NULL, NULL, 0 } } },
	{ S("data: a\n\ndata: b\n\n"), { E("message", "a"), E("message", "b") } },
	{ S("data: a\r\rdata: b\r\n\r\n"), { E("message", "a"), E("message", "b") } },
	{ S("data:\n\n"), { E("message", "") } },
	{ S("data\n\n"), { E("message", "") } },
	{ S("data: \n\n"), { E("message", "") } },
	{ S("data:x\n\n"), { E("message", "x") } },
	{ S("data: x\n\n"), { E("message", "x") } },
	{ S("data:\tx\n\n"), { E("message", "\tx") } },
	{ S("event: e\n\n"), { { NULL, NULL, 0 } } },	/* no data: nothing */
	{ S("event: e\nevent: f\ndata: 1\n\n"), { E("f", "1") } },
	{ S("event\ndata: 1\n\n"), { E("message", "1") } },
	{ S("event: e\ndata: 1\n\ndata: 2\n\n"), { E("e", "1"), E("message", "2") } },
	{ S("Data: 1\n\n"), { { NULL, NULL, 0 } } },	/* field names are case-sensitive */
	{ S(":data: 1\n\n"), { { NULL, NULL, 0 } } },
	{ S(" data: 1\n\n"), { { NULL, NULL, 0 } } },
	/* A BOM only counts at the very start. */
	{ S("data: 1\n\n\xef\xbb\xbf" "data: 2\n\n"), { E("message", "1") } },
	{ S("data: a\0b\n\n"), { E("message", "a\0b") } },
	{ S("data: {\"x\":1}"), { E("message", "{\"x\":1}") } },
	{ S("data: 1\r"), { E("message", "1") } },
	{ S("event: \0x\ndata: 1\n\nevent: a\0b\ndata: 2\n\n"),
	  { E("message", "1"), E("a", "2") } },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct case_ *c = &cases[i];
		struct buf want, got;
		buf_init(&want, SIZE_MAX);
		buf_init(&got, SIZE_MAX);
		for (size_t k = 0; k < 3 && c->want[k].name; k++)
			expect_add(&want, c->want[k].name, c->want[k].data, c->want[k].len);
		for (size_t cut = 0; cut <= c->len; cut++) {
			snprintf(label, sizeof(label), "case %zu cut at %zu", i, cut);
			buf_reset(&got);
			run(c->in, c->len, &cut, 1, &got);
			assert_same(&got, &want);
		}
		buf_free(&want);
		buf_free(&got);
	}
}

/* "\r" at the end of one feed and "\n" at the start of the next: one line end. */
static void test_crlf_across_feeds(void **state)
{
	(void)state;
	struct sse s;
	struct buf got, want;
	buf_init(&got, SIZE_MAX);
	buf_init(&want, SIZE_MAX);
	expect_add(&want, "message", "a\nb", 3);
	sse_init(&s);
	sse_feed(&s, "data: a\r", 8, record, &got);
	sse_feed(&s, "\ndata: b\r", 9, record, &got);
	assert_int_equal(got.len, 0);
	sse_feed(&s, "\n\r", 2, record, &got);
	assert_same(&got, &want);
	sse_feed(&s, "\n", 1, record, &got);	/* the LF of that CRLF: no new event */
	sse_finish(&s, record, &got);
	assert_same(&got, &want);
	sse_free(&s);
	buf_free(&got);
	buf_free(&want);
}

/* Build "event: big\ndata: " + n bytes + tail. */
static char *big_stream(size_t n, const char *tail, size_t *len)
{
	static const char head[] = "event: big\ndata: ";
	*len = sizeof(head) - 1 + n + strlen(tail);
	char *p = malloc(*len);
	assert_non_null(p);
	memcpy(p, head, sizeof(head) - 1);
	memset(p + sizeof(head) - 1, 'x', n);
	memcpy(p + sizeof(head) - 1 + n, tail, strlen(tail));
	return p;
}

static void test_event_cap(void **state)
{
	(void)state;
	size_t len;
	struct buf got;
	buf_init(&got, SIZE_MAX);

	/* Exactly SSE_EVENT_MAX bytes of data: dispatched, whatever the split. */
	char *in = big_stream(SSE_EVENT_MAX, "\n\ndata: after\n\n", &len);
	size_t cuts[] = { 20, SSE_EVENT_MAX / 2, 3 };
	for (size_t k = 0; k < 3; k++) {
		snprintf(label, sizeof(label), "exact cap, %zu cuts", k);
		buf_reset(&got);
		run(in, len, cuts, k, &got);
		assert_true(got.len > SSE_EVENT_MAX);
		assert_memory_equal(got.data, "big\0" "4194304\0xxx", 15);
	}
	free(in);

	/* One byte more: the event is dropped whole; the next one survives. */
	struct buf want;
	buf_init(&want, SIZE_MAX);
	expect_add(&want, "message", "after", 5);
	in = big_stream(SSE_EVENT_MAX + 1, "\n\ndata: after\n\n", &len);
	for (size_t k = 0; k < 3; k++) {
		snprintf(label, sizeof(label), "over cap, %zu cuts", k);
		buf_reset(&got);
		run(in, len, cuts, k, &got);
		assert_same(&got, &want);
	}
	free(in);
	/* Also when the over-long line ends with CR split from its LF. */
	in = big_stream(SSE_EVENT_MAX + 1, "\r\n\r\ndata: after\n\n", &len);
	size_t at_cr[] = { len - 16, 1 };
	for (size_t k = 1; k <= 2; k++) {
		snprintf(label, sizeof(label), "over cap, CR then LF, %zu cuts", k);
		buf_reset(&got);
		run(in, len, at_cr, k, &got);
		assert_same(&got, &want);
	}
	free(in);

	/* Many small data lines adding up to more than the cap: dropped too. */
	size_t lines = SSE_EVENT_MAX / 1024 + 1;
	len = lines * 1031 + 16;
	in = malloc(len);
	assert_non_null(in);
	size_t o = 0;
	for (size_t i = 0; i < lines; i++) {
		memcpy(in + o, "data: ", 6);
		memset(in + o + 6, 'y', 1024);
		in[o + 1030] = '\n';
		o += 1031;
	}
	memcpy(in + o, "\ndata: after\n\n", 14);
	snprintf(label, sizeof(label), "many lines over cap");
	buf_reset(&got);
	run(in, o + 14, NULL, 0, &got);
	assert_same(&got, &want);
	free(in);

	/* An over-long event name drops its event. */
	char name[600] = "event: ";
	memset(name + 7, 'n', 500);
	strcpy(name + 507, "\ndata: 1\n\ndata: after\n\n");
	snprintf(label, sizeof(label), "long event name");
	buf_reset(&got);
	run(name, strlen(name), NULL, 0, &got);
	assert_same(&got, &want);

	buf_free(&want);
	buf_free(&got);
}

/* Input that ends at an unmapped page: no byte past it is read. */
static void test_guard_page(void **state)
{
	(void)state;
	size_t len = sizeof(sample) - 1;
	struct buf got;
	buf_init(&got, SIZE_MAX);
	for (size_t n = 0; n <= len; n++) {
		const char *p = pageguard_copy(sample, n);
		buf_reset(&got);
		run(p, n, NULL, 0, &got);
		pageguard_free(p);
	}
	const char *p = pageguard_copy("data: x\r", 8);
	buf_reset(&got);
	run(p, 8, NULL, 0, &got);
	assert_int_equal(got.len, strlen("message") + 3 + 1);
	pageguard_free(p);
	buf_free(&got);
}

/* After sse_finish the parser starts over; finishing again adds nothing. */
static void test_finish_resets(void **state)
{
	(void)state;
	struct sse s;
	struct buf got, want;
	buf_init(&got, SIZE_MAX);
	buf_init(&want, SIZE_MAX);
	expect_add(&want, "e", "1", 1);
	expect_add(&want, "message", "2", 1);
	sse_init(&s);
	sse_feed(&s, "event: e\ndata: 1", 16, record, &got);
	sse_finish(&s, record, &got);
	sse_finish(&s, record, &got);
	sse_feed(&s, "\xef\xbb\xbf" "data: 2\r", 11, record, &got);
	sse_finish(&s, record, &got);
	assert_same(&got, &want);
	sse_feed(&s, "data: 3\n\n", 9, NULL, NULL);	/* no callback: fine */
	sse_free(&s);
	sse_free(&s);
	buf_free(&got);
	buf_free(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_every_split),
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_crlf_across_feeds),
		cmocka_unit_test(test_event_cap),
		cmocka_unit_test(test_guard_page),
		cmocka_unit_test(test_finish_resets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
