/* limits.c: picks the limits backend a URL names (see limits.h).
 * A new backend is a new file and one line in the table below. */
#include "limits/limits.h"

#include <string.h>

#include "util/log.h"

extern const limits_driver limits_memory_driver;
extern const limits_driver limits_redis_driver;
extern const limits_driver limits_redis_unix_driver;

static const limits_driver *const drivers[] = {
    &limits_memory_driver,
    &limits_redis_driver,
    &limits_redis_unix_driver,
};

limits *limits_open(const char *url)
{
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++) {
        size_t n = strlen(drivers[i]->scheme);
        if (strncmp(url, drivers[i]->scheme, n) == 0) {
            limits *l = NULL;
            if (drivers[i]->open(url, &l) < 0)
                return NULL;
            return l;
        }
    }
    log_error("no limits backend for '%s' (known: memory:, redis://, redis+unix://)", url);
    return NULL;
}

void limits_close(limits *l)
{
    if (l)
        l->driver->close(l);
}

int limits_claim(limits *l, const char *ns, const char *key, int64_t ttl_ms,
                 int64_t *remaining_ms)
{
    return l->driver->claim(l, ns, key, ttl_ms, remaining_ms);
}

int limits_peek(limits *l, const char *ns, const char *key, int64_t *remaining_ms)
{
    return l->driver->peek(l, ns, key, remaining_ms);
}
