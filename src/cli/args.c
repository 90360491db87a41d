/* args.c: what every operator command shares: arguments, names, messages.
 *
 * Each command checks its arguments with these before it opens the store,
 * so a mistyped command never creates a database, and says what went wrong
 * in one line of the same form. */
#include "cli/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "secret/secret.h"

int usage_error(const command *cmd)
{
    return cli_fail(EXIT_USAGE, "usage: ecshot --store URL %s%s%s%s%s", cmd->noun,
                cmd->verb ? " " : "", cmd->verb ? cmd->verb : "", *cmd->args ? " " : "",
                cmd->args);
}

/* The line for a store result other than STORE_OK. On STORE_ERROR the store
 * has already said why. */
int store_failed(int rc, const char *subject, const char *when_invalid)
{
    switch (rc) {
    case STORE_NOT_FOUND:
        return cli_fail(EXIT_FAILED, "%s not found", subject);
    case STORE_EXISTS:
        return cli_fail(EXIT_FAILED, "%s already exists", subject);
    case STORE_INVALID:
        return cli_fail(EXIT_FAILED, "%s", when_invalid);
    default:
        return EXIT_FAILED;
    }
}



/* Sorts argv into positionals (between min_pos and max_pos of them) and
 * the options given. "--" ends the options. */
int parse_args(const command *cmd, int argc, char **argv, option *opts, size_t nopts,
                      const char **pos, size_t min_pos, size_t max_pos, size_t *npos)
{
    size_t n = 0;
    int options_end = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (options_end || strncmp(a, "--", 2) != 0) {
            if (n == max_pos)
                return usage_error(cmd);
            pos[n++] = a;
            continue;
        }
        if (a[2] == '\0') {
            options_end = 1;
            continue;
        }
        option *o = NULL;
        size_t len = 0;
        for (size_t k = 0; k < nopts && !o; k++) {
            len = strlen(opts[k].name);
            if (strncmp(a + 2, opts[k].name, len) == 0 && (a[2 + len] == '\0' || a[2 + len] == '='))
                o = &opts[k];
        }
        if (!o)
            return cli_fail(EXIT_USAGE, "unknown option %s for %s %s", a, cmd->noun,
                        cmd->verb ? cmd->verb : "");
        const char *value;
        if (a[2 + len] == '=') {
            value = a + 3 + len;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return cli_fail(EXIT_USAGE, "option --%s needs a value", o->name);
        }
        o->value = value;
        if (o->all && o->count < o->max)
            o->all[o->count] = value;
        o->count++;
    }
    if (n < min_pos)
        return usage_error(cmd);
    if (npos)
        *npos = n;
    return 0;
}

/* The account id that is the first len bytes of arg, checked. */
static int take_account(const char *arg, size_t len, char account[STORE_ID_MAX])
{
    if (len >= STORE_ID_MAX)
        return cli_fail(EXIT_FAILED, "account id is too long: " ACCOUNT_RULE);
    memcpy(account, arg, len);
    account[len] = '\0';
    if (!store_valid_owner(account))
        return cli_fail(EXIT_FAILED, "invalid account id '%s': " ACCOUNT_RULE, account);
    return 0;
}

/* Splits "ACCOUNT_ID[/USER]". user is "" when there is no "/USER". */
int parse_owner(const char *arg, int need_user, char account[STORE_ID_MAX],
                char user[STORE_ID_MAX])
{
    user[0] = '\0';
    if (strchr(arg, '/'))
        return parse_account_and(arg, "user", account, user);
    if (need_user)
        return cli_fail(EXIT_USAGE, "'%.128s' names no user: give ACCOUNT_ID/USER", arg);
    return take_account(arg, strlen(arg), account);
}

