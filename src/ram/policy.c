/* policy.c: RAM policy documents (PROTOCOL.md §3): checked when attached,
 * evaluated for every request a RAM user signs.
 *
 * A document is parsed with jansson and checked in full before any of it is
 * evaluated, so the evaluator walks only shapes it knows. A document that is
 * no longer valid at evaluation time (it was stored by an older version, or
 * edited behind ecshot's back) grants nothing: failing closed is the only
 * safe reading of a policy we do not understand. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ram/internal.h"
#include "util/log.h"

/* Real policies are a few hundred bytes; the bounds keep a hostile or
 * mistaken document from costing much on every request. */
#define RAM_DOCUMENT_MAX 65536
#define RAM_STATEMENTS_MAX 100

static const char *const statement_elements[] = {
    "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition",
};

/* ---- helpers shared with condition.c ---------------------------------- */

int ram_reject(buf *why, const char *fmt, ...)
{
    if (why) {
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        /* Validation names every error it finds, one per line. */
        if (why->len > 0)
            buf_putc(why, '\n');
        buf_puts(why, line);
    }
    return -1;
}

const char *ram_printable(const char *s, char *out, size_t out_size)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;

    if (out_size < 8) {
        if (out_size > 0)
            out[0] = '\0';
        return out;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char piece[4];
        size_t len;
        if (c == '"' || c == '\\') {
            piece[0] = '\\';
            piece[1] = (char)c;
            len = 2;
        } else if (c < 0x20 || c > 0x7e) {
            piece[0] = '\\';
            piece[1] = 'x';
            piece[2] = hex[c >> 4];
            piece[3] = hex[c & 15];
            len = 4;
        } else {
            piece[0] = (char)c;
            len = 1;
        }
        /* Keep room for "..." and the NUL in case more follows. */
        if (n + len + 4 > out_size) {
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return out;
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int ram_ascii_equal_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
            return 0;
    return *a == *b;
}

/* ---- wildcards --------------------------------------------------------- */

static int same_char(char p, char t, int ignore_case)
{
    if (ignore_case)
        return ascii_lower((unsigned char)p) == ascii_lower((unsigned char)t);
    return p == t;
}

/* Greedy matching with one backtrack point: on a mismatch, return to the
 * last '*' and let it swallow one more character. Only the latest star needs
 * remembering (an earlier star can already absorb whatever a later retry
 * would give it), so the cost is O(len(pattern) * len(text)) at worst, never
 * exponential, whatever the pattern. */
int ram_wildcard_match(const char *pattern, const char *text, int ignore_case)
{
    const char *p = pattern, *t = text;
    const char *star = NULL, *star_text = NULL;

    if (!pattern || !text)
        return 0;
    while (*t) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            if (*p == '\0')
                return 1; /* a trailing star takes the rest */
            star = p;
            star_text = t;
        } else if (*p && (*p == '?' || same_char(*p, *t, ignore_case))) {
            p++;
            t++;
        } else if (star) {
            p = star;
            t = ++star_text;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* ---- validation -------------------------------------------------------- */

static json_t *load_document(const char *document, buf *why)
{
    json_error_t err;
    char text[RAM_PRINTABLE_MAX];

    if (!document) {
        ram_reject(why, "no document");
        return NULL;
    }
    size_t len = strnlen(document, RAM_DOCUMENT_MAX + 1);
    if (len > RAM_DOCUMENT_MAX) {
        ram_reject(why, "document is larger than %d bytes", RAM_DOCUMENT_MAX);
        return NULL;
    }
    /* Duplicate keys are refused: two "Effect"s would leave it to the
     * parser which one counts. */
    json_t *root = json_loadb(document, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        ram_reject(why, "document is not valid JSON: %s (line %d, column %d)",
                   ram_printable(err.text, text, sizeof text), err.line, err.column);
    return root;
}

static int is_statement_element(const char *name)
{
    for (size_t i = 0; i < sizeof statement_elements / sizeof statement_elements[0]; i++)
        if (strcmp(name, statement_elements[i]) == 0)
            return 1;
    return 0;
}

/* Action, NotAction, Resource, NotResource: a non-empty string or a
 * non-empty array of them. Every bad item is named. */
static int validate_patterns(json_t *value, size_t index, const char *name, buf *why)
{
    if (json_is_string(value)) {
        if (json_string_length(value) == 0)
            return ram_reject(why, "Statement[%zu].%s: empty string", index, name);
        return 0;
    }
    if (!json_is_array(value))
        return ram_reject(why, "Statement[%zu].%s: not a string or an array of strings", index,
                          name);
    if (json_array_size(value) == 0)
        return ram_reject(why, "Statement[%zu].%s: empty array", index, name);
    int rc = 0;
    for (size_t i = 0; i < json_array_size(value); i++) {
        json_t *item = json_array_get(value, i);
        if (!json_is_string(item))
            rc = ram_reject(why, "Statement[%zu].%s[%zu]: not a string", index, name, i);
        else if (json_string_length(item) == 0)
            rc = ram_reject(why, "Statement[%zu].%s[%zu]: empty string", index, name, i);
    }
    return rc;
}

/* Exactly one of name and not_name, e.g. Action and NotAction. */
static int validate_pair(json_t *statement, size_t index, const char *name, const char *not_name,
                         buf *why)
{
    json_t *plain = json_object_get(statement, name);
    json_t *negated = json_object_get(statement, not_name);

    if (plain && negated)
        return ram_reject(why, "Statement[%zu]: both \"%s\" and \"%s\"", index, name, not_name);
    if (!plain && !negated)
        return ram_reject(why, "Statement[%zu]: missing \"%s\" or \"%s\"", index, name, not_name);
    return plain ? validate_patterns(plain, index, name, why)
                 : validate_patterns(negated, index, not_name, why);
}

/* Checks every element, so that one pass names every error of a
 * statement; returns -1 when there was any. */
static int validate_statement(json_t *statement, size_t index, buf *why)
{
    const char *key;
    json_t *value;
    char name[RAM_PRINTABLE_MAX];
    int rc = 0;

    if (!json_is_object(statement))
        return ram_reject(why, "Statement[%zu]: not an object", index);
    json_object_foreach(statement, key, value) {
        if (!is_statement_element(key))
            rc = ram_reject(why, "Statement[%zu]: unknown element \"%s\"", index,
                            ram_printable(key, name, sizeof name));
    }
    json_t *effect = json_object_get(statement, "Effect");
    const char *e = json_string_value(effect);
    if (!effect)
        rc = ram_reject(why, "Statement[%zu]: missing \"Effect\"", index);
    else if (!e || (strcmp(e, "Allow") != 0 && strcmp(e, "Deny") != 0))
        rc = ram_reject(why, "Statement[%zu].Effect: must be \"Allow\" or \"Deny\"", index);
    if (validate_pair(statement, index, "Action", "NotAction", why) < 0)
        rc = -1;
    if (validate_pair(statement, index, "Resource", "NotResource", why) < 0)
        rc = -1;
    json_t *condition = json_object_get(statement, "Condition");
    if (condition && ram_condition_validate(condition, index, why) < 0)
        rc = -1;
    return rc;
}

static int validate_document(json_t *root, buf *why)
{
    const char *key;
    json_t *value;
    char name[RAM_PRINTABLE_MAX];

    int rc = 0;

    if (!json_is_object(root))
        return ram_reject(why, "document is not a JSON object");
    json_object_foreach(root, key, value) {
        if (strcmp(key, "Version") != 0 && strcmp(key, "Statement") != 0)
            rc = ram_reject(why, "unknown element \"%s\"", ram_printable(key, name, sizeof name));
    }
    json_t *version = json_object_get(root, "Version");
    if (!version)
        rc = ram_reject(why, "missing \"Version\"");
    else if (!json_is_string(version) || strcmp(json_string_value(version), "1") != 0)
        rc = ram_reject(why, "\"Version\" must be \"1\"");
    json_t *statements = json_object_get(root, "Statement");
    if (!statements)
        return ram_reject(why, "missing \"Statement\"");
    if (!json_is_array(statements) || json_array_size(statements) == 0)
        return ram_reject(why, "\"Statement\" must be a non-empty array");
    if (json_array_size(statements) > RAM_STATEMENTS_MAX)
        return ram_reject(why, "\"Statement\" has more than %d statements", RAM_STATEMENTS_MAX);
    for (size_t i = 0; i < json_array_size(statements); i++)
        if (validate_statement(json_array_get(statements, i), i, why) < 0)
            rc = -1;
    return rc;
}

int ram_policy_validate(const char *document, buf *why)
{
    /* The reasons gather in a buffer of their own, so that ram_reject's
     * line breaks go between them and not after what the caller has. */
    buf reasons = BUF_INIT;
    json_t *root = load_document(document, why ? &reasons : NULL);
    int rc = root ? validate_document(root, why ? &reasons : NULL) : -1;
    json_decref(root);
    if (why && reasons.len)
        buf_append(why, reasons.data, reasons.len);
    buf_free(&reasons);
    return rc;
}

/* ---- evaluation -------------------------------------------------------- */

/* A validated pattern element: one string or an array of strings. */
static int patterns_match(json_t *patterns, const char *subject, int ignore_case)
{
    if (json_is_string(patterns))
        return ram_wildcard_match(json_string_value(patterns), subject, ignore_case);
    for (size_t i = 0; i < json_array_size(patterns); i++)
        if (ram_wildcard_match(json_string_value(json_array_get(patterns, i)), subject,
                               ignore_case))
            return 1;
    return 0;
}

/* Whether the statement's Action/NotAction (or Resource/NotResource)
 * covers subject. NotX covers everything its patterns do not. */
static int element_covers(json_t *statement, const char *name, const char *not_name,
                          const char *subject, int ignore_case)
{
    json_t *plain = json_object_get(statement, name);
    if (plain)
        return patterns_match(plain, subject, ignore_case);
    json_t *negated = json_object_get(statement, not_name);
    return negated && !patterns_match(negated, subject, ignore_case);
}

static int statement_applies(json_t *statement, const char *action, const char *resource,
                             const ram_request_context *ctx)
{
    /* Action names are case-insensitive in Alibaba's API; resource ARNs
     * carry instance IDs and names, which are not. */
    if (!element_covers(statement, "Action", "NotAction", action, 1))
        return 0;
    if (!element_covers(statement, "Resource", "NotResource", resource, 0))
        return 0;
    json_t *condition = json_object_get(statement, "Condition");
    return !condition || ram_condition_holds(condition, ctx);
}

/* The decision of one document, and in *statement the index of the
 * statement that made it (the first Allow that applies, or the first Deny
 * that applies, which overrides it). */
static ram_decision evaluate_document(json_t *root, const char *action, const char *resource,
                                      const ram_request_context *ctx, size_t *statement)
{
    json_t *statements = json_object_get(root, "Statement");
    int allowed = 0;

    for (size_t i = 0; i < json_array_size(statements); i++) {
        json_t *st = json_array_get(statements, i);
        int deny = strcmp(json_string_value(json_object_get(st, "Effect")), "Deny") == 0;
        /* Once allowed, only a Deny can change the outcome. */
        if (!deny && allowed)
            continue;
        if (!statement_applies(st, action, resource, ctx))
            continue;
        *statement = i;
        if (deny)
            return RAM_EXPLICIT_DENY;
        allowed = 1;
    }
    return allowed ? RAM_ALLOW : RAM_IMPLICIT_DENY;
}

static ram_decision policy_explain(const char *document, const char *action, const char *resource,
                                   const ram_request_context *ctx, size_t *statement)
{
    buf why = BUF_INIT;
    ram_decision decision = RAM_IMPLICIT_DENY;

    if (!action || !resource)
        return RAM_IMPLICIT_DENY;
    json_t *root = load_document(document, &why);
    if (root && validate_document(root, &why) == 0)
        decision = evaluate_document(root, action, resource, ctx, statement);
    else
        log_warn("ram: ignoring a policy that is not valid: %s", buf_cstr(&why));
    json_decref(root);
    buf_free(&why);
    return decision;
}

ram_decision ram_policy_evaluate(const char *document, const char *action, const char *resource,
                                 const ram_request_context *ctx)
{
    size_t statement;
    return policy_explain(document, action, resource, ctx, &statement);
}

ram_verdict ram_policies_explain(const char *const *documents, size_t count, const char *action,
                                 const char *resource, const ram_request_context *ctx)
{
    ram_verdict v = {RAM_IMPLICIT_DENY, 0, 0};

    if (!documents)
        return v;
    for (size_t i = 0; i < count; i++) {
        size_t statement = 0;
        ram_decision d = policy_explain(documents[i], action, resource, ctx, &statement);
        if (d == RAM_EXPLICIT_DENY)
            return (ram_verdict){RAM_EXPLICIT_DENY, i, statement};
        if (d == RAM_ALLOW && v.decision != RAM_ALLOW)
            v = (ram_verdict){RAM_ALLOW, i, statement};
    }
    return v;
}

ram_decision ram_policies_evaluate(const char *const *documents, size_t count, const char *action,
                                   const char *resource, const ram_request_context *ctx)
{
    return ram_policies_explain(documents, count, action, resource, ctx).decision;
}

ram_verdict ram_session_narrow(ram_verdict identity, ram_verdict session)
{
    /* An explicit deny anywhere wins; else both must allow. The identity
     * policies are reported first, as RAM does, and an allow is theirs:
     * the session policy only lets it through. */
    if (identity.decision == RAM_EXPLICIT_DENY)
        return identity;
    if (session.decision == RAM_EXPLICIT_DENY)
        return session;
    if (identity.decision != RAM_ALLOW || session.decision == RAM_ALLOW)
        return identity;
    return session;
}
