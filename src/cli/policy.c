/* policy.c: the operator's commands on RAM policies, which are objects of an
 * account (RAM's custom policies): created once, attached to users and roles.
 *
 *   policy create ACCOUNT_ID/NAME FILE.json
 *   policy list ACCOUNT_ID                       one line per policy: name attachments
 *   policy show ACCOUNT_ID/NAME                  name, document and attachments, as JSON
 *   policy attach ACCOUNT_ID/NAME --user USER | --role ROLE
 *   policy attach ACCOUNT_ID/USER FILE.json [--name NAME]    (0.2's one step: create
 *                                                 or replace, then attach to the user)
 *   policy detach ACCOUNT_ID/NAME --user USER | --role ROLE
 *   policy delete ACCOUNT_ID/NAME                only once detached from everyone
 *   policy simulate ACCOUNT_ID[/USER] [--role ROLE [--session-policy FILE]]
 *                   --resource ARN [--action ACTION] [--context KEY=VALUE]...
 *
 * A document is checked in full before it is stored, and every error in it
 * is named with where it is: JSON line and column, or the element's path
 * (Statement[1].Condition.IpAddress["acs:SourceIp"][0]). simulate answers
 * what a request of that principal would be told, and which statement of
 * which policy decided; it exits 0 for allow and 3 for deny. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/admin.h"
#include "cli/cli.h"
#include "ram/ram.h"
#include "sts/sts.h"
#include "util/timeutil.h"

#define EXIT_DENIED 3
#define DEFAULT_ACTION "ecs:GetInstanceScreenshot"

/* ---- reading and checking a document ---- */

/* One "ecshot: FILE: ERROR" line per error the validator named. */
static int report_invalid(const char *path, const buf *why)
{
    const char *line = why->len ? buf_cstr(why) : "invalid document";
    for (;;) {
        const char *end = strchr(line, '\n');
        int len = end ? (int)(end - line) : (int)strlen(line);
        cli_fail(EXIT_FAILED, "%s: %.*s", path, len, line);
        if (!end)
            break;
        line = end + 1;
    }
    return EXIT_FAILED;
}

/* Reads FILE and checks it is a policy ecshot accepts; 0 or the exit status. */
static int load_policy_file(const char *path, buf *doc)
{
    buf why = BUF_INIT;
    int rc = read_policy_file(path, doc);
    if (rc == 0 && ram_policy_validate(buf_cstr(doc), &why) != 0)
        rc = report_invalid(path, &why);
    buf_free(&why);
    return rc;
}

/* --user USER or --role ROLE, exactly one. */
static int principal_from_options(const option *user, const option *role, principal_kind *kind,
                                  const char **name)
{
    if (!user->value == !role->value)
        return cli_fail(EXIT_USAGE, "give either --user USER or --role ROLE");
    *kind = user->value ? PRINCIPAL_USER : PRINCIPAL_ROLE;
    *name = user->value ? user->value : role->value;
    if (!store_valid_owner(*name))
        return cli_fail(EXIT_FAILED, "invalid %s name '%.128s': " ACCOUNT_RULE,
                        user->value ? "user" : "role", *name);
    return 0;
}

static const char *kind_word(principal_kind kind)
{
    return kind == PRINCIPAL_ROLE ? "role" : "user";
}

/* ---- create, attach, detach, delete ---- */

int cmd_policy_create(const command *cmd, const char *url, int argc, char **argv)
{
    const char *pos[2];
    char account[STORE_ID_MAX], name[STORE_ID_MAX];
    int rc = parse_args(cmd, argc, argv, NULL, 0, pos, 2, 2, NULL);
    if (rc || (rc = parse_account_and(pos[0], "policy", account, name)) != 0)
        return rc;
    buf doc = BUF_INIT;
    if ((rc = load_policy_file(pos[1], &doc)) == 0) {
        store *s = open_store(url);
        int result = s ? store_policy_create(s, account, name, buf_cstr(&doc)) : STORE_ERROR;
        store_close(s);
        if (result != STORE_OK) {
            char subject[2 * STORE_ID_MAX + 16], invalid[STORE_ID_MAX + 32];
            snprintf(subject, sizeof subject, "policy %s/%s", account, name);
            snprintf(invalid, sizeof invalid, "account %s does not exist", account);
            rc = store_failed(result, subject, invalid);
        }
    }
    buf_free(&doc);
    return rc;
}

