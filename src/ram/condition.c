/* condition.c: the Condition block of a RAM policy statement.
 *
 * A Condition maps operators to {key: value | [values]}. The block holds
 * when every operator in it holds (AND); an operator holds when every key
 * under it holds (AND); a key holds when the request's value matches any of
 * the listed values (OR), or, for the negated operators (StringNotEquals,
 * NumericNotEquals, NotIpAddress, ...), when it matches none of them.
 *
 * A key the request does not carry never holds, whatever the operator: an
 * Allow "only from 10.0.0.0/8" must not let through a request whose source
 * is unknown, and neither may an Allow "not from 192.0.2.0/24". The same goes
 * for a request value that cannot be read as the operator's type (a tag
 * "abc" under NumericLessThan). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ram/internal.h"
#include "util/cidr.h"
#include "util/timeutil.h"

enum family { FAM_STRING, FAM_NUMERIC, FAM_DATE, FAM_BOOL, FAM_IP };
enum compare { CMP_EQ, CMP_EQ_NOCASE, CMP_LIKE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

typedef struct cond_operator {
    const char *name;
    enum family family;
    enum compare compare;
    int negated; /* holds when no value matches */
} cond_operator;

static const cond_operator operators[] = {
    {"StringEquals", FAM_STRING, CMP_EQ, 0},
    {"StringNotEquals", FAM_STRING, CMP_EQ, 1},
    {"StringEqualsIgnoreCase", FAM_STRING, CMP_EQ_NOCASE, 0},
    {"StringNotEqualsIgnoreCase", FAM_STRING, CMP_EQ_NOCASE, 1},
    {"StringLike", FAM_STRING, CMP_LIKE, 0},
    {"StringNotLike", FAM_STRING, CMP_LIKE, 1},
    {"NumericEquals", FAM_NUMERIC, CMP_EQ, 0},
    {"NumericNotEquals", FAM_NUMERIC, CMP_EQ, 1},
    {"NumericLessThan", FAM_NUMERIC, CMP_LT, 0},
    {"NumericLessThanEquals", FAM_NUMERIC, CMP_LE, 0},
    {"NumericGreaterThan", FAM_NUMERIC, CMP_GT, 0},
    {"NumericGreaterThanEquals", FAM_NUMERIC, CMP_GE, 0},
    {"DateEquals", FAM_DATE, CMP_EQ, 0},
    {"DateNotEquals", FAM_DATE, CMP_EQ, 1},
    {"DateLessThan", FAM_DATE, CMP_LT, 0},
    {"DateLessThanEquals", FAM_DATE, CMP_LE, 0},
    {"DateGreaterThan", FAM_DATE, CMP_GT, 0},
    {"DateGreaterThanEquals", FAM_DATE, CMP_GE, 0},
    {"Bool", FAM_BOOL, CMP_EQ, 0},
    {"IpAddress", FAM_IP, CMP_EQ, 0},
    {"NotIpAddress", FAM_IP, CMP_EQ, 1},
};

/* What a validator says about a value the operator cannot use. */
static const char *const family_complaints[] = {
    [FAM_STRING] = "not a string, an integer or a boolean",
    [FAM_NUMERIC] = "not a number",
    [FAM_DATE] = "not a date (yyyy-MM-ddTHH:mm:ssZ or epoch seconds)",
    [FAM_BOOL] = "not true or false",
    [FAM_IP] = "not an IP address or CIDR block",
};

enum cond_key {
    KEY_SOURCE_IP,
    KEY_SECURE_TRANSPORT,
    KEY_CURRENT_TIME,
    KEY_MFA_PRESENT,
    KEY_USER_AGENT,
    KEY_RESOURCE_TAG
};

static const struct {
    const char *name;
    enum cond_key key;
} plain_keys[] = {
    {"acs:SourceIp", KEY_SOURCE_IP},       {"acs:SecureTransport", KEY_SECURE_TRANSPORT},
    {"acs:CurrentTime", KEY_CURRENT_TIME}, {"acs:MFAPresent", KEY_MFA_PRESENT},
    {"acs:UserAgent", KEY_USER_AGENT},
};

#define RESOURCE_TAG_PREFIX "acs:ResourceTag/"

