/* sts.c: `ecshot sts assume-role`: temporary credentials for a RAM role.
 *
 *   sts assume-role ACCOUNT_ID/ROLE --session NAME [--duration SECONDS]
 *                   [--policy FILE.json]
 *
 * Prints what Alibaba's AssumeRole returns, as JSON: Credentials
 * (AccessKeyId "STS.…", AccessKeySecret, SecurityToken, Expiration) and
 * AssumedRoleUser (Arn, AssumedRoleId). The duration runs from 900 seconds
 * to the role's MaxSessionDuration (3600 when not given); the session
 * policy narrows the role's rights and never widens them. The token is
 * sealed under the master key (sts.h), so this command needs it, and every
 * ecshotd that is to accept the token must hold the same key. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/admin.h"
#include "cli/cli.h"
#include "ram/ram.h"
#include "secret/secret.h"
#include "sts/sts.h"

static int parse_duration(const char *text, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < STS_DURATION_MIN || v > max)
        return cli_fail(EXIT_FAILED,
                        "--duration '%.32s': give seconds from %d to %ld (the role's maximum)",
                        text, STS_DURATION_MIN, max);
    *out = v;
    return 0;
}

/* The session policy: a valid document of at most STS_POLICY_MAX bytes. */
static int read_session_policy(const char *path, buf *doc)
{
    buf why = BUF_INIT;
    int rc = read_policy_file(path, doc);
    if (rc == 0 && doc->len > STS_POLICY_MAX)
        rc = cli_fail(EXIT_FAILED, "%s: a session policy has at most %d characters", path,
                      STS_POLICY_MAX);
    if (rc == 0 && ram_policy_validate(buf_cstr(doc), &why) != 0) {
        /* Only the first error: the file is not for storing, only for this. */
        const char *line = buf_cstr(&why), *end = strchr(line, '\n');
        rc = cli_fail(EXIT_FAILED, "%s: %.*s", path, end ? (int)(end - line) : (int)strlen(line),
                      line);
    }
    buf_free(&why);
    return rc;
}

static int print_credentials(const sts_credentials *c, const char *token)
{
    char expiration[32], arn[3 * STORE_ID_MAX + 32], assumed_id[2 * STORE_ID_MAX + 8];
    time_t expires = (time_t)c->expires;
    struct tm tm;
    strftime(expiration, sizeof expiration, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&expires, &tm));
    snprintf(arn, sizeof arn, "acs:ram::%s:assumed-role/%s/%s", c->account_id, c->role,
             c->session);
    snprintf(assumed_id, sizeof assumed_id, "%s:%s", c->role, c->session);
    json_t *o = json_pack("{s{ss ss ss ss} s{ss ss}}", "Credentials", "AccessKeyId",
                          c->access_key_id, "AccessKeySecret", c->secret, "SecurityToken", token,
                          "Expiration", expiration, "AssumedRoleUser", "Arn", arn,
                          "AssumedRoleId", assumed_id);
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    int rc = 0;
    if (!text || printf("%s\n", text) < 0 || fflush(stdout) != 0)
        rc = cli_fail(EXIT_FAILED, "the credentials could not be printed; they expire at %s",
                      expiration);
    if (text) {
        memset(text, 0, strlen(text)); /* it holds the secret */
        free(text);
    }
    json_decref(o);
    return rc;
}

int cmd_sts_assume_role(const command *cmd, const char *url, int argc, char **argv)
{
    option opts[] = {{.name = "session"}, {.name = "duration"}, {.name = "policy"}};
    const char *pos[1];
    char account[STORE_ID_MAX], name[STORE_ID_MAX];
    int rc = parse_args(cmd, argc, argv, opts, 3, pos, 1, 1, NULL);
    if (rc || (rc = parse_account_and(pos[0], "role", account, name)) != 0)
        return rc;
    const char *session = opts[0].value;
    if (!session)
        return cli_fail(EXIT_USAGE, "give --session NAME: it names who uses the credentials");
    if (!sts_valid_session_name(session))
        return cli_fail(EXIT_FAILED, "invalid session name '%.64s': 2 to %d characters of "
                                     "letters, digits and . @ _ -", session, STS_SESSION_NAME_MAX);
    buf policy = BUF_INIT;
    if (opts[2].value && (rc = read_session_policy(opts[2].value, &policy)) != 0) {
        buf_free(&policy);
        return rc;
    }
    secret_keyring *ring = cli_master_keyring();
    if (!ring) {
        buf_free(&policy);
        return EXIT_FAILED; /* it said why */
    }

    store *s = open_store(url);
    role_info role = {.max_session_s = STORE_ROLE_SESSION_MIN};
    int result = s ? store_role_get(s, account, name, &role) : STORE_ERROR;
    store_close(s);
    long duration = STS_DURATION_DEFAULT; /* never above a role's maximum (3600 at least) */
    if (result != STORE_OK) {
        char subject[2 * STORE_ID_MAX + 16];
        snprintf(subject, sizeof subject, "role %s/%s", account, name);
        rc = store_failed(result, subject, "the store refused the role name");
    } else if (opts[1].value) {
        rc = parse_duration(opts[1].value, role.max_session_s, &duration);
    }
    if (rc == 0) {
        sts_credentials creds;
        buf token = BUF_INIT;
        if (sts_issue(ring, &role, session, duration, policy.len ? buf_cstr(&policy) : NULL,
                      time(NULL), &creds, &token) != STS_OK)
            rc = cli_fail(EXIT_FAILED, "could not issue credentials");
        else
            rc = print_credentials(&creds, buf_cstr(&token));
        sts_credentials_clear(&creds);
        buf_free(&token);
    }
    secret_keyring_free(ring);
    buf_free(&policy);
    return rc;
}