/* 0.2's form: ACCOUNT_ID/USER FILE.json [--name NAME]. */
static int attach_document(const char *url, const char *owner, const char *path,
                           const char *given_name)
{
    char account[STORE_ID_MAX], user[STORE_ID_MAX], name[STORE_ID_MAX];
    int rc = parse_owner(owner, 1, account, user);
    if (rc)
        return rc;
    if (given_name) {
        if (!store_valid_id(given_name))
            return cli_fail(EXIT_FAILED, "invalid policy name '%.128s': " ID_RULE, given_name);
        strcpy(name, given_name);
    } else if (policy_name_from_path(path, name) != 0) {
        return cli_fail(EXIT_FAILED, "%s: the file name makes no policy name (" ID_RULE
                                     "): give --name NAME", path);
    }
    buf doc = BUF_INIT;
    if ((rc = load_policy_file(path, &doc)) == 0) {
        store *s = open_store(url);
        int result = s ? store_policy_attach(s, account, user, name, buf_cstr(&doc)) : STORE_ERROR;
        store_close(s);
        if (result == STORE_CONFLICT) {
            rc = cli_fail(EXIT_FAILED, "policy %s/%s is attached to others with another document: "
                                       "choose another --name", account, name);
        } else if (result != STORE_OK) {
            char subject[3 * STORE_ID_MAX + 16], invalid[2 * STORE_ID_MAX + 32];
            snprintf(subject, sizeof subject, "policy %s of %s/%s", name, account, user);
            snprintf(invalid, sizeof invalid, "user %s/%s does not exist", account, user);
            rc = store_failed(result, subject, invalid);
        }
    }
    buf_free(&doc);
    return rc;
}

/* attach (link != 0) or detach a policy and a user or role. */
static int link_policy(const command *cmd, const char *url, const char *target,
                       const option *user, const option *role, int link)
{
    char account[STORE_ID_MAX], name[STORE_ID_MAX];
    principal_kind kind = PRINCIPAL_USER;
    const char *principal = NULL;
    int rc = parse_account_and(target, "policy", account, name);
    if (rc || (rc = principal_from_options(user, role, &kind, &principal)) != 0)
        return rc;
    (void)cmd;
    store *s = open_store(url);
    int result = !s     ? STORE_ERROR
                 : link ? store_policy_attach_to(s, account, name, kind, principal)
                        : store_policy_detach(s, account, name, kind, principal);
    store_close(s);
    char subject[3 * STORE_ID_MAX + 64], invalid[2 * STORE_ID_MAX + 32];
    snprintf(invalid, sizeof invalid, "%s %s/%s does not exist", kind_word(kind), account,
             principal);
    switch (result) {
    case STORE_OK:
        return 0;
    case STORE_EXISTS:
        return cli_fail(EXIT_FAILED, "policy %s/%s is already attached to %s %s", account, name,
                        kind_word(kind), principal);
    case STORE_NOT_FOUND:
        if (!link)
            return cli_fail(EXIT_FAILED, "policy %s/%s is not attached to %s %s", account, name,
                            kind_word(kind), principal);
        /* fall through */
    default:
        snprintf(subject, sizeof subject, "policy %s/%s", account, name);
        return store_failed(result, subject, invalid);
    }
}

int cmd_policy_attach(const command *cmd, const char *url, int argc, char **argv)
{
    option opts[] = {{.name = "name"}, {.name = "user"}, {.name = "role"}};
    const char *pos[2];
    size_t npos;
    int rc = parse_args(cmd, argc, argv, opts, 3, pos, 1, 2, &npos);
    if (rc)
        return rc;
    if (npos == 2) {
        if (opts[1].value || opts[2].value)
            return usage_error(cmd);
        return attach_document(url, pos[0], pos[1], opts[0].value);
    }
    if (opts[0].value)
        return usage_error(cmd);
    return link_policy(cmd, url, pos[0], &opts[1], &opts[2], 1);
}

int cmd_policy_detach(const command *cmd, const char *url, int argc, char **argv)
{
    option opts[] = {{.name = "user"}, {.name = "role"}};
    const char *pos[1];
    int rc = parse_args(cmd, argc, argv, opts, 2, pos, 1, 1, NULL);
    return rc ? rc : link_policy(cmd, url, pos[0], &opts[0], &opts[1], 0);
}

