/*
 * clock: the two clocks the project reads, in milliseconds.
 *
 * Records carry wall-clock time (CLOCK_REALTIME: "ts", and the differences
 * that give ttfb_ms and duration_ms, as the log has always done); timeouts
 * and deadlines use CLOCK_MONOTONIC, which a clock change cannot move.
 */
#ifndef RESPAN_CLOCK_H
#define RESPAN_CLOCK_H

#include <time.h>

static inline long long clock_ms_of(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unix time in milliseconds (for log records). */
static inline long long clock_real_ms(void)
{
	return clock_ms_of(CLOCK_REALTIME);
}

/* Milliseconds on a clock that only moves forward (for deadlines). */
static inline long long clock_mono_ms(void)
{
	return clock_ms_of(CLOCK_MONOTONIC);
}

#endif
