/* timeutil.c: strict ISO 8601 UTC timestamps and clocks (see timeutil.h). */
#include "util/timeutil.h"

#include <string.h>

static int two_digits(const char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil), so no TZ or locale is consulted. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int iso8601_parse(const char *s, time_t *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int c, yy, mo, d, h, mi, se;

    if (!s || strlen(s) != ISO8601_LEN)
        return -1;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')
        return -1;
    if (two_digits(s, &c) || two_digits(s + 2, &yy) || two_digits(s + 5, &mo) ||
        two_digits(s + 8, &d) || two_digits(s + 11, &h) || two_digits(s + 14, &mi) ||
        two_digits(s + 17, &se))
        return -1;
    int year = c * 100 + yy;
    if (year < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return -1;
    int dim = mdays[mo - 1] + (mo == 2 && is_leap(year));
    if (d > dim)
        return -1;
    *out = (time_t)(days_from_civil(year, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
                    mi * 60 + se);
    return 0;
}

void iso8601_format(time_t t, char out[ISO8601_LEN + 1])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, ISO8601_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t clock_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

int cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *m, int64_t deadline_ms)
{
    struct timespec until = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000L};
    return pthread_cond_timedwait(cv, m, &until);
}