/* Names what the policy is still attached to, for a refused delete. */
static int name_attachment(void *ctx, const policy_attachment *a)
{
    buf *list = ctx;
    buf_printf(list, "%s%s %s", list->len ? ", " : "", kind_word(a->kind), a->name);
    return 0;
}

int cmd_policy_delete(const command *cmd, const char *url, int argc, char **argv)
{
    const char *pos[1];
    char account[STORE_ID_MAX], name[STORE_ID_MAX];
    int rc = parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, NULL);
    if (rc || (rc = parse_account_and(pos[0], "policy", account, name)) != 0)
        return rc;
    store *s = open_store(url);
    if (!s)
        return EXIT_FAILED;
    int result = store_policy_delete(s, account, name);
    buf list = BUF_INIT;
    if (result == STORE_CONFLICT)
        store_policy_attachments(s, account, name, name_attachment, &list);
    store_close(s);
    char subject[2 * STORE_ID_MAX + 16];
    snprintf(subject, sizeof subject, "policy %s/%s", account, name);
    if (result == STORE_CONFLICT)
        rc = cli_fail(EXIT_FAILED, "%s is attached to %s: detach it first", subject,
                      list.len ? buf_cstr(&list) : "a user or role");
    else if (result != STORE_OK)
        rc = store_failed(result, subject, "the store refused the policy name");
    buf_free(&list);
    return rc;
}

/* ---- list and show ---- */

static int print_policy_line(void *ctx, const char *name, size_t attachments)
{
    (void)ctx;
    printf("%s %zu\n", name, attachments);
    return 0;
}

static int list_policies(store *s, const char *account_id)
{
    return store_policy_list(s, account_id, print_policy_line, NULL);
}

int cmd_policy_list(const command *cmd, const char *url, int argc, char **argv)
{
    return run_account_listing(cmd, url, argc, argv, list_policies);
}

static int add_attachment(void *ctx, const policy_attachment *a)
{
    json_t *o = json_pack("{ss ss}", "Type", a->kind == PRINCIPAL_ROLE ? "Role" : "User", "Name",
                          a->name);
    return !o || json_array_append_new(ctx, o) != 0;
}

int cmd_policy_show(const command *cmd, const char *url, int argc, char **argv)
{
    const char *pos[1];
    char account[STORE_ID_MAX], name[STORE_ID_MAX];
    int rc = parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, NULL);
    if (rc || (rc = parse_account_and(pos[0], "policy", account, name)) != 0)
        return rc;
    store *s = open_store(url);
    if (!s)
        return EXIT_FAILED;
    policy_doc doc = {.document = NULL};
    json_t *attached = json_array();
    int result = store_policy_get(s, account, name, &doc);
    if (result == STORE_OK)
        result = store_policy_attachments(s, account, name, add_attachment, attached);
    store_close(s);
    if (result == STORE_OK) {
        /* The document as stored, so that what was attached is what shows. */
        json_t *document = json_loads(doc.document, 0, NULL);
        json_t *o = json_pack("{ss ss sO* so}", "AccountId", account, "PolicyName", name,
                              "PolicyDocument", document, "AttachedTo", attached);
        attached = NULL;
        char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (!text || printf("%s\n", text) < 0 || fflush(stdout) != 0)
            rc = cli_fail(EXIT_FAILED, "cannot show policy %s/%s", account, name);
        free(text);
        json_decref(o);
        json_decref(document);
    } else {
        char subject[2 * STORE_ID_MAX + 16];
        snprintf(subject, sizeof subject, "policy %s/%s", account, name);
        rc = store_failed(result, subject, "the store refused the policy name");
    }
    json_decref(attached);
    free(doc.document);
    return rc;
}

/* ---- simulate ---- */

#define CONTEXT_MAX 32

/* What --context KEY=VALUE gave, in the evaluator's terms. */
typedef struct sim_context {
    ram_request_context rc;
    const char *tag_keys[STORE_TAGS_MAX];
    const char *tag_values[STORE_TAGS_MAX];
    char tag_key_text[STORE_TAGS_MAX][STORE_TAG_KEY_MAX];
} sim_context;

static int parse_bool_word(const char *key, const char *v, int *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
        *out = v[0] == 't';
        return 0;
    }
    return cli_fail(EXIT_USAGE, "--context %s: give true or false", key);
}

