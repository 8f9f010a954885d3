#include "logfilter.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "logread.h"

#define MS_PER_DAY 86400000LL
#define DURATION_MAX_MS (100LL * 366 * MS_PER_DAY)

/* n decimal digits at *p into *v, advancing *p: true, or false (p unmoved). */
static bool digits(const char **p, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		x = x * 10 + (c - '0');
	}
	*p += n;
	*v = x;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil): no time zone, no table. */
static long long days_from_civil(int y, int m, int d)
{
	long long yy = y - (m <= 2);
	long long era = (yy >= 0 ? yy : yy - 399) / 400;
	long long yoe = yy - era * 400;
	long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int logfilter_parse_time(const char *s, long long *ms)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || h > 23 || mi > 59)
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &sec) || sec > 60)	/* 60: a leap second */
				return -EINVAL;
			if (*p == '.') {
				int scale = 100, n = 0;
				for (p++; *p >= '0' && *p <= '9'; p++, n++) {
					frac += (*p - '0') * scale;
					scale /= 10;
				}
				if (n == 0)
					return -EINVAL;
			}
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om;
			if (!digits(&p, 2, &oh))
				return -EINVAL;
			if (*p == ':')
				p++;
			if (!digits(&p, 2, &om) || oh > 23 || om > 59)
				return -EINVAL;
			off = sign * (oh * 60 + om);
		}
	}
	if (*p != '\0')
		return -EINVAL;
	*ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi - off) * 60000LL +
	      sec * 1000LL + frac;
	return 0;
}

int logfilter_parse_duration(const char *s, long long *ms)
{
	long long total = 0;
	const char *p = s;

	if (*p == '\0')
		return -EINVAL;
	while (*p) {
		long long n = 0, unit;
		int nd = 0;
		for (; *p >= '0' && *p <= '9'; p++, nd++) {
			n = n * 10 + (*p - '0');
			if (n > DURATION_MAX_MS)
				return -EINVAL;
		}
		switch (*p) {
		case 's': unit = 1000; break;
		case 'm': unit = 60000; break;
		case 'h': unit = 3600000; break;
		case 'd': unit = MS_PER_DAY; break;
		case 'w': unit = 7 * MS_PER_DAY; break;
		default: return -EINVAL;
		}
		if (nd == 0 || n > (DURATION_MAX_MS - total) / unit)
			return -EINVAL;
		total += n * unit;
		p++;
	}
	*ms = total;
	return 0;
}

/* One item of a --status list (n bytes at s) into *lo, *hi. */
static int status_item(const char *s, size_t n, int *lo, int *hi)
{
	int v;
	const char *p = s;
	if (n == 5 && strncasecmp(s, "error", 5) == 0) {
		*lo = 0;
		*hi = -1;
		return 0;
	}
	if (n == 3 && s[0] >= '1' && s[0] <= '5' && (s[1] == 'x' || s[1] == 'X') &&
	    (s[2] == 'x' || s[2] == 'X')) {
		*lo = (s[0] - '0') * 100;
		*hi = *lo + 99;
		return 0;
	}
	if (n >= 1 && n <= 3 && digits(&p, (int)n, &v)) {
		*lo = *hi = v;
		return 0;
	}
	return -EINVAL;
}

int logfilter_set_status(struct logfilter *f, const char *s)
{
	struct logfilter parsed = *f;
	parsed.n_status = 0;
	for (;;) {
		size_t n = strcspn(s, ",");
		if (parsed.n_status == LOGFILTER_STATUS_MAX ||
		    status_item(s, n, &parsed.status[parsed.n_status].lo,
				&parsed.status[parsed.n_status].hi) < 0)
			return -EINVAL;
		parsed.n_status++;
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	*f = parsed;
	return 0;
}

int logfilter_set_pid(struct logfilter *f, const char *s)
{
	long long v = 0;
	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (*s - '0');
		if (v > 0x7fffffffLL)
			return -EINVAL;
	}
	if (v < 1)
		return -EINVAL;
	f->has_pid = true;
	f->pid = (double)v;
	return 0;
}

int logfilter_set_since(struct logfilter *f, const char *s, long long now_ms)
{
	long long v;
	if (logfilter_parse_duration(s, &v) == 0)
		v = now_ms - v;
	else if (logfilter_parse_time(s, &v) < 0)
		return -EINVAL;
	f->has_since = true;
	f->since_ms = v;
	return 0;
}

bool logfilter_empty(const struct logfilter *f)
{
	return !f->provider && !f->has_pid && f->n_status == 0 && !f->has_since && !f->id;
}

bool logfilter_hides_events(const struct logfilter *f)
{
	return f->provider || f->n_status > 0 || f->id;
}

bool logfilter_is_error(const cJSON *resp)
{
	double status = 0;
	if (resp == NULL)
		return true;
	logread_num(resp, "status", &status);
	return status < 100 || status >= 400 || logread_str(resp, "error") != NULL;
}

static bool pid_ok(const struct logfilter *f, const cJSON *rec)
{
	double pid;
	return !f->has_pid || (logread_num(rec, "pid", &pid) && pid == f->pid);
}

/* A record whose ts cannot be read is not known to be recent: left out. */
static bool since_ok(const struct logfilter *f, const cJSON *rec)
{
	const char *ts = logread_str(rec, "ts");
	long long ms;
	return !f->has_since || (ts && logfilter_parse_time(ts, &ms) == 0 && ms >= f->since_ms);
}

static bool status_ok(const struct logfilter *f, const cJSON *resp)
{
	double status;
	bool have = resp && logread_num(resp, "status", &status);
	if (f->n_status == 0)
		return true;
	for (size_t i = 0; i < f->n_status; i++) {
		if (f->status[i].hi < 0) {
			if (logfilter_is_error(resp))
				return true;
		} else if (have && status >= f->status[i].lo && status <= f->status[i].hi) {
			return true;
		}
	}
	return false;
}

bool logfilter_match(const struct logfilter *f, const struct logitem *it)
{
	const cJSON *head;
	const char *s;

	if (it->event)
		return !logfilter_hides_events(f) && pid_ok(f, it->event) &&
		       since_ok(f, it->event);
	head = it->req ? it->req : it->resp;
	if (head == NULL)
		return false;
	if (f->provider) {
		if (it->req == NULL)
			return false;
		s = logread_str(it->req, "provider");
		if (s == NULL || s[0] == '\0')
			s = "-";
		if (strcmp(s, f->provider) != 0)
			return false;
	}
	if (f->id && ((s = logread_str(head, "id")) == NULL || strcmp(s, f->id) != 0))
		return false;
	return pid_ok(f, head) && since_ok(f, head) && status_ok(f, it->resp);
}
