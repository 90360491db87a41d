/* admin.c: the operator's commands on the store (DESIGN.md, "Operator interface").
 *
 *   init                                          create or migrate the store
 *   account create ACCOUNT_ID
 *   user create ACCOUNT_ID USER
 *   key create ACCOUNT_ID[/USER] [--id AK --secret SK]      prints "AK SK" (*)
 *   key disable AK  |  key enable AK
 *   key rotate-master     re-seals every secret under the key file's first key,
 *                         prints "re-sealed N secrets under master key FP" (*)
 *   policy create|list|show|attach|detach|delete|simulate ...    (policy.c)
 *   role create|list|delete ...                                  (role.c)
 *   sts assume-role ACCOUNT_ID/ROLE --session NAME ...           (sts.c)
 *   instance add INSTANCE_ID --region REGION --account ACCOUNT_ID --type TYPE
 *                --console CONSOLE_URL [--status STATUS] [--tag KEY=VALUE]...
 *   instance set-status INSTANCE_ID STATUS
 *   instance remove INSTANCE_ID
 *   instance list                     one line per instance: id region account type status console
 *   instance import FILE              bulk load (JSON lines), prints "imported N instances"
 *   instance import-libvirt URI       the domains of a libvirt host (import_libvirt.c)
 *
 * Outside scripts rely on these words. A command checks all its arguments
 * before it opens the store (so a mistyped one never creates a database),
 * does one thing and returns 0; otherwise it writes one line "ecshot: ..."
 * to stderr and returns 1, or 2 when the command itself was given wrongly.
 * When the store fails it has logged the reason itself, in one line.
 *
 * (*) These seal or open AccessKey secrets, so they load the master key
 * file (--master-key FILE or $ECSHOT_MASTER_KEY, after their arguments);
 * so does sts assume-role, for its token. No other command reads it.
 * Without --id and --secret, key create draws both and prints the secret
 * this once: the store keeps it sealed, and nothing shows it again.
 * `ecshot master-key create FILE` makes a key file (master_key.c). */
#include "cli/cli.h"
#include "cli/admin.h"
#include "cli/import_libvirt.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "console/console.h"
#include "ops/ops.h"
#include "ram/ram.h"
#include "secret/secret.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/random.h"

/* Alibaba's shape: "LTAI" and 20 more characters, a 30-character secret. */
#define KEY_ID_PREFIX "LTAI"
#define KEY_ID_RANDOM 20
#define KEY_SECRET_LEN 30
#define KEY_CREATE_ATTEMPTS 3 /* a generated id that exists already is drawn again */

/* ---- messages ---- */