static int add_context(sim_context *c, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        return cli_fail(EXIT_USAGE, "--context '%.128s': give KEY=VALUE", arg);
    size_t klen = (size_t)(eq - arg);
    const char *v = eq + 1;
    char key[STORE_TAG_KEY_MAX + 32];
    if (klen >= sizeof key)
        return cli_fail(EXIT_USAGE, "--context: key too long");
    memcpy(key, arg, klen);
    key[klen] = '\0';
    if (strcmp(key, "acs:SourceIp") == 0) {
        c->rc.source_ip = v;
    } else if (strcmp(key, "acs:SecureTransport") == 0) {
        return parse_bool_word(key, v, &c->rc.secure_transport);
    } else if (strcmp(key, "acs:MFAPresent") == 0) {
        return parse_bool_word(key, v, &c->rc.mfa_present);
    } else if (strcmp(key, "acs:UserAgent") == 0) {
        c->rc.user_agent = v;
    } else if (strcmp(key, "acs:CurrentTime") == 0) {
        time_t t;
        if (iso8601_parse(v, &t) != 0)
            return cli_fail(EXIT_USAGE, "--context %s: give a time as 2026-01-02T03:04:05Z", key);
        c->rc.current_time = (long long)t;
    } else if (strncmp(key, "acs:ResourceTag/", 16) == 0 && key[16] != '\0') {
        if (c->rc.tag_count == STORE_TAGS_MAX)
            return cli_fail(EXIT_USAGE, "--context: more than %d resource tags", STORE_TAGS_MAX);
        if (!store_valid_tag(key + 16, v))
            return cli_fail(EXIT_USAGE, "--context %s: not a valid tag", key);
        size_t i = c->rc.tag_count++;
        memcpy(c->tag_key_text[i], key + 16, strlen(key + 16) + 1); /* store_valid_tag: it fits */
        c->tag_keys[i] = c->tag_key_text[i];
        c->tag_values[i] = v;
    } else {
        return cli_fail(EXIT_USAGE,
                        "--context: unknown key '%.128s' (known: acs:SourceIp, "
                        "acs:SecureTransport, acs:CurrentTime, acs:MFAPresent, acs:UserAgent, "
                        "acs:ResourceTag/KEY)",
                        key);
    }
    return 0;
}

/* Prints Statement[index] of a document, compactly. */
static void print_statement(const char *document, size_t index)
{
    json_t *root = json_loads(document, 0, NULL);
    json_t *st = json_array_get(json_object_get(root, "Statement"), index);
    char *text = st ? json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text)
        printf("  %s\n", text);
    free(text);
    json_decref(root);
}

/* The verdict, the statement that decided it, and the exit status. */
static int print_verdict(ram_verdict v, const char *policy_name, const char *document,
                         const char *owner, const char *action, const char *resource)
{
    switch (v.decision) {
    case RAM_ALLOW:
        printf("allow: policy %s (%s), Statement[%zu]\n", policy_name, owner, v.statement);
        print_statement(document, v.statement);
        break;
    case RAM_EXPLICIT_DENY:
        printf("deny (explicit): policy %s (%s), Statement[%zu]\n", policy_name, owner,
               v.statement);
        print_statement(document, v.statement);
        break;
    default:
        printf("deny (implicit): no statement of %s allows %s on %s\n", owner, action, resource);
        break;
    }
    if (fflush(stdout) != 0)
        return cli_fail(EXIT_FAILED, "cannot write to stdout");
    return v.decision == RAM_ALLOW ? 0 : EXIT_DENIED;
}

typedef struct sim_request {
    char account[STORE_ID_MAX];
    char user[STORE_ID_MAX];
    const char *role;            /* NULL unless --role */
    const char *session_policy;  /* the document, NULL unless --session-policy */
    const char *action;
    const char *resource;
    sim_context ctx;
} sim_request;