int parse_account_and(const char *arg, const char *what, char account[STORE_ID_MAX],
                      char name[STORE_ID_MAX])
{
    const char *slash = strchr(arg, '/');
    if (!slash)
        return cli_fail(EXIT_USAGE, "'%.128s' names no %s: give ACCOUNT_ID/NAME", arg, what);
    int rc = take_account(arg, (size_t)(slash - arg), account);
    if (rc)
        return rc;
    /* Users and roles appear in resource names and STS ARNs, so they keep
     * the account rule; a policy name is any id. */
    const char *rest = slash + 1;
    int policy = strcmp(what, "policy") == 0;
    if (strlen(rest) >= STORE_ID_MAX || !(policy ? store_valid_id(rest) : store_valid_owner(rest)))
        return cli_fail(EXIT_FAILED, "invalid %s name '%.128s': %s", what, rest,
                        policy ? ID_RULE : ACCOUNT_RULE);
    strcpy(name, rest);
    return 0;
}

int run_account_listing(const command *cmd, const char *url, int argc, char **argv,
                        int (*list)(store *s, const char *account_id))
{
    const char *pos[1];
    int rc = parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, NULL);
    if (rc)
        return rc;
    if (!store_valid_owner(pos[0]))
        return cli_fail(EXIT_FAILED, "invalid account id '%.128s': " ACCOUNT_RULE, pos[0]);
    store *s = open_store(url);
    int result = s ? list(s, pos[0]) : STORE_ERROR;
    store_close(s);
    if (result != STORE_OK)
        return store_failed(result, "account", "the store refused the account id");
    return fflush(stdout) == 0 ? 0 : cli_fail(EXIT_FAILED, "cannot write to stdout");
}

/* --master-key FILE, which main.c hands over before any command runs. */
static const char *master_key_path;

void cli_set_master_key(const char *path)
{
    master_key_path = path;
}

secret_keyring *cli_master_keyring(void)
{
    const char *path = master_key_path ? master_key_path : getenv("ECSHOT_MASTER_KEY");
    if (!path || !*path) {
        cli_fail(EXIT_FAILED, "no master key: give --master-key FILE or set ECSHOT_MASTER_KEY "
                              "(make one with 'ecshot master-key create FILE')");
        return NULL;
    }
    buf why = BUF_INIT;
    secret_keyring *ring = secret_keyring_load(path, &why);
    if (!ring)
        cli_fail(EXIT_FAILED, "%s", why.len ? buf_cstr(&why) : "cannot read the master key");
    buf_free(&why);
    return ring;
}

store *open_store(const char *url)
{
    return store_open(url); /* on failure the store logged why */
}

store *open_sealing_store(const char *url, secret_keyring **ring)
{
    *ring = cli_master_keyring();
    if (!*ring)
        return NULL;
    store *s = open_store(url);
    if (!s || store_set_keyring(s, *ring) != STORE_OK) {
        store_close(s);
        secret_keyring_free(*ring);
        *ring = NULL;
        return NULL;
    }
    return s;
}


/* Reads a whole policy file into out: text, not too large, no NUL. */
int read_policy_file(const char *path, buf *out)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cli_fail(EXIT_FAILED, "%s: %s", path, strerror(errno));
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (out->len + n > POLICY_FILE_MAX)
            rc = cli_fail(EXIT_FAILED, "%s: larger than %d bytes", path, POLICY_FILE_MAX);
        else if (buf_append(out, chunk, n) != 0)
            rc = cli_fail(EXIT_FAILED, "out of memory");
    }
    if (rc == 0 && ferror(fp))
        rc = cli_fail(EXIT_FAILED, "%s: %s", path, errno ? strerror(errno) : "read error");
    fclose(fp);
    if (rc == 0 && out->len == 0)
        rc = cli_fail(EXIT_FAILED, "%s: empty file", path);
    if (rc == 0 && memchr(out->data, '\0', out->len))
        rc = cli_fail(EXIT_FAILED, "%s: not a text file (it holds a NUL byte)", path);
    return rc;
}

/* The file's base name without ".json": "policies/read-only.json" → "read-only". */
int policy_name_from_path(const char *path, char name[STORE_ID_MAX])
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".json") == 0)
        len -= 5;
    if (len == 0 || len >= STORE_ID_MAX)
        return -1;
    memcpy(name, base, len);
    name[len] = '\0';
    return store_valid_id(name) ? 0 : -1;
}
