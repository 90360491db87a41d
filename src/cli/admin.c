/* admin.c: the operator's commands on the store (DESIGN.md, "Operator interface").
 *
 *   init                                          create or migrate the store
 *   account create ACCOUNT_ID
 *   user create ACCOUNT_ID USER
 *   key create ACCOUNT_ID[/USER] [--id AK --secret SK]      prints "AK SK"
 *   key disable AK  |  key enable AK
 *   policy attach ACCOUNT_ID/USER FILE.json [--name NAME]
 *   instance add INSTANCE_ID --region REGION --account ACCOUNT_ID --type TYPE
 *                --console CONSOLE_URL [--status STATUS] [--tag KEY=VALUE]...
 *   instance set-status INSTANCE_ID STATUS
 *   instance remove INSTANCE_ID
 *   instance list                     one line per instance: id region account type status console
 *
 * Outside scripts rely on these words. A command checks all its arguments
 * before it opens the store (so a mistyped one never creates a database),
 * does one thing and returns 0; otherwise it writes one line "ecshot: ..."
 * to stderr and returns 1, or 2 when the command itself was given wrongly.
 * When the store fails it has logged the reason itself, in one line. */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "console/console.h"
#include "ops/ops.h"
#include "ram/ram.h"
#include "store/store.h"
#include "util/buf.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2

/* RAM allows policy documents of 6144 characters; the file may carry more
 * layout than that, but nothing near this. */
#define POLICY_FILE_MAX (64 * 1024)

/* Alibaba's shape: "LTAI" and 20 more characters, a 30-character secret. */
#define KEY_ID_PREFIX "LTAI"
#define KEY_ID_RANDOM 20
#define KEY_SECRET_LEN 30
#define KEY_CREATE_ATTEMPTS 3 /* a generated id that exists already is drawn again */

#define ACCOUNT_RULE "1 to 127 printable ASCII characters without space, '/' or ':'"
#define ID_RULE "1 to 127 printable ASCII characters without space"

typedef struct command command;

struct command {
    const char *noun;
    const char *verb;  /* NULL: the noun alone is the command */
    const char *args;  /* what follows noun and verb, for the usage line */
    /* argv holds only what follows noun and verb. */
    int (*run)(const command *cmd, const char *url, int argc, char **argv);
};

/* ---- messages ---- */

/* Writes "ecshot: MESSAGE" as one line, whatever the arguments it quotes
 * contain, and returns status. */
__attribute__((format(printf, 2, 3))) static int fail(int status, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "ecshot: %s\n", line);
    return status;
}

static int usage_error(const command *cmd)
{
    return fail(EXIT_USAGE, "usage: ecshot --store URL %s%s%s%s%s", cmd->noun,
                cmd->verb ? " " : "", cmd->verb ? cmd->verb : "", *cmd->args ? " " : "",
                cmd->args);
}

/* The line for a store result other than STORE_OK. On STORE_ERROR the store
 * has already said why. */
static int store_failed(int rc, const char *subject, const char *when_invalid)
{
    switch (rc) {
    case STORE_NOT_FOUND:
        return fail(EXIT_FAILED, "%s not found", subject);
    case STORE_EXISTS:
        return fail(EXIT_FAILED, "%s already exists", subject);
    case STORE_INVALID:
        return fail(EXIT_FAILED, "%s", when_invalid);
    default:
        return EXIT_FAILED;
    }
}

/* ---- arguments ---- */

/* A named option: "--name VALUE" or "--name=VALUE", anywhere among the
 * positional arguments. A repeatable one keeps every value in all[]; count
 * goes on counting past max so that the caller can say "too many". */
typedef struct option {
    const char *name;     /* without the leading "--" */
    const char *value;    /* the last value given, or NULL */
    const char **all;     /* repeatable options only */
    size_t count, max;
} option;

/* Sorts argv into positionals (between min_pos and max_pos of them) and
 * the options given. "--" ends the options. */