/* The request's value of one key, as the request holds it. */
typedef struct subject {
    enum { SUBJECT_TEXT, SUBJECT_BOOL, SUBJECT_TIME } kind;
    const char *text;
    int boolean;
    long long time;
} subject;

/* The request's value read as the operator's family wants it. */
typedef struct operand {
    const char *text;
    char text_buf[ISO8601_LEN + 1];
    double number;
    long long time;
    int boolean;
    cidr ip;
} operand;

/* ---- names ------------------------------------------------------------- */

static const cond_operator *find_operator(const char *name)
{
    for (size_t i = 0; i < sizeof operators / sizeof operators[0]; i++)
        if (strcmp(name, operators[i].name) == 0)
            return &operators[i];
    return NULL;
}

/* Key names compare without regard to case, as Alibaba's do; the tag name
 * after "acs:ResourceTag/" is the instance's tag key and compares exactly. */
static int parse_key(const char *name, enum cond_key *key, const char **tag)
{
    size_t prefix_len = sizeof RESOURCE_TAG_PREFIX - 1;

    for (size_t i = 0; i < sizeof plain_keys / sizeof plain_keys[0]; i++) {
        if (ram_ascii_equal_nocase(name, plain_keys[i].name)) {
            *key = plain_keys[i].key;
            *tag = NULL;
            return 0;
        }
    }
    if (strlen(name) > prefix_len) {
        char prefix[sizeof RESOURCE_TAG_PREFIX];
        memcpy(prefix, name, prefix_len);
        prefix[prefix_len] = '\0';
        if (ram_ascii_equal_nocase(prefix, RESOURCE_TAG_PREFIX)) {
            *key = KEY_RESOURCE_TAG;
            *tag = name + prefix_len;
            return 0;
        }
    }
    return -1;
}

/* ---- reading values ---------------------------------------------------- */

/* A decimal number, nothing else: strtod alone would also take "inf",
 * "nan", hex and leading blanks. */
