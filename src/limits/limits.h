/* limits.h: shared, expiring claims: the per-instance throttle and the nonce cache.
 *
 * Both are "claim this key for N ms unless someone holds it": the throttle
 * key is the instance id (one screenshot per 10 s), the nonce key is
 * AccessKeyId + nonce (each signed request counts once). One interface,
 * backends picked by URL: "memory:" keeps claims in this process. A
 * deployment of several servers needs a backend that all of them share. */
#ifndef ECSHOT_LIMITS_LIMITS_H
#define ECSHOT_LIMITS_LIMITS_H

#include <stdint.h>

enum limits_result {
    LIMITS_CLAIMED = 0,   /* the key was free and is now held for ttl_ms */
    LIMITS_HELD = 1,      /* someone holds it; *remaining_ms says for how long */
    LIMITS_FREE = 2,      /* limits_peek: nobody holds it now */
    LIMITS_ERROR = -1     /* the backend failed: callers fail closed */
};

typedef struct limits limits;

typedef struct limits_driver {
    const char *scheme;
    int (*open)(const char *url, limits **out);
    void (*close)(limits *l);
    /* Claims namespace:key for ttl_ms. remaining_ms may be NULL. */
    int (*claim)(limits *l, const char *ns, const char *key, int64_t ttl_ms,
                 int64_t *remaining_ms);
    /* Whether namespace:key is held now, without claiming it: LIMITS_HELD
     * (remaining_ms may be NULL), LIMITS_FREE or LIMITS_ERROR. */
    int (*peek)(limits *l, const char *ns, const char *key, int64_t *remaining_ms);
} limits_driver;

struct limits {
    const limits_driver *driver;
};

limits *limits_open(const char *url);
void limits_close(limits *l);
int limits_claim(limits *l, const char *ns, const char *key, int64_t ttl_ms,
                 int64_t *remaining_ms);
/* A look that claims nothing: lets a caller refuse a held key before it
 * does costly work whose only use would be to claim it. A key seen free may
 * be taken by someone else a moment later: only limits_claim decides. */
int limits_peek(limits *l, const char *ns, const char *key, int64_t *remaining_ms);

#endif