static int parse_args(const command *cmd, int argc, char **argv, option *opts, size_t nopts,
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
            return fail(EXIT_USAGE, "unknown option %s for %s %s", a, cmd->noun,
                        cmd->verb ? cmd->verb : "");
        const char *value;
        if (a[2 + len] == '=') {
            value = a + 3 + len;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return fail(EXIT_USAGE, "option --%s needs a value", o->name);
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

/* Splits "ACCOUNT_ID[/USER]". user is "" when there is no "/USER". */
static int parse_owner(const char *arg, int need_user, char account[STORE_ID_MAX],
                       char user[STORE_ID_MAX])
{
    const char *slash = strchr(arg, '/');
    size_t alen = slash ? (size_t)(slash - arg) : strlen(arg);
    user[0] = '\0';
    if (alen >= STORE_ID_MAX)
        return fail(EXIT_FAILED, "account id is too long: " ACCOUNT_RULE);
    memcpy(account, arg, alen);
    account[alen] = '\0';
    if (!store_valid_owner(account))
        return fail(EXIT_FAILED, "invalid account id '%s': " ACCOUNT_RULE, account);
    if (!slash) {
        if (need_user)
            return fail(EXIT_USAGE, "'%s' names no user: give ACCOUNT_ID/USER", arg);
        return 0;
    }
    if (strlen(slash + 1) >= STORE_ID_MAX || !store_valid_owner(slash + 1))
        return fail(EXIT_FAILED, "invalid user name '%s': " ACCOUNT_RULE, slash + 1);
    strcpy(user, slash + 1);
    return 0;
}

static store *open_store(const char *url)
{
    return store_open(url); /* on failure the store logged why */
}

/* ---- init, account, user ---- */

static int cmd_init(const command *cmd, const char *url, int argc, char **argv)
{
    int rc = parse_args(cmd, argc, argv, NULL, 0, NULL, 0, 0, NULL);
    if (rc)
        return rc;
    store *s = open_store(url);
    if (!s)
        return EXIT_FAILED;
    store_close(s);
    return 0;
}

static int cmd_account_create(const command *cmd, const char *url, int argc, char **argv)
{
    const char *pos[1];
    int rc = parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, NULL);
    if (rc)
        return rc;
    if (!store_valid_owner(pos[0]))
        return fail(EXIT_FAILED, "invalid account id '%.128s': " ACCOUNT_RULE, pos[0]);
    store *s = open_store(url);
    if (!s)
        return EXIT_FAILED;
    rc = store_account_create(s, pos[0]);
    store_close(s);
    if (rc == STORE_OK)
        return 0;
    char subject[STORE_ID_MAX + 16];
    snprintf(subject, sizeof subject, "account %s", pos[0]);
    return store_failed(rc, subject, "the store refused the account id");
}

static int cmd_user_create(const command *cmd, const char *url, int argc, char **argv)
{
    const char *pos[2];
    int rc = parse_args(cmd, argc, argv, NULL, 0, pos, 2, 2, NULL);
    if (rc)
        return rc;
    if (!store_valid_owner(pos[0]))
        return fail(EXIT_FAILED, "invalid account id '%.128s': " ACCOUNT_RULE, pos[0]);
    if (!store_valid_owner(pos[1]))
        return fail(EXIT_FAILED, "invalid user name '%.128s': " ACCOUNT_RULE, pos[1]);
    store *s = open_store(url);
    if (!s)
        return EXIT_FAILED;
    rc = store_user_create(s, pos[0], pos[1]);
    store_close(s);
    if (rc == STORE_OK)
        return 0;
    char subject[2 * STORE_ID_MAX + 16], invalid[STORE_ID_MAX + 32];
    snprintf(subject, sizeof subject, "user %s/%s", pos[0], pos[1]);
    snprintf(invalid, sizeof invalid, "account %s does not exist", pos[0]);
    return store_failed(rc, subject, invalid);
}

/* ---- keys ---- */

/* n characters from [A-Za-z0-9], each equally likely: bytes of 248 and
 * above (62 * 4) are thrown away so that "% 62" favours none. */
static int random_alnum(char *out, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char pool[64];
    size_t filled = 0;
    while (filled < n) {
        if (RAND_bytes(pool, sizeof pool) != 1)
            return -1;
        for (size_t i = 0; i < sizeof pool && filled < n; i++)
            if (pool[i] < 248)
                out[filled++] = alphabet[pool[i] % 62];
    }
    out[n] = '\0';
    OPENSSL_cleanse(pool, sizeof pool);
    return 0;
}

static int generate_key(char id[STORE_ID_MAX], char secret[STORE_SECRET_MAX])
{
    strcpy(id, KEY_ID_PREFIX);
    return random_alnum(id + strlen(KEY_ID_PREFIX), KEY_ID_RANDOM) == 0 &&
                   random_alnum(secret, KEY_SECRET_LEN) == 0
               ? 0
               : -1;
}

static int cmd_key_create(const command *cmd, const char *url, int argc, char **argv)
{
    option opts[] = {{.name = "id"}, {.name = "secret"}};
    const char *pos[1];
    int rc = parse_args(cmd, argc, argv, opts, 2, pos, 1, 1, NULL);
    if (rc)
        return rc;
    const char *given_id = opts[0].value, *given_secret = opts[1].value;
    if (!given_id != !given_secret)
        return fail(EXIT_USAGE, "give both --id and --secret, or neither");
    char account[STORE_ID_MAX], user[STORE_ID_MAX];
    if ((rc = parse_owner(pos[0], 0, account, user)) != 0)
        return rc;
    if (given_id && !store_valid_id(given_id))
        return fail(EXIT_FAILED, "invalid AccessKey id '%.128s': " ID_RULE, given_id);
    if (given_secret && !store_valid_secret(given_secret))
        return fail(EXIT_FAILED, "invalid AccessKey secret: 1 to 127 printable ASCII "
                                 "characters without space");

    char id[STORE_ID_MAX], secret[STORE_SECRET_MAX];
    if (given_id) {
        strcpy(id, given_id);
        strcpy(secret, given_secret);
    }
    store *s = open_store(url);
    if (!s)
        return EXIT_FAILED;
    for (int attempt = 0; attempt < KEY_CREATE_ATTEMPTS; attempt++) {
        if (!given_id && generate_key(id, secret) != 0) {
            rc = fail(EXIT_FAILED, "the random number generator failed");
            break;
        }
        rc = store_key_create(s, account, user, id, secret);
        if (rc != STORE_EXISTS || given_id)
            break;
    }
    store_close(s);
    if (rc == STORE_OK) {
        printf("%s %s\n", id, secret);
        if (fflush(stdout) != 0 || ferror(stdout))
            rc = fail(EXIT_FAILED, "access key %s was created but could not be printed: "
                                   "disable it with 'ecshot key disable %s'", id, id);
    } else if (rc != EXIT_FAILED) {
        char subject[STORE_ID_MAX + 16], invalid[2 * STORE_ID_MAX + 32];
        snprintf(subject, sizeof subject, "access key %s", id);
        if (*user)
            snprintf(invalid, sizeof invalid, "user %s/%s does not exist", account, user);
        else
            snprintf(invalid, sizeof invalid, "account %s does not exist", account);
        rc = store_failed(rc, subject, invalid);
    }
    OPENSSL_cleanse(secret, sizeof secret);
    return rc;
}

static int set_key_active(const command *cmd, const char *url, int argc, char **argv, int active)
{
    const char *pos[1];
    int rc = parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, NULL);
    if (rc)
        return rc;
    store *s = open_store(url);
    if (!s)
        return EXIT_FAILED;
    rc = store_key_set_active(s, pos[0], active);
    store_close(s);
    if (rc == STORE_OK)
        return 0;
    char subject[STORE_ID_MAX + 16];
    snprintf(subject, sizeof subject, "access key %.128s", pos[0]);
    return store_failed(rc, subject, "the store refused the AccessKey id");
}