static int simulate(store *s, const sim_request *r)
{
    if (!r->role && r->user[0] == '\0') {
        printf("allow: the account's own AccessKeys may do anything in account %s\n", r->account);
        return fflush(stdout) == 0 ? 0 : cli_fail(EXIT_FAILED, "cannot write to stdout");
    }
    principal_kind kind = r->role ? PRINCIPAL_ROLE : PRINCIPAL_USER;
    const char *who = r->role ? r->role : r->user;
    if (r->role) {
        role_info role;
        int found = store_role_get(s, r->account, r->role, &role);
        if (found != STORE_OK) {
            char subject[2 * STORE_ID_MAX + 16];
            snprintf(subject, sizeof subject, "role %s/%s", r->account, r->role);
            return store_failed(found, subject, "the store refused the role name");
        }
    }
    policy_doc *docs = NULL;
    size_t count = 0;
    if (store_principal_policies(s, r->account, kind, who, &docs, &count) != STORE_OK)
        return EXIT_FAILED;
    const char **texts = calloc(count ? count : 1, sizeof *texts);
    if (!texts) {
        store_policies_free(docs, count);
        return cli_fail(EXIT_FAILED, "out of memory");
    }
    for (size_t i = 0; i < count; i++)
        texts[i] = docs[i].document;
    ram_verdict v = ram_policies_explain(texts, count, r->action, r->resource, &r->ctx.rc);
    char owner[3 * STORE_ID_MAX + 32];
    snprintf(owner, sizeof owner, "%s %s/%s", kind_word(kind), r->account, who);
    const char *name = count ? docs[v.policy].name : "", *document = count ? texts[v.policy] : "";
    if (r->session_policy) {
        const char *session[] = {r->session_policy};
        ram_verdict sv = ram_policies_explain(session, 1, r->action, r->resource, &r->ctx.rc);
        ram_verdict narrowed = ram_session_narrow(v, sv);
        if (narrowed.decision != v.decision) {
            /* The session policy decided. */
            snprintf(owner, sizeof owner, "the session policy of role %s/%s", r->account, who);
            name = "(session)";
            document = r->session_policy;
        }
        v = narrowed;
    }
    int rc = print_verdict(v, name, document, owner, r->action, r->resource);
    free(texts);
    store_policies_free(docs, count);
    return rc;
}

int cmd_policy_simulate(const command *cmd, const char *url, int argc, char **argv)
{
    const char *contexts[CONTEXT_MAX];
    option opts[] = {{.name = "role"},     {.name = "session-policy"}, {.name = "action"},
                     {.name = "resource"}, {.name = "context", .all = contexts, .max = CONTEXT_MAX}};
    const char *pos[1];
    sim_request r = {.action = DEFAULT_ACTION};
    int rc = parse_args(cmd, argc, argv, opts, 5, pos, 1, 1, NULL);
    if (rc || (rc = parse_owner(pos[0], 0, r.account, r.user)) != 0)
        return rc;
    r.role = opts[0].value;
    if (r.role && (r.user[0] != '\0' || !store_valid_owner(r.role)))
        return r.user[0] ? cli_fail(EXIT_USAGE, "give ACCOUNT_ID/USER or --role ROLE, not both")
                         : cli_fail(EXIT_FAILED, "invalid role name '%.128s': " ACCOUNT_RULE,
                                    r.role);
    if (opts[1].value && !r.role)
        return cli_fail(EXIT_USAGE, "--session-policy needs --role: sessions are of roles");
    if (!opts[3].value)
        return cli_fail(EXIT_USAGE, "give --resource ARN, e.g. "
                                    "acs:ecs:cn-hangzhou:ACCOUNT_ID:instance/i-...");
    if (opts[2].value)
        r.action = opts[2].value;
    r.resource = opts[3].value;
    if (opts[4].count > CONTEXT_MAX)
        return cli_fail(EXIT_USAGE, "more than %d --context options", CONTEXT_MAX);
    r.ctx.rc.current_time = (long long)time(NULL);
    r.ctx.rc.tag_keys = r.ctx.tag_keys;
    r.ctx.rc.tag_values = r.ctx.tag_values;
    for (size_t i = 0; i < opts[4].count; i++)
        if ((rc = add_context(&r.ctx, contexts[i])) != 0)
            return rc;

    buf session = BUF_INIT;
    if (opts[1].value) {
        if ((rc = load_policy_file(opts[1].value, &session)) != 0)
            return rc;
        if (session.len > STS_POLICY_MAX) {
            buf_free(&session);
            return cli_fail(EXIT_FAILED, "%s: a session policy has at most %d characters",
                            opts[1].value, STS_POLICY_MAX);
        }
        r.session_policy = buf_cstr(&session);
    }
    store *s = open_store(url);
    rc = s ? simulate(s, &r) : EXIT_FAILED;
    store_close(s);
    buf_free(&session);
    return rc;
}