int cli_fail(int status, const char *fmt, ...)
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
        return cli_fail(EXIT_FAILED, "invalid account id '%.128s': " ACCOUNT_RULE, pos[0]);
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
        return cli_fail(EXIT_FAILED, "invalid account id '%.128s': " ACCOUNT_RULE, pos[0]);
    if (!store_valid_owner(pos[1]))
        return cli_fail(EXIT_FAILED, "invalid user name '%.128s': " ACCOUNT_RULE, pos[1]);
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
        return cli_fail(EXIT_USAGE, "give both --id and --secret, or neither");
    char account[STORE_ID_MAX], user[STORE_ID_MAX];
    if ((rc = parse_owner(pos[0], 0, account, user)) != 0)
        return rc;
    if (given_id && !store_valid_id(given_id))
        return cli_fail(EXIT_FAILED, "invalid AccessKey id '%.128s': " ID_RULE, given_id);
    if (given_secret && !store_valid_secret(given_secret))
        return cli_fail(EXIT_FAILED, "invalid AccessKey secret: 1 to 127 printable ASCII "
                                 "characters without space");

    char id[STORE_ID_MAX], secret[STORE_SECRET_MAX];
    if (given_id) {
        strcpy(id, given_id);
        strcpy(secret, given_secret);
    }
    secret_keyring *ring;
    store *s = open_sealing_store(url, &ring);
    if (!s) {
        OPENSSL_cleanse(secret, sizeof secret);
        return EXIT_FAILED;
    }
    for (int attempt = 0; attempt < KEY_CREATE_ATTEMPTS; attempt++) {
        if (!given_id && generate_key(id, secret) != 0) {
            rc = cli_fail(EXIT_FAILED, "the random number generator failed");
            break;
        }
        rc = store_key_create(s, account, user, id, secret);
        if (rc != STORE_EXISTS || given_id)
            break;
    }
    store_close(s);
    secret_keyring_free(ring);
    if (rc == STORE_OK) {
        printf("%s %s\n", id, secret);
        if (fflush(stdout) != 0 || ferror(stdout))
            rc = cli_fail(EXIT_FAILED, "access key %s was created but could not be printed: "
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

static int cmd_key_rotate_master(const command *cmd, const char *url, int argc, char **argv)
{
    int rc = parse_args(cmd, argc, argv, NULL, 0, NULL, 0, 0, NULL);
    if (rc)
        return rc;
    secret_keyring *ring;
    store *s = open_sealing_store(url, &ring);
    if (!s)
        return EXIT_FAILED;
    size_t resealed = 0;
    rc = store_key_rotate_master(s, &resealed);
    store_close(s);
    if (rc == STORE_OK)
        printf("re-sealed %zu secret%s under master key %s\n", resealed, resealed == 1 ? "" : "s",
               secret_keyring_fingerprint(ring));
    secret_keyring_free(ring);
    /* On failure the store said which key did not open; nothing was changed. */
    return rc == STORE_OK ? 0 : store_failed(rc, "access keys", "the store refused the change");
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
    return cli_fail(EXIT_FAILED, "invalid status '%.64s': one of Pending, Starting, Running, "
                             "Stopping, Stopped", status);
}

/* "KEY=VALUE" into the instance's next tag. */
static int add_tag(instance *inst, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return cli_fail(EXIT_USAGE, "--tag wants KEY=VALUE, not '%.300s'", arg);
    instance_tag *t = &inst->tags[inst->tag_count];
    size_t klen = (size_t)(eq - arg);
    if (klen >= sizeof t->key || copy_field(t->value, sizeof t->value, eq + 1) != 0)
        return cli_fail(EXIT_FAILED, "tag '%.300s' is too long: keys up to %d bytes, values up "
                                 "to %d", arg, STORE_TAG_KEY_MAX - 1, STORE_TAG_VALUE_MAX - 1);
    memcpy(t->key, arg, klen);
    t->key[klen] = '\0';
    if (!store_valid_tag(t->key, t->value))
        return cli_fail(EXIT_FAILED, "tag '%.300s': keys and values are UTF-8 text without "
                                 "control characters", arg);
    for (size_t i = 0; i < inst->tag_count; i++)
        if (strcmp(inst->tags[i].key, t->key) == 0)
            return cli_fail(EXIT_FAILED, "tag key '%s' given twice", t->key);
    inst->tag_count++;
    return 0;
}

/* Checks an instance's fields (all given) and fills inst with them and no
 * tags. Returns 0, or -1 with the reason in why. */
static int instance_fields(instance *inst, const char *id, const char *region,
                           const char *account, const char *type, const char *console,
                           const char *status, char *why, size_t why_size)
{
    if (!store_valid_id(id) || !ops_valid_instance_id(id, strlen(id)))
        snprintf(why, why_size, "invalid instance id '%.128s'", id);
    else if (!store_valid_id(region) || !ops_valid_region_id(region, strlen(region)))
        snprintf(why, why_size, "invalid region id '%.128s'", region);
    else if (!store_valid_owner(account))
        snprintf(why, why_size, "invalid account id '%.128s': " ACCOUNT_RULE, account);
    else if (!store_valid_id(type))
        snprintf(why, why_size, "invalid instance type '%.128s': " ID_RULE, type);
    else if (strlen(console) >= STORE_URL_MAX || !console_url_valid(console))
        snprintf(why, why_size, "no console backend accepts '%.300s' (e.g. qmp:/path/to/qmp.sock)",
                 console);
    else if (!store_valid_status(status))
        snprintf(why, why_size, "invalid status '%.64s': one of Pending, Starting, Running, "
                                "Stopping, Stopped", status);
    else
        why[0] = '\0';
    if (why[0])
        return -1;
    memset(inst, 0, sizeof *inst);
    copy_field(inst->id, sizeof inst->id, id);
    copy_field(inst->region, sizeof inst->region, region);
    copy_field(inst->account_id, sizeof inst->account_id, account);
    copy_field(inst->type, sizeof inst->type, type);
    copy_field(inst->status, sizeof inst->status, status);
    copy_field(inst->console_url, sizeof inst->console_url, console);
    /* Every field but the URL's text was checked above. */
    if (!store_valid_instance(inst)) {
        snprintf(why, why_size, "console URL '%.300s' is not UTF-8 text without control "
                                "characters", console);
        return -1;
    }
    return 0;
}

/* Builds the instance from the parsed options, saying what is wrong. */
static int instance_from_args(instance *inst, const char *id, const option *opts,
                              const char **tags, size_t tag_count)
{
    const char *region = opts[0].value, *account = opts[1].value, *type = opts[2].value,
               *console = opts[3].value, *status = opts[4].value ? opts[4].value : "Running";
    if (!region || !account || !type || !console)
        return cli_fail(EXIT_USAGE, "instance add needs --region, --account, --type and --console");
    char why[512];
    if (instance_fields(inst, id, region, account, type, console, status, why, sizeof why) != 0)
        return cli_fail(EXIT_FAILED, "%s", why);
    if (tag_count > STORE_TAGS_MAX)
        return cli_fail(EXIT_FAILED, "at most %d tags", STORE_TAGS_MAX);
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
        return cli_fail(EXIT_FAILED, "out of memory");
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
        return cli_fail(EXIT_FAILED, "cannot write to stdout");
    return 0;
}

/* ---- bulk import ---- */

/* Instances per transaction: few enough that a batch is quick and small in
 * memory (an instance struct is about 9 KiB), many enough that commits are
 * rare. */
#define IMPORT_BATCH 10000
/* The longest line: 20 tags of the longest keys and values, every byte
 * written as \uXXXX, and then some. */
#define IMPORT_LINE_MAX (256 * 1024)

/* One line of FILE into line (without its newline). Returns 1 for a line,
 * 0 at the end of the file, -1 for a line too long or holding a NUL byte
 * (the rest of it is skipped), -2 for a read error. */
static int read_line(FILE *fp, buf *line)
{
    buf_reset(line);
    int c, bad = 0, any = 0;
    while ((c = getc_unlocked(fp)) != EOF && c != '\n') {
        any = 1;
        if (bad)
            continue;
        if (c == '\0' || line->len >= IMPORT_LINE_MAX)
            bad = 1;
        else if (buf_putc(line, (char)c) != 0)
            return -2;
    }
    if (ferror(fp))
        return -2;
    if (c == EOF && !any)
        return 0;
    return bad ? -1 : 1;
}

static int blank(const buf *line)
{
    for (size_t i = 0; i < line->len; i++)
        if (!strchr(" \t\r", line->data[i]))
            return 0;
    return 1;
}

/* The string member key of obj (NULL when absent); -1 when it is there but
 * not a string without NUL bytes. */
static int json_text(json_t *obj, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

/* The tags object into inst. Returns 0, or -1 with the reason in why. */
static int tags_from_json(instance *inst, json_t *tags, char *why, size_t why_size)
{
    if (!json_is_object(tags)) {
        snprintf(why, why_size, "\"tags\" must be an object of strings");
        return -1;
    }
    if (json_object_size(tags) > STORE_TAGS_MAX) {
        snprintf(why, why_size, "at most %d tags", STORE_TAGS_MAX);
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(tags, key, value) {
        const char *v = json_is_string(value) ? json_string_value(value) : NULL;
        instance_tag *t = &inst->tags[inst->tag_count];
        if (!v || strlen(v) != json_string_length(value)) {
            snprintf(why, why_size, "tag '%.128s': the value must be a string", key);
            return -1;
        }
        if (copy_field(t->key, sizeof t->key, key) != 0 ||
            copy_field(t->value, sizeof t->value, v) != 0 || !store_valid_tag(t->key, t->value)) {
            snprintf(why, why_size, "tag '%.128s': keys of 1 to %d bytes, values up to %d, "
                                    "UTF-8 text without control characters",
                     key, STORE_TAG_KEY_MAX - 1, STORE_TAG_VALUE_MAX - 1);
            return -1;
        }
        inst->tag_count++;
    }
    return 0;
}

/* One JSON line into inst: the keys id, region, account, type, console,
 * status (default Running) and tags, and no others. Returns 0, or -1 with
 * the reason in why. */
static int instance_from_json(instance *inst, const buf *line, char *why, size_t why_size)
{
    static const char *const known[] = {"id", "region", "account", "type", "console", "status",
                                        "tags"};
    json_error_t jerr;
    json_t *obj = json_loadb(line->data, line->len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = -1;
    if (!obj) {
        snprintf(why, why_size, "not JSON: %s", jerr.text);
        return -1;
    }
    const char *id, *region, *account, *type, *console, *status, *key;
    json_t *value;
    if (!json_is_object(obj)) {
        snprintf(why, why_size, "not a JSON object");
        goto done;
    }
    json_object_foreach(obj, key, value) {
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(key, known[k]) != 0)
            k++;
        if (k == sizeof known / sizeof known[0]) {
            snprintf(why, why_size, "unknown key \"%.64s\" (known: id, region, account, type, "
                                    "console, status, tags)", key);
            goto done;
        }
    }
    if (json_text(obj, "id", &id) || json_text(obj, "region", &region) ||
        json_text(obj, "account", &account) || json_text(obj, "type", &type) ||
        json_text(obj, "console", &console) || json_text(obj, "status", &status)) {
        snprintf(why, why_size, "id, region, account, type, console and status are strings");
        goto done;
    }
    if (!id || !region || !account || !type || !console) {
        snprintf(why, why_size, "id, region, account, type and console are required");
        goto done;
    }
    if (instance_fields(inst, id, region, account, type, console, status ? status : "Running",
                        why, why_size) != 0)
        goto done;
    json_t *tags = json_object_get(obj, "tags");
    if (tags && tags_from_json(inst, tags, why, why_size) != 0)
        goto done;
    rc = 0;
done:
    json_decref(obj);
    return rc;
}

/* A set of instance ids, each with the line it came from: open addressing,
 * so that a million ids cost two allocations per id at most. */
typedef struct id_set {
    char **ids;
    size_t *lines;
    size_t cap, count;
} id_set;

static size_t id_hash(const char *s)
{
    size_t h = 14695981039346656037ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int id_set_grow(id_set *set)
{
    size_t cap = set->cap ? set->cap * 2 : 1024;
    char **ids = calloc(cap, sizeof *ids);
    size_t *lines = calloc(cap, sizeof *lines);
    if (!ids || !lines) {
        free(ids);
        free(lines);
        return -1;
    }
    for (size_t i = 0; i < set->cap; i++) {
        if (!set->ids[i])
            continue;
        size_t j = id_hash(set->ids[i]) & (cap - 1);
        while (ids[j])
            j = (j + 1) & (cap - 1);
        ids[j] = set->ids[i];
        lines[j] = set->lines[i];
    }
    free(set->ids);
    free(set->lines);
    set->ids = ids;
    set->lines = lines;
    set->cap = cap;
    return 0;
}

/* Adds id from line; returns 0, the earlier line of the same id, or -1
 * when memory ran out. */
static long long id_set_add(id_set *set, const char *id, size_t line)
{
    if ((set->count + 1) * 2 > set->cap && id_set_grow(set) != 0)
        return -1;
    size_t j = id_hash(id) & (set->cap - 1);
    for (; set->ids[j]; j = (j + 1) & (set->cap - 1))
        if (strcmp(set->ids[j], id) == 0)
            return (long long)set->lines[j];
    if (!(set->ids[j] = strdup(id)))
        return -1;
    set->lines[j] = line;
    set->count++;
    return 0;
}

static void id_set_free(id_set *set)
{
    for (size_t i = 0; i < set->cap; i++)
        free(set->ids[i]);
    free(set->ids);
    free(set->lines);
}

/* Reads the file through, calling fn for each record (blank lines are
 * skipped). Stops at the first bad line, saying which. */
static int each_record(FILE *fp, const char *path, instance *scratch,
                       int (*fn)(void *ctx, instance *inst, size_t line), void *ctx)
{
    buf line = BUF_INIT;
    char why[600];
    int rc = 0;
    for (size_t n = 1; rc == 0; n++) {
        int got = read_line(fp, &line);
        if (got == 0)
            break;
        if (got == -2) {
            rc = cli_fail(EXIT_FAILED, "%s: %s", path, errno ? strerror(errno) : "read error");
        } else if (got == -1) {
            rc = cli_fail(EXIT_FAILED, "%s: line %zu: longer than %d bytes or holds a NUL byte; "
                                   "nothing imported", path, n, IMPORT_LINE_MAX);
        } else if (!blank(&line)) {
            if (instance_from_json(scratch, &line, why, sizeof why) != 0)
                rc = cli_fail(EXIT_FAILED, "%s: line %zu: %s; nothing imported", path, n, why);
            else
                rc = fn(ctx, scratch, n);
        }
    }
    buf_free(&line);
    return rc;
}

typedef struct import_check {
    const char *path;
    id_set ids;
    size_t records;
} import_check;

/* First pass: every record valid, no id twice. */
static int check_record(void *ctx, instance *inst, size_t line)
{
    import_check *ic = ctx;
    long long first = id_set_add(&ic->ids, inst->id, line);
    if (first < 0)
        return cli_fail(EXIT_FAILED, "out of memory");
    if (first > 0)
        return cli_fail(EXIT_FAILED, "%s: line %zu: instance %s is already on line %lld; nothing "
                                 "imported", ic->path, line, inst->id, first);
    ic->records++;
    return 0;
}

typedef struct import_run {
    const char *path;
    store *s;
    instance *batch;
    size_t count;          /* in batch */
    size_t first_line;     /* of the batch */
    size_t last_line;
    size_t imported;
} import_run;

static int flush_batch(import_run *ir)
{
    if (ir->count == 0)
        return 0;
    int result = store_instance_import(ir->s, ir->batch, ir->count);
    /* Earlier batches are in: say how far it got. On STORE_ERROR the store
     * has logged why. */
    if (result != STORE_OK)
        return cli_fail(EXIT_FAILED, "%s: lines %zu-%zu not imported%s; the %zu instances before "
                                 "them were (importing again is safe: it updates)",
                    ir->path, ir->first_line, ir->last_line,
                    result == STORE_INVALID ? " (they name an account that does not exist)" : "",
                    ir->imported);
    ir->imported += ir->count;
    ir->count = 0;
    return 0;
}

/* Second pass: batches into the store. */
static int import_record(void *ctx, instance *inst, size_t line)
{
    import_run *ir = ctx;
    if (ir->count == 0)
        ir->first_line = line;
    ir->batch[ir->count++] = *inst;
    ir->last_line = line;
    return ir->count == IMPORT_BATCH ? flush_batch(ir) : 0;
}

static int cmd_instance_import(const command *cmd, const char *url, int argc, char **argv)
{
    const char *pos[1];
    int rc = parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, NULL);
    if (rc)
        return rc;
    const char *path = pos[0];
    FILE *fp = fopen(path, "r");
    if (!fp)
        return cli_fail(EXIT_FAILED, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return cli_fail(EXIT_FAILED, "%s: not a regular file (it is read twice: checked, then "
                                 "imported)", path);
    }
    instance *scratch = malloc(sizeof *scratch);
    import_check ic = {.path = path};
    import_run ir = {.path = path};
    if (!scratch) {
        rc = cli_fail(EXIT_FAILED, "out of memory");
        goto done;
    }
    rc = each_record(fp, path, scratch, check_record, &ic);
    id_set_free(&ic.ids);
    if (rc)
        goto done;
    if (ic.records > 0) {
        ir.batch = malloc((ic.records < IMPORT_BATCH ? ic.records : IMPORT_BATCH) *
                          sizeof *ir.batch);
        if (!ir.batch) {
            rc = cli_fail(EXIT_FAILED, "out of memory");
            goto done;
        }
    }
    if (!(ir.s = open_store(url))) {
        rc = EXIT_FAILED;
        goto done;
    }
    if (ic.records > 0) {
        rewind(fp);
        rc = each_record(fp, path, scratch, import_record, &ir);
        if (rc == 0)
            rc = flush_batch(&ir);
        if (rc == 0 && ir.imported != ic.records)
            rc = cli_fail(EXIT_FAILED, "%s: the file changed while it was imported", path);
    }
    store_close(ir.s);
    if (rc == 0) {
        printf("imported %zu instances\n", ir.imported);
        if (fflush(stdout) != 0 || ferror(stdout))
            rc = cli_fail(EXIT_FAILED, "cannot write to stdout");
    }
done:
    free(ir.batch);
    free(scratch);
    fclose(fp);
    return rc;
}

/* ---- dispatch ---- */

/* The command lives in import_libvirt.c, which takes argv as it is. */
static int cmd_import_libvirt(const command *cmd, const char *url, int argc, char **argv)
{
    (void)cmd;
    return cmd_instance_import_libvirt(url, argc, argv);
}

static const command commands[] = {
    {"init", NULL, "", cmd_init},
    {"account", "create", "ACCOUNT_ID", cmd_account_create},
    {"user", "create", "ACCOUNT_ID USER", cmd_user_create},
    {"key", "create", "ACCOUNT_ID[/USER] [--id AK --secret SK]", cmd_key_create},
    {"key", "disable", "AK", cmd_key_disable},
    {"key", "enable", "AK", cmd_key_enable},
    {"key", "rotate-master", "", cmd_key_rotate_master},
    {"policy", "create", "ACCOUNT_ID/NAME FILE.json", cmd_policy_create},
    {"policy", "list", "ACCOUNT_ID", cmd_policy_list},
    {"policy", "show", "ACCOUNT_ID/NAME", cmd_policy_show},
    {"policy", "attach",
     "ACCOUNT_ID/NAME --user USER | --role ROLE  (or ACCOUNT_ID/USER FILE.json [--name NAME])",
     cmd_policy_attach},
    {"policy", "detach", "ACCOUNT_ID/NAME --user USER | --role ROLE", cmd_policy_detach},
    {"policy", "delete", "ACCOUNT_ID/NAME", cmd_policy_delete},
    {"policy", "simulate",
     "ACCOUNT_ID[/USER] [--role ROLE [--session-policy FILE.json]] --resource ARN "
     "[--action ACTION] [--context KEY=VALUE]...",
     cmd_policy_simulate},
    {"role", "create", "ACCOUNT_ID/ROLE [--max-session-duration SECONDS]", cmd_role_create},
    {"role", "list", "ACCOUNT_ID", cmd_role_list},
    {"role", "delete", "ACCOUNT_ID/ROLE", cmd_role_delete},
    {"sts", "assume-role",
     "ACCOUNT_ID/ROLE --session NAME [--duration SECONDS] [--policy FILE.json]",
     cmd_sts_assume_role},
    {"instance", "add",
     "INSTANCE_ID --region REGION --account ACCOUNT_ID --type INSTANCE_TYPE "
     "--console CONSOLE_URL [--status STATUS] [--tag KEY=VALUE]...",
     cmd_instance_add},
    {"instance", "set-status", "INSTANCE_ID STATUS", cmd_instance_set_status},
    {"instance", "remove", "INSTANCE_ID", cmd_instance_remove},
    {"instance", "list", "", cmd_instance_list},
    {"instance", "import", "FILE", cmd_instance_import},
    {"instance", "import-libvirt", "LIBVIRT_URI", cmd_import_libvirt},
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
    return cli_fail(EXIT_USAGE, "usage: ecshot --store URL %s %s ...", noun, verbs);
}

int admin_main(const char *store_url, int argc, char **argv)
{
    if (argc < 1)
        return cli_fail(EXIT_USAGE, "missing command");
    if (!store_url || !*store_url)
        return cli_fail(EXIT_USAGE, "no store: give --store URL");
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
        return cli_fail(EXIT_USAGE, "unknown command '%.64s'", noun);
    if (argc < 2)
        return verbs_of(noun);
    return cli_fail(EXIT_USAGE, "unknown command '%.64s %.64s'", noun, argv[1]);
}