static int cmd_key_disable(const command *cmd, const char *url, int argc, char **argv)
{
    return set_key_active(cmd, url, argc, argv, 0);
}

static int cmd_key_enable(const command *cmd, const char *url, int argc, char **argv)
{
    return set_key_active(cmd, url, argc, argv, 1);
}

/* ---- policies ---- */

/* Reads a whole policy file into out: text, not too large, no NUL. */
static int read_policy_file(const char *path, buf *out)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return fail(EXIT_FAILED, "%s: %s", path, strerror(errno));
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (out->len + n > POLICY_FILE_MAX)
            rc = fail(EXIT_FAILED, "%s: larger than %d bytes", path, POLICY_FILE_MAX);
        else if (buf_append(out, chunk, n) != 0)
            rc = fail(EXIT_FAILED, "out of memory");
    }
    if (rc == 0 && ferror(fp))
        rc = fail(EXIT_FAILED, "%s: %s", path, errno ? strerror(errno) : "read error");
    fclose(fp);
    if (rc == 0 && out->len == 0)
        rc = fail(EXIT_FAILED, "%s: empty file", path);
    if (rc == 0 && memchr(out->data, '\0', out->len))
        rc = fail(EXIT_FAILED, "%s: not a text file (it holds a NUL byte)", path);
    return rc;
}

