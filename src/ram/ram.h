/* ram.h: RAM policy evaluation: may this principal do this action on this resource?
 *
 * Policies are Alibaba RAM documents (PROTOCOL.md §3):
 *   {"Version":"1","Statement":[{"Effect":"Allow"|"Deny",
 *     "Action"|"NotAction": str|[str], "Resource"|"NotResource": str|[str],
 *     "Condition": {...}}]}
 * '*' matches any run of characters, '?' exactly one; actions compare
 * without regard to case, resources with. Default deny; a matching Deny
 * beats every Allow. Documents are parsed with jansson. */
#ifndef ECSHOT_RAM_RAM_H
#define ECSHOT_RAM_RAM_H

#include <stddef.h>

#include "util/buf.h"

typedef enum ram_decision {
    RAM_IMPLICIT_DENY = 0,   /* no statement allowed it */
    RAM_ALLOW = 1,
    RAM_EXPLICIT_DENY = 2    /* a Deny statement matched */
} ram_decision;

/* What a Condition block is evaluated against. Any field may be NULL
 * (the key is then absent and conditions on it do not match). */
typedef struct ram_request_context {
    const char *source_ip;        /* acs:SourceIp */
    int secure_transport;         /* acs:SecureTransport */
    long long current_time;       /* acs:CurrentTime, seconds since the epoch */
    int mfa_present;              /* acs:MFAPresent */
    const char *user_agent;       /* acs:UserAgent */
    /* acs:ResourceTag/<key>: parallel arrays */
    const char *const *tag_keys;
    const char *const *tag_values;
    size_t tag_count;
} ram_request_context;

/* Glob match: '*' any run (also none), '?' exactly one character. */
int ram_wildcard_match(const char *pattern, const char *text, int ignore_case);

/* Checks that a document is a policy ecshot can evaluate; on failure writes
 * to why (may be NULL) one line per error, each naming where it is (JSON
 * line and column for syntax, the element's path such as
 * Statement[1].Condition.IpAddress["acs:SourceIp"][0] otherwise), and
 * returns -1. */
int ram_policy_validate(const char *document, buf *why);

/* Evaluates one document. A document that does not parse counts as no
 * statement (implicit deny) and is logged: it was validated when attached. */
ram_decision ram_policy_evaluate(const char *document, const char *action, const char *resource,
                                 const ram_request_context *ctx);

/* Evaluates several documents together: any explicit deny wins, else any
 * allow, else implicit deny. */
ram_decision ram_policies_evaluate(const char *const *documents, size_t count, const char *action,
                                   const char *resource, const ram_request_context *ctx);

/* A decision and what made it: for RAM_ALLOW the first statement that
 * allows, for RAM_EXPLICIT_DENY the first that denies (policy indexes into
 * the documents given, statement into its Statement array). For an
 * implicit deny there is no such statement and both are 0. */
typedef struct ram_verdict {
    ram_decision decision;
    size_t policy;
    size_t statement;
} ram_verdict;

/* ram_policies_evaluate, with the statement that decided. */
ram_verdict ram_policies_explain(const char *const *documents, size_t count, const char *action,
                                 const char *resource, const ram_request_context *ctx);

/* What an STS session may do: the role's policies (identity) narrowed by
 * the session policy given when the role was assumed. An explicit deny in
 * either wins; otherwise both must allow. Returns the verdict that decided:
 * the session's exactly when its decision differs from identity's. */
ram_verdict ram_session_narrow(ram_verdict identity, ram_verdict session);

#endif
