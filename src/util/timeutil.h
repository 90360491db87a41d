/* timeutil.h: the one time format of the API and the clocks ecshot reads.
 *
 * Alibaba's Timestamp (V1) and x-acs-date (V3) are UTC "yyyy-MM-ddTHH:mm:ssZ",
 * exactly 20 characters. Deadlines use the monotonic clock so that a change
 * of wall-clock time never stretches or cuts a wait. */
#ifndef ECSHOT_UTIL_TIMEUTIL_H
#define ECSHOT_UTIL_TIMEUTIL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define ISO8601_LEN 20 /* "2024-01-01T00:00:00Z" */

/* Parses the strict form; returns 0 and sets *out (seconds since the epoch),
 * or -1 when the text is not exactly that form or names no real date. */
int iso8601_parse(const char *s, time_t *out);
/* Writes the strict form of t into out (ISO8601_LEN + 1 bytes). */
void iso8601_format(time_t t, char out[ISO8601_LEN + 1]);

int64_t clock_monotonic_ms(void);
int64_t clock_monotonic_us(void);
int64_t clock_wall_ms(void);

/* A condition variable whose timed waits run on the monotonic clock;
 * 0 or -1. */
int cond_init_monotonic(pthread_cond_t *cv);
/* Waits on cv (m held) until signalled or the monotonic deadline (ms)
 * passes: pthread_cond_timedwait's result, ETIMEDOUT once it has. */
int cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *m, int64_t deadline_ms);

#endif