/* The file's base name without ".json": "policies/read-only.json" → "read-only". */
static int policy_name_from_path(const char *path, char name[STORE_ID_MAX])
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

static int cmd_policy_attach(const command *cmd, const char *url, int argc, char **argv)
{
    option opts[] = {{.name = "name"}};
    const char *pos[2];
    int rc = parse_args(cmd, argc, argv, opts, 1, pos, 2, 2, NULL);
    if (rc)
        return rc;
    char account[STORE_ID_MAX], user[STORE_ID_MAX], name[STORE_ID_MAX];
    if ((rc = parse_owner(pos[0], 1, account, user)) != 0)
        return rc;
    const char *path = pos[1];
    if (opts[0].value) {
        if (!store_valid_id(opts[0].value))
            return fail(EXIT_FAILED, "invalid policy name '%.128s': " ID_RULE, opts[0].value);
        strcpy(name, opts[0].value);
    } else if (policy_name_from_path(path, name) != 0) {
        return fail(EXIT_FAILED, "%s: the file name makes no policy name (" ID_RULE
                                 "): give --name NAME", path);
    }

    buf doc = BUF_INIT, why = BUF_INIT;
    rc = read_policy_file(path, &doc);
    if (rc == 0 && ram_policy_validate(buf_cstr(&doc), &why) != 0)
        rc = fail(EXIT_FAILED, "%s: not a policy ecshot accepts: %s", path,
                  why.len ? buf_cstr(&why) : "invalid document");
    if (rc == 0) {
        store *s = open_store(url);
        if (!s) {
            rc = EXIT_FAILED;
        } else {
            int result = store_policy_attach(s, account, user, name, buf_cstr(&doc));
            store_close(s);
            if (result != STORE_OK) {
                char subject[3 * STORE_ID_MAX + 16], invalid[2 * STORE_ID_MAX + 32];
                snprintf(subject, sizeof subject, "policy %s of %s/%s", name, account, user);
                snprintf(invalid, sizeof invalid, "user %s/%s does not exist", account, user);
                rc = store_failed(result, subject, invalid);
            }
        }
    }
    buf_free(&doc);
    buf_free(&why);
    return rc;
}

/* ---- instances ---- */

