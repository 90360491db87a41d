/* role.c: the operator's commands on RAM roles, which STS lends for a while.
 *
 *   role create ACCOUNT_ID/ROLE [--max-session-duration SECONDS]   (3600..43200, 3600)
 *   role list ACCOUNT_ID             one line per role: name max-session-duration
 *   role delete ACCOUNT_ID/ROLE      only once no policy is attached
 *
 * A role's rights are the policies attached to it (policy attach --role);
 * `ecshot sts assume-role` issues the credentials that use them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin.h"
#include "cli/cli.h"

static int parse_seconds(const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max)
        return cli_fail(EXIT_FAILED, "'%.32s' is not a number of seconds from %ld to %ld", text,
                        min, max);
    *out = v;
    return 0;
}

int cmd_role_create(const command *cmd, const char *url, int argc, char **argv)
{
    option opts[] = {{.name = "max-session-duration"}};
    const char *pos[1];
    role_info role = {.max_session_s = STORE_ROLE_SESSION_MIN};
    int rc = parse_args(cmd, argc, argv, opts, 1, pos, 1, 1, NULL);
    if (rc || (rc = parse_account_and(pos[0], "role", role.account_id, role.name)) != 0)
        return rc;
    if (opts[0].value && (rc = parse_seconds(opts[0].value, STORE_ROLE_SESSION_MIN,
                                             STORE_ROLE_SESSION_MAX, &role.max_session_s)) != 0)
        return rc;
    store *s = open_store(url);
    int result = s ? store_role_create(s, &role) : STORE_ERROR;
    store_close(s);
    if (result == STORE_OK)
        return 0;
    char subject[2 * STORE_ID_MAX + 16], invalid[STORE_ID_MAX + 32];
    snprintf(subject, sizeof subject, "role %s/%s", role.account_id, role.name);
    snprintf(invalid, sizeof invalid, "account %s does not exist", role.account_id);
    return store_failed(result, subject, invalid);
}

static int print_role(void *ctx, const role_info *r)
{
    (void)ctx;
    printf("%s %ld\n", r->name, r->max_session_s);
    return 0;
}

static int list_roles(store *s, const char *account_id)
{
    return store_role_list(s, account_id, print_role, NULL);
}

int cmd_role_list(const command *cmd, const char *url, int argc, char **argv)
{
    return run_account_listing(cmd, url, argc, argv, list_roles);
}

int cmd_role_delete(const command *cmd, const char *url, int argc, char **argv)
{
    const char *pos[1];
    char account[STORE_ID_MAX], name[STORE_ID_MAX];
    int rc = parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, NULL);
    if (rc || (rc = parse_account_and(pos[0], "role", account, name)) != 0)
        return rc;
    store *s = open_store(url);
    int result = s ? store_role_delete(s, account, name) : STORE_ERROR;
    store_close(s);
    char subject[2 * STORE_ID_MAX + 16];
    snprintf(subject, sizeof subject, "role %s/%s", account, name);
    if (result == STORE_CONFLICT)
        return cli_fail(EXIT_FAILED, "%s has policies attached: detach them first", subject);
    return result == STORE_OK ? 0 : store_failed(result, subject, "the store refused the role name");
}
