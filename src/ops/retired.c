/* retired.c: the list of retired instance types, read from a data file.
 *
 * Alibaba retires instance types over time; an operator adds to the list
 * without a rebuild. Format: one type per line; blank lines and text after
 * '#' are ignored; surrounding spaces are trimmed. Lookups use a sorted
 * array and bsearch: the list is small and read-only once loaded. */
#include "ops/ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct retired_types {
    char **types;
    size_t count;
};

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

retired_types *retired_types_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        log_error("cannot open retired instance types file %s: %s", path, strerror(errno));
        return NULL;
    }
    retired_types *rt = calloc(1, sizeof *rt);
    size_t cap = 0;
    char line[512];
    unsigned lineno = 0;
    while (rt && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t n = strcspn(s, " \t\r\n");
        if (n == 0)
            continue;
        if (s[n + strspn(s + n, " \t\r\n")] != '\0') {
            log_error("%s:%u: one instance type per line", path, lineno);
            retired_types_free(rt);
            rt = NULL;
            break;
        }
        s[n] = '\0';
        if (rt->count == cap) {
            cap = cap ? cap * 2 : 64;
            char **t = realloc(rt->types, cap * sizeof *t);
            if (!t) {
                retired_types_free(rt);
                rt = NULL;
                break;
            }
            rt->types = t;
        }
        if (!(rt->types[rt->count] = strdup(s))) {
            retired_types_free(rt);
            rt = NULL;
            break;
        }
        rt->count++;
    }
    fclose(f);
    if (rt)
        qsort(rt->types, rt->count, sizeof *rt->types, compare_strings);
    return rt;
}

int retired_types_contains(const retired_types *rt, const char *type)
{
    if (!rt || rt->count == 0)
        return 0;
    return bsearch(&type, rt->types, rt->count, sizeof *rt->types, compare_strings) != NULL;
}

size_t retired_types_count(const retired_types *rt)
{
    return rt ? rt->count : 0;
}

void retired_types_free(retired_types *rt)
{
    if (!rt)
        return;
    for (size_t i = 0; i < rt->count; i++)
        free(rt->types[i]);
    free(rt->types);
    free(rt);
}
