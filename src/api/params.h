/* params.h: request parameters, decoded from query strings and form bodies.
 *
 * Alibaba clients put parameters in the query string, in an
 * application/x-www-form-urlencoded body, or both. Both are decoded into
 * one list in arrival order (query first); '+' is a space and %XY a byte.
 * Values are kept with their length because a decoded value may hold a NUL
 * byte, which validation must see and refuse. */
#ifndef ECSHOT_API_PARAMS_H
#define ECSHOT_API_PARAMS_H

#include <stddef.h>

typedef struct param {
    char *name;
    size_t name_len;
    char *value;
    size_t value_len;
    int from_body; /* 1 when it came from the form body (V3 signs only the query) */
} param;

typedef struct param_list {
    param *items;
    size_t count;
    size_t cap;
} param_list;

#define PARAM_LIST_INIT {NULL, 0, 0}

/* Most parameters one request may carry; more is a malformed request. */
#define PARAMS_MAX 256

/* Decodes "a=1&b=2" and appends. Returns 0, or -1 on a malformed escape,
 * too many parameters or no memory. An empty text adds nothing; "a" alone
 * is a=""; empty pieces ("a=1&&b=2") are skipped. */
int params_decode(param_list *pl, const char *s, size_t len, int from_body);
/* The first parameter of that exact name, or NULL. */
const param *params_find(const param_list *pl, const char *name);
/* Its value, or NULL when absent. */
const char *params_get(const param_list *pl, const char *name);
/* Name of the first parameter that occurs twice, or NULL. */
const char *params_duplicate(const param_list *pl);
void params_free(param_list *pl);

#endif
