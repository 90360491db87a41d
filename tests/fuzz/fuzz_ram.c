/* fuzz_ram.c: RAM policy documents (ram/policy.c, ram/condition.c):
 * validation and evaluation.
 *
 * The input up to its first NUL is the policy document. What follows the
 * NUL, when there is one, describes the request, one item per line:
 *     action
 *     resource
 *     source IP          ("-" for none)
 *     user agent         ("-" for none)
 *     flags              digits: secure transport, MFA present
 *     current time       epoch seconds
 *     key=value          any number of resource tags
 * Missing lines take the values of a plain screenshot request. Checked on
 * every input: validation and evaluation agree (a document that does not
 * validate grants nothing, and evaluating it never crashes); a reason is
 * given for every refusal; the result is one of the three decisions and is
 * the same through ram_policies_evaluate, also with the document listed
 * twice; evaluation without a context (NULL) is safe; and
 * ram_wildcard_match agrees with a plain dynamic-programming matcher, in
 * both case modes, with the document as the pattern. A document that
 * validates is also rewritten with jansson: the same decision with its
 * keys sorted and its layout compact; an explicit deny once a Deny of
 * everything is appended; an allow, unless a Deny matched already, once an
 * Allow of everything is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz_check.h"
#include "ram/ram.h"
#include "util/log.h"

#define TAGS_MAX 32
/* check_rewritten stays within what a document may hold (policy.c allows
 * 64 KiB and 100 statements; escapes can grow the rewritten text). */
#define RAM_REWRITE_MAX 8192
#define RAM_REWRITE_STATEMENTS 100

typedef struct request {
    const char *action;
    const char *resource;
    ram_request_context ctx;
    const char *tag_keys[TAGS_MAX];
    const char *tag_values[TAGS_MAX];
} request;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR); /* an invalid document is logged at warn on evaluation */
    return 0;
}

static char *next_line(char **p)
{
    if (!*p)
        return NULL;
    char *line = *p;
    char *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = NULL;
    }
    return line;
}

/* Fills r from the lines at text (modified in place; r points into it). */
static void read_request(char *text, request *r)
{
    memset(r, 0, sizeof *r);
    r->action = "ecs:GetInstanceScreenshot";
    r->resource = "acs:ecs:cn-hangzhou:1234567890123456:instance/i-bp1gbz20g229bvu5abcd";
    r->ctx.source_ip = "192.0.2.10";
    r->ctx.user_agent = "AlibabaCloud (linux; x64) Node.js/v18 Core/1.0.1 TeaDSL/1";
    r->ctx.current_time = 1704067200; /* 2024-01-01T00:00:00Z */
    r->ctx.tag_keys = r->tag_keys;
    r->ctx.tag_values = r->tag_values;
    if (!text)
        return;
    char *p = text, *line;
    if ((line = next_line(&p)))
        r->action = line;
    if ((line = next_line(&p)))
        r->resource = line;
    if ((line = next_line(&p)))
        r->ctx.source_ip = strcmp(line, "-") == 0 ? NULL : line;
    if ((line = next_line(&p)))
        r->ctx.user_agent = strcmp(line, "-") == 0 ? NULL : line;
    if ((line = next_line(&p))) {
        r->ctx.secure_transport = line[0] == '1';
        r->ctx.mfa_present = line[0] != '\0' && line[1] == '1';
    }
    if ((line = next_line(&p)))
        r->ctx.current_time = strtoll(line, NULL, 10);
    while ((line = next_line(&p)) && r->ctx.tag_count < TAGS_MAX) {
        char *eq = strchr(line, '=');
        if (eq)
            *eq = '\0';
        r->tag_keys[r->ctx.tag_count] = line;
        r->tag_values[r->ctx.tag_count] = eq ? eq + 1 : NULL; /* a tag without a value */
        r->ctx.tag_count++;
    }
}

/* Reference glob matcher: match[i][j] says whether pattern[i..] matches
 * text[j..]. Quadratic memory, so only for short strings. */
#define REF_MAX 128