/* Copies a string into a field of cap bytes; -1 when it does not fit. */
static int copy_field(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static int check_status(const char *status)
{
    if (store_valid_status(status))
        return 0;
    return fail(EXIT_FAILED, "invalid status '%.64s': one of Pending, Starting, Running, "
                             "Stopping, Stopped", status);
}

/* "KEY=VALUE" into the instance's next tag. */
static int add_tag(instance *inst, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return fail(EXIT_USAGE, "--tag wants KEY=VALUE, not '%.300s'", arg);
    instance_tag *t = &inst->tags[inst->tag_count];
    size_t klen = (size_t)(eq - arg);
    if (klen >= sizeof t->key || copy_field(t->value, sizeof t->value, eq + 1) != 0)
        return fail(EXIT_FAILED, "tag '%.300s' is too long: keys up to %d bytes, values up "
                                 "to %d", arg, STORE_TAG_KEY_MAX - 1, STORE_TAG_VALUE_MAX - 1);
    memcpy(t->key, arg, klen);
    t->key[klen] = '\0';
    if (!store_valid_tag(t->key, t->value))
        return fail(EXIT_FAILED, "tag '%.300s': keys and values are UTF-8 text without "
                                 "control characters", arg);
    for (size_t i = 0; i < inst->tag_count; i++)
        if (strcmp(inst->tags[i].key, t->key) == 0)
            return fail(EXIT_FAILED, "tag key '%s' given twice", t->key);
    inst->tag_count++;
    return 0;
}

/* Builds the instance from the parsed options, saying what is wrong. */
static int instance_from_args(instance *inst, const char *id, const option *opts,
                              const char **tags, size_t tag_count)
{
    const char *region = opts[0].value, *account = opts[1].value, *type = opts[2].value,
               *console = opts[3].value, *status = opts[4].value ? opts[4].value : "Running";
    if (!region || !account || !type || !console)
        return fail(EXIT_USAGE, "instance add needs --region, --account, --type and --console");
    if (!store_valid_id(id) || !ops_valid_instance_id(id, strlen(id)))
        return fail(EXIT_FAILED, "invalid instance id '%.128s'", id);
    if (!store_valid_id(region) || !ops_valid_region_id(region, strlen(region)))
        return fail(EXIT_FAILED, "invalid region id '%.128s'", region);
    if (!store_valid_owner(account))
        return fail(EXIT_FAILED, "invalid account id '%.128s': " ACCOUNT_RULE, account);
    if (!store_valid_id(type))
        return fail(EXIT_FAILED, "invalid instance type '%.128s': " ID_RULE, type);
    if (strlen(console) >= STORE_URL_MAX || !console_url_valid(console))
        return fail(EXIT_FAILED, "no console backend accepts '%.300s' (e.g. qmp:/path/to/qmp.sock)",
                    console);
    if (check_status(status) != 0)
        return EXIT_FAILED;
    if (tag_count > STORE_TAGS_MAX)
        return fail(EXIT_FAILED, "at most %d tags", STORE_TAGS_MAX);

    memset(inst, 0, sizeof *inst);
    copy_field(inst->id, sizeof inst->id, id);
    copy_field(inst->region, sizeof inst->region, region);
    copy_field(inst->account_id, sizeof inst->account_id, account);
    copy_field(inst->type, sizeof inst->type, type);
    copy_field(inst->status, sizeof inst->status, status);
    copy_field(inst->console_url, sizeof inst->console_url, console);
    /* Every field but the URL's text was checked above. */
    if (!store_valid_instance(inst))
        return fail(EXIT_FAILED, "console URL '%.300s' is not UTF-8 text without control "
                                 "characters", console);
    for (size_t i = 0; i < tag_count; i++) {
        int rc = add_tag(inst, tags[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int cmd_instance_add(const command *cmd, const char *url, int argc, char **argv)
{
    const char *tags[STORE_TAGS_MAX];
    option opts[] = {{.name = "region"}, {.name = "account"}, {.name = "type"},
                     {.name = "console"}, {.name = "status"},
                     {.name = "tag", .all = tags, .max = STORE_TAGS_MAX}};
    const char *pos[1];
    int rc = parse_args(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], pos, 1, 1, NULL);
    if (rc)
        return rc;
    instance *inst = malloc(sizeof *inst);
    if (!inst)
        return fail(EXIT_FAILED, "out of memory");
    rc = instance_from_args(inst, pos[0], opts, tags, opts[5].count);
    if (rc == 0) {
        store *s = open_store(url);
        if (!s) {
            rc = EXIT_FAILED;
        } else {
            int result = store_instance_add(s, inst);
            store_close(s);
            if (result != STORE_OK) {
                char subject[STORE_ID_MAX + 16], invalid[STORE_ID_MAX + 32];
                snprintf(subject, sizeof subject, "instance %s", inst->id);
                snprintf(invalid, sizeof invalid, "account %s does not exist", inst->account_id);
                rc = store_failed(result, subject, invalid);
            }
        }
    }
    free(inst);
    return rc;
}

static int cmd_instance_set_status(const command *cmd, const char *url, int argc, char **argv)
{
    const char *pos[2];
    int rc = parse_args(cmd, argc, argv, NULL, 0, pos, 2, 2, NULL);
    if (rc)
        return rc;
    if (check_status(pos[1]) != 0)
        return EXIT_FAILED;
    store *s = open_store(url);
    if (!s)
        return EXIT_FAILED;
    rc = store_instance_set_status(s, pos[0], pos[1]);
    store_close(s);
    if (rc == STORE_OK)
        return 0;
    char subject[STORE_ID_MAX + 16];
    snprintf(subject, sizeof subject, "instance %.128s", pos[0]);
    return store_failed(rc, subject, "the store refused the status");
}

static int cmd_instance_remove(const command *cmd, const char *url, int argc, char **argv)
{
    const char *pos[1];
    int rc = parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, NULL);
    if (rc)
        return rc;
    store *s = open_store(url);
    if (!s)
        return EXIT_FAILED;
    rc = store_instance_remove(s, pos[0]);
    store_close(s);
    if (rc == STORE_OK)
        return 0;
    char subject[STORE_ID_MAX + 16];
    snprintf(subject, sizeof subject, "instance %.128s", pos[0]);
    return store_failed(rc, subject, "the store refused the instance id");
}

static int print_instance(void *ctx, const instance *inst)
{
    (void)ctx;
    printf("%s %s %s %s %s %s\n", inst->id, inst->region, inst->account_id, inst->type,
           inst->status, inst->console_url);
    return ferror(stdout) ? 1 : 0; /* a closed pipe: stop */
}

static int cmd_instance_list(const command *cmd, const char *url, int argc, char **argv)
{
    int rc = parse_args(cmd, argc, argv, NULL, 0, NULL, 0, 0, NULL);
    if (rc)
        return rc;
    store *s = open_store(url);
    if (!s)
        return EXIT_FAILED;
    rc = store_instance_list(s, print_instance, NULL);
    store_close(s);
    if (rc != STORE_OK)
        return store_failed(rc, "instance list", "the store refused the listing");
    if (fflush(stdout) != 0 || ferror(stdout))
        return fail(EXIT_FAILED, "cannot write to stdout");
    return 0;
}

/* ---- dispatch ---- */

static const command commands[] = {
    {"init", NULL, "", cmd_init},
    {"account", "create", "ACCOUNT_ID", cmd_account_create},
    {"user", "create", "ACCOUNT_ID USER", cmd_user_create},
    {"key", "create", "ACCOUNT_ID[/USER] [--id AK --secret SK]", cmd_key_create},
    {"key", "disable", "AK", cmd_key_disable},
    {"key", "enable", "AK", cmd_key_enable},
    {"policy", "attach", "ACCOUNT_ID/USER FILE.json [--name NAME]", cmd_policy_attach},
    {"instance", "add",
     "INSTANCE_ID --region REGION --account ACCOUNT_ID --type INSTANCE_TYPE "
     "--console CONSOLE_URL [--status STATUS] [--tag KEY=VALUE]...",
     cmd_instance_add},
    {"instance", "set-status", "INSTANCE_ID STATUS", cmd_instance_set_status},
    {"instance", "remove", "INSTANCE_ID", cmd_instance_remove},
    {"instance", "list", "", cmd_instance_list},
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

/* "account create|..." for a noun given without a known verb. */
static int verbs_of(const char *noun)
{
    char verbs[128] = "";
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        if (strcmp(commands[i].noun, noun) != 0)
            continue;
        if (*verbs)
            strncat(verbs, "|", sizeof verbs - strlen(verbs) - 1);
        strncat(verbs, commands[i].verb, sizeof verbs - strlen(verbs) - 1);
    }
    return fail(EXIT_USAGE, "usage: ecshot --store URL %s %s ...", noun, verbs);
}

int admin_main(const char *store_url, int argc, char **argv)
{
    if (argc < 1)
        return fail(EXIT_USAGE, "missing command");
    if (!store_url || !*store_url)
        return fail(EXIT_USAGE, "no store: give --store URL");
    const char *noun = argv[0];
    int known_noun = 0;
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const command *cmd = &commands[i];
        if (strcmp(cmd->noun, noun) != 0)
            continue;
        known_noun = 1;
        if (!cmd->verb)
            return cmd->run(cmd, store_url, argc - 1, argv + 1);
        if (argc >= 2 && strcmp(cmd->verb, argv[1]) == 0)
            return cmd->run(cmd, store_url, argc - 2, argv + 2);
    }
    if (!known_noun)
        return fail(EXIT_USAGE, "unknown command '%.64s'", noun);
    if (argc < 2)
        return verbs_of(noun);
    return fail(EXIT_USAGE, "unknown command '%.64s %.64s'", noun, argv[1]);
}