static int parse_number(const char *s, double *out)
{
    char *end;

    if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
        return -1;
    errno = 0;
    double d = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

/* "yyyy-MM-ddTHH:mm:ssZ" or decimal epoch seconds. */
static int parse_date(const char *s, long long *out)
{
    time_t t;
    size_t digits = strspn(s, "0123456789");

    if (digits > 0 && digits <= 18 && s[digits] == '\0') {
        *out = strtoll(s, NULL, 10);
        return 0;
    }
    if (iso8601_parse(s, &t) == 0) {
        *out = (long long)t;
        return 0;
    }
    return -1;
}

static int parse_bool(const char *s, int *out)
{
    if (ram_ascii_equal_nocase(s, "true"))
        *out = 1;
    else if (ram_ascii_equal_nocase(s, "false"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* A policy value as text for the String operators; scratch holds the
 * digits of an integer. */
static const char *value_text(json_t *value, char scratch[32])
{
    if (json_is_string(value))
        return json_string_value(value);
    if (json_is_integer(value)) {
        snprintf(scratch, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        return scratch;
    }
    if (json_is_boolean(value))
        return json_is_true(value) ? "true" : "false";
    return NULL;
}

static int value_number(json_t *value, double *out)
{
    if (json_is_number(value)) {
        *out = json_number_value(value);
        return 0;
    }
    return json_is_string(value) ? parse_number(json_string_value(value), out) : -1;
}

static int value_date(json_t *value, long long *out)
{
    if (json_is_integer(value) && json_integer_value(value) >= 0) {
        *out = (long long)json_integer_value(value);
        return 0;
    }
    return json_is_string(value) ? parse_date(json_string_value(value), out) : -1;
}

static int value_bool(json_t *value, int *out)
{
    if (json_is_boolean(value)) {
        *out = json_is_true(value);
        return 0;
    }
    return json_is_string(value) ? parse_bool(json_string_value(value), out) : -1;
}

static int value_cidr(json_t *value, cidr *out)
{
    return json_is_string(value) ? cidr_parse(json_string_value(value), out) : -1;
}

static int value_valid(enum family family, json_t *value)
{
    char scratch[32];
    double number;
    long long time;
    int boolean;
    cidr ip;

    switch (family) {
    case FAM_STRING:
        return value_text(value, scratch) != NULL;
    case FAM_NUMERIC:
        return value_number(value, &number) == 0;
    case FAM_DATE:
        return value_date(value, &time) == 0;
    case FAM_BOOL:
        return value_bool(value, &boolean) == 0;
    case FAM_IP:
        return value_cidr(value, &ip) == 0;
    }
    return 0;
}

/* ---- validation -------------------------------------------------------- */

static int validate_values(const cond_operator *op, const char *key, json_t *values, size_t index,
                           buf *why)
{
    char name[RAM_PRINTABLE_MAX];

    ram_printable(key, name, sizeof name);
    if (!json_is_array(values)) {
        if (!value_valid(op->family, values))
            return ram_reject(why, "Statement[%zu].Condition.%s[\"%s\"]: %s", index, op->name,
                              name, family_complaints[op->family]);
        return 0;
    }
    if (json_array_size(values) == 0)
        return ram_reject(why, "Statement[%zu].Condition.%s[\"%s\"]: empty array", index,
                          op->name, name);
    int rc = 0;
    for (size_t i = 0; i < json_array_size(values); i++)
        if (!value_valid(op->family, json_array_get(values, i)))
            rc = ram_reject(why, "Statement[%zu].Condition.%s[\"%s\"][%zu]: %s", index,
                            op->name, name, i, family_complaints[op->family]);
    return rc;
}

static int validate_operator(const cond_operator *op, json_t *block, size_t index, buf *why)
{
    const char *key;
    json_t *values;
    char name[RAM_PRINTABLE_MAX];
    enum cond_key id;
    const char *tag;

    int rc = 0;

    if (!json_is_object(block))
        return ram_reject(why, "Statement[%zu].Condition.%s: not an object", index, op->name);
    json_object_foreach(block, key, values) {
        if (parse_key(key, &id, &tag) < 0)
            rc = ram_reject(why, "Statement[%zu].Condition.%s: unknown key \"%s\"", index,
                            op->name, ram_printable(key, name, sizeof name));
        else if (validate_values(op, key, values, index, why) < 0)
            rc = -1;
    }
    return rc;
}

int ram_condition_validate(json_t *condition, size_t index, buf *why)
{
    const char *op_name;
    json_t *block;
    char name[RAM_PRINTABLE_MAX];

    int rc = 0;

    if (!json_is_object(condition))
        return ram_reject(why, "Statement[%zu].Condition: not an object", index);
    json_object_foreach(condition, op_name, block) {
        const cond_operator *op = find_operator(op_name);
        if (!op)
            rc = ram_reject(why, "Statement[%zu].Condition: unknown operator \"%s\"", index,
                            ram_printable(op_name, name, sizeof name));
        else if (validate_operator(op, block, index, why) < 0)
            rc = -1;
    }
    return rc;
}

/* ---- evaluation -------------------------------------------------------- */

static int find_tag(const ram_request_context *ctx, const char *tag, const char **value)
{
    if (!ctx->tag_keys || !ctx->tag_values)
        return -1;
    for (size_t i = 0; i < ctx->tag_count; i++) {
        if (ctx->tag_keys[i] && strcmp(ctx->tag_keys[i], tag) == 0) {
            *value = ctx->tag_values[i];
            return *value ? 0 : -1;
        }
    }
    return -1;
}

/* The request's value of key, or -1 when the request has none. A time of
 * zero or less means the caller did not fill it in. */
static int lookup_subject(const ram_request_context *ctx, enum cond_key key, const char *tag,
                          subject *out)
{
    if (!ctx)
        return -1;
    memset(out, 0, sizeof *out);
    switch (key) {
    case KEY_SOURCE_IP:
        out->kind = SUBJECT_TEXT;
        out->text = ctx->source_ip;
        return out->text ? 0 : -1;
    case KEY_USER_AGENT:
        out->kind = SUBJECT_TEXT;
        out->text = ctx->user_agent;
        return out->text ? 0 : -1;
    case KEY_RESOURCE_TAG:
        out->kind = SUBJECT_TEXT;
        return find_tag(ctx, tag, &out->text);
    case KEY_SECURE_TRANSPORT:
        out->kind = SUBJECT_BOOL;
        out->boolean = ctx->secure_transport != 0;
        return 0;
    case KEY_MFA_PRESENT:
        out->kind = SUBJECT_BOOL;
        out->boolean = ctx->mfa_present != 0;
        return 0;
    case KEY_CURRENT_TIME:
        out->kind = SUBJECT_TIME;
        out->time = ctx->current_time;
        return ctx->current_time > 0 ? 0 : -1;
    }
    return -1;
}

/* Reads the subject as family wants it; -1 when it cannot be read so. */
static int make_operand(enum family family, const subject *s, operand *out)
{
    switch (family) {
    case FAM_STRING:
        if (s->kind == SUBJECT_TEXT) {
            out->text = s->text;
        } else if (s->kind == SUBJECT_BOOL) {
            out->text = s->boolean ? "true" : "false";
        } else {
            /* Years past 9999 do not fit the format. */
            if (s->time >= 253402300800LL)
                return -1;
            iso8601_format((time_t)s->time, out->text_buf);
            out->text = out->text_buf;
        }
        return 0;
    case FAM_NUMERIC:
        if (s->kind == SUBJECT_TIME) {
            out->number = (double)s->time;
            return 0;
        }
        return s->kind == SUBJECT_TEXT ? parse_number(s->text, &out->number) : -1;
    case FAM_DATE:
        if (s->kind == SUBJECT_TIME) {
            out->time = s->time;
            return 0;
        }
        return s->kind == SUBJECT_TEXT ? parse_date(s->text, &out->time) : -1;
    case FAM_BOOL:
        if (s->kind == SUBJECT_BOOL) {
            out->boolean = s->boolean;
            return 0;
        }
        return s->kind == SUBJECT_TEXT ? parse_bool(s->text, &out->boolean) : -1;
    case FAM_IP:
        return s->kind == SUBJECT_TEXT ? cidr_parse_address(s->text, &out->ip) : -1;
    }
    return -1;
}

static int ordered(enum compare compare, int sign)
{
    switch (compare) {
    case CMP_EQ:
    case CMP_EQ_NOCASE:
    case CMP_LIKE:
        return sign == 0;
    case CMP_LT:
        return sign < 0;
    case CMP_LE:
        return sign <= 0;
    case CMP_GT:
        return sign > 0;
    case CMP_GE:
        return sign >= 0;
    }
    return 0;
}

/* Whether the request's operand matches one policy value. */
static int value_matches(const cond_operator *op, const operand *a, json_t *value)
{
    char scratch[32];
    const char *text;
    double number;
    long long time;
    int boolean;
    cidr net;

    switch (op->family) {
    case FAM_STRING:
        if (!(text = value_text(value, scratch)))
            return 0;
        if (op->compare == CMP_LIKE)
            return ram_wildcard_match(text, a->text, 0);
        if (op->compare == CMP_EQ_NOCASE)
            return ram_ascii_equal_nocase(a->text, text);
        return strcmp(a->text, text) == 0;
    case FAM_NUMERIC:
        if (value_number(value, &number) < 0)
            return 0;
        return ordered(op->compare, (a->number > number) - (a->number < number));
    case FAM_DATE:
        if (value_date(value, &time) < 0)
            return 0;
        return ordered(op->compare, (a->time > time) - (a->time < time));
    case FAM_BOOL:
        return value_bool(value, &boolean) == 0 && a->boolean == boolean;
    case FAM_IP:
        return value_cidr(value, &net) == 0 && cidr_contains(&net, &a->ip);
    }
    return 0;
}

static int key_holds(const cond_operator *op, const char *key, json_t *values,
                     const ram_request_context *ctx)
{
    enum cond_key id;
    const char *tag;
    subject s;
    operand a;
    int any = 0;

    if (parse_key(key, &id, &tag) < 0 || lookup_subject(ctx, id, tag, &s) < 0)
        return 0;
    if (make_operand(op->family, &s, &a) < 0)
        return 0;
    if (json_is_array(values)) {
        for (size_t i = 0; i < json_array_size(values) && !any; i++)
            any = value_matches(op, &a, json_array_get(values, i));
    } else {
        any = value_matches(op, &a, values);
    }
    return op->negated ? !any : any;
}

int ram_condition_holds(json_t *condition, const ram_request_context *ctx)
{
    const char *op_name, *key;
    json_t *block, *values;

    json_object_foreach(condition, op_name, block) {
        const cond_operator *op = find_operator(op_name);
        if (!op || !json_is_object(block))
            return 0;
        json_object_foreach(block, key, values) {
            if (!key_holds(op, key, values, ctx))
                return 0;
        }
    }
    return 1;
}