static int ref_fold(unsigned char c, int ignore_case)
{
    return ignore_case && c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int reference_match(const char *p, const char *t, int ignore_case)
{
    static unsigned char match[REF_MAX + 1][REF_MAX + 1];
    size_t pn = strlen(p), tn = strlen(t);
    for (size_t i = pn + 1; i-- > 0;) {
        for (size_t j = tn + 1; j-- > 0;) {
            int m;
            if (i == pn)
                m = j == tn;
            else if (p[i] == '*')
                m = match[i + 1][j] || (j < tn && match[i][j + 1]);
            else
                m = j < tn && (p[i] == '?' || ref_fold((unsigned char)p[i], ignore_case) ==
                                                  ref_fold((unsigned char)t[j], ignore_case)) &&
                    match[i + 1][j + 1];
            match[i][j] = (unsigned char)m;
        }
    }
    return match[0][0];
}

static void check_wildcard(const char *pattern, const char *text)
{
    int exact = ram_wildcard_match(pattern, text, 0);
    int folded = ram_wildcard_match(pattern, text, 1);
    FUZZ_CHECK(!exact || folded);
    if (strlen(pattern) <= REF_MAX && strlen(text) <= REF_MAX) {
        FUZZ_CHECK(exact == reference_match(pattern, text, 0));
        FUZZ_CHECK(folded == reference_match(pattern, text, 1));
    }
}

/* Evaluates doc rewritten by jansson: keys sorted, then with a statement
 * appended. */
static ram_decision evaluate_json(json_t *root, const request *r)
{
    char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    FUZZ_CHECK(text != NULL);
    ram_decision d = ram_policy_evaluate(text, r->action, r->resource, &r->ctx);
    free(text);
    return d;
}

/* The decision does not depend on the document's layout or key order; a
 * Deny of everything appended makes it an explicit deny; an Allow of
 * everything appended allows unless a Deny already matched. */
static void check_rewritten(const char *doc, const request *r, ram_decision d)
{
    json_t *root = json_loads(doc, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(root != NULL); /* it validated */
    json_t *statements = json_object_get(root, "Statement");
    if (strlen(doc) > RAM_REWRITE_MAX || json_array_size(statements) >= RAM_REWRITE_STATEMENTS) {
        json_decref(root);
        return;
    }
    FUZZ_CHECK(evaluate_json(root, r) == d);
    json_t *all = json_pack("{s:s, s:s, s:s}", "Effect", "Deny", "Action", "*", "Resource", "*");
    FUZZ_CHECK(all && json_array_append_new(statements, all) == 0);
    FUZZ_CHECK(evaluate_json(root, r) == RAM_EXPLICIT_DENY);
    FUZZ_CHECK(json_object_set_new(all, "Effect", json_string("Allow")) == 0);
    FUZZ_CHECK(evaluate_json(root, r) == (d == RAM_EXPLICIT_DENY ? RAM_EXPLICIT_DENY : RAM_ALLOW));
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t doc_len = strlen(text);
    const char *doc = text;
    request r;
    read_request(doc_len < size ? text + doc_len + 1 : NULL, &r);

    buf why = BUF_INIT;
    int valid = ram_policy_validate(doc, &why) == 0;
    FUZZ_CHECK(valid ? why.len == 0 : why.len > 0);
    FUZZ_CHECK(ram_policy_validate(doc, NULL) == (valid ? 0 : -1));

    ram_decision d = ram_policy_evaluate(doc, r.action, r.resource, &r.ctx);
    FUZZ_CHECK(d == RAM_IMPLICIT_DENY || d == RAM_ALLOW || d == RAM_EXPLICIT_DENY);
    if (!valid)
        FUZZ_CHECK(d == RAM_IMPLICIT_DENY);

    const char *docs[2] = {doc, doc};
    FUZZ_CHECK(ram_policies_evaluate(docs, 1, r.action, r.resource, &r.ctx) == d);
    FUZZ_CHECK(ram_policies_evaluate(docs, 2, r.action, r.resource, &r.ctx) == d);

    /* Without a context (NULL) every Condition key is absent: still one of
     * the decisions, and nothing for a document that does not validate. */
    ram_decision bare = ram_policy_evaluate(doc, r.action, r.resource, NULL);
    FUZZ_CHECK(bare == RAM_IMPLICIT_DENY || bare == RAM_ALLOW || bare == RAM_EXPLICIT_DENY);
    if (!valid)
        FUZZ_CHECK(bare == RAM_IMPLICIT_DENY);

    if (valid)
        check_rewritten(doc, &r, d);

    /* The matcher on its own, the document's text as the pattern, against
     * a plain dynamic-programming matcher. */
    check_wildcard(doc, r.resource);
    check_wildcard(doc, r.action);

    buf_free(&why);
    free(text);
    return 0;
}
