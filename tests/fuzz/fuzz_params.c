/* fuzz_params.c: query-string and form-body decoding (api/params.c) and the
 * signing percent-encoding (auth/percent.c).
 *
 * The input is decoded as a query string and then, into the same list, as
 * a form body, as api.c does for a POST. Checked on every input:
 *  - the list never holds more than PARAMS_MAX parameters;
 *  - every name and value is NUL-terminated at its length;
 *  - params_find and params_duplicate agree with a plain scan;
 *  - percent_encode writes only unreserved bytes and %XY escapes, and the
 *    encoded form decodes back to exactly the bytes it came from (the
 *    round trip both signatures rely on). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/params.h"
#include "auth/auth.h"
#include "fuzz_check.h"

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static int is_upper_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* percent_encode(bytes) is well formed and decodes back to bytes. */
static void check_round_trip(const char *bytes, size_t len)
{
    buf enc = BUF_INIT;
    FUZZ_CHECK(percent_encode(&enc, bytes, len) == 0);
    for (size_t i = 0; i < enc.len; i++) {
        unsigned char c = (unsigned char)enc.data[i];
        if (c == '%') {
            FUZZ_CHECK(i + 2 < enc.len);
            FUZZ_CHECK(is_upper_hex((unsigned char)enc.data[i + 1]) &&
                       is_upper_hex((unsigned char)enc.data[i + 2]));
            i += 2;
        } else {
            FUZZ_CHECK(is_unreserved(c));
        }
    }

    buf form = BUF_INIT;
    buf_puts(&form, "k=");
    buf_append(&form, enc.data ? enc.data : "", enc.len);
    FUZZ_CHECK(!form.failed);
    param_list back = PARAM_LIST_INIT;
    FUZZ_CHECK(params_decode(&back, form.data, form.len, 0) == 0);
    FUZZ_CHECK(back.count == 1);
    FUZZ_CHECK(back.items[0].value_len == len);
    FUZZ_CHECK(len == 0 || memcmp(back.items[0].value, bytes, len) == 0);
    params_free(&back);
    buf_free(&form);
    buf_free(&enc);
}

static void check_list(const param_list *pl)
{
    FUZZ_CHECK(pl->count <= PARAMS_MAX);
    FUZZ_CHECK(pl->count <= pl->cap || pl->count == 0);
    const char *dup = NULL;
    for (size_t i = 0; i < pl->count; i++) {
        const param *p = &pl->items[i];
        FUZZ_CHECK(p->name && p->value);
        FUZZ_CHECK(p->name[p->name_len] == '\0' && p->value[p->value_len] == '\0');
        for (size_t j = 0; j < i && !dup; j++)
            if (pl->items[j].name_len == p->name_len &&
                memcmp(pl->items[j].name, p->name, p->name_len) == 0)
                dup = p->name;
        /* A name without a NUL inside is found, and found first where it
         * first occurs. */
        if (strlen(p->name) == p->name_len) {
            const param *found = params_find(pl, p->name);
            FUZZ_CHECK(found && found <= p);
            FUZZ_CHECK(found->name_len == p->name_len &&
                       memcmp(found->name, p->name, p->name_len) == 0);
            FUZZ_CHECK(params_get(pl, p->name) == found->value);
        }
    }
    FUZZ_CHECK(params_duplicate(pl) == dup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    param_list pl = PARAM_LIST_INIT;
    const char *s = (const char *)data;

    int q = params_decode(&pl, s, size, 0);
    check_list(&pl);
    size_t from_query = pl.count;
    int b = q == 0 ? params_decode(&pl, s, size, 1) : -1;
    check_list(&pl);
    for (size_t i = 0; i < pl.count; i++)
        FUZZ_CHECK(pl.items[i].from_body == (i >= from_query));
    /* The same text twice: the body half must decode exactly like the
     * query half unless the list filled up. */
    if (q == 0 && b == 0)
        FUZZ_CHECK(pl.count == 2 * from_query);

    for (size_t i = 0; i < from_query; i++) {
        check_round_trip(pl.items[i].name, pl.items[i].name_len);
        check_round_trip(pl.items[i].value, pl.items[i].value_len);
    }
    check_round_trip(s, size);
    params_free(&pl);
    FUZZ_CHECK(pl.items == NULL && pl.count == 0);
    return 0;
}
