/* admin.h: what the operator commands share, inside the cli folder.
 *
 * A command is a noun and a verb ("policy create") with a function; the
 * table of them is in admin.c, the commands themselves in a file per noun
 * where they are more than a few (policy.c, role.c, sts.c). Every command
 * checks its arguments before it opens the store, prints its result on
 * stdout, and fails with one line "ecshot: ..." (cli_fail) and status
 * EXIT_FAILED, or EXIT_USAGE when it was given wrongly. */
#ifndef ECSHOT_CLI_ADMIN_H
#define ECSHOT_CLI_ADMIN_H

#include <stddef.h>

#include "store/store.h"
#include "util/buf.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2

#define ACCOUNT_RULE "1 to 127 printable ASCII characters without space, '/' or ':'"
#define ID_RULE "1 to 127 printable ASCII characters without space"

/* RAM allows policy documents of 6144 characters; the file may carry more
 * layout than that, but nothing near this. */
#define POLICY_FILE_MAX (64 * 1024)

typedef struct command command;

struct command {
    const char *noun;
    const char *verb;  /* NULL: the noun alone is the command */
    const char *args;  /* what follows noun and verb, for the usage line */
    /* argv holds only what follows noun and verb. */
    int (*run)(const command *cmd, const char *url, int argc, char **argv);
};

/* A named option: "--name VALUE" or "--name=VALUE", anywhere among the
 * positional arguments. A repeatable one keeps every value in all[]; count
 * goes on counting past max so that the caller can say "too many". */
typedef struct option {
    const char *name;     /* without the leading "--" */
    const char *value;    /* the last value given, or NULL */
    const char **all;     /* repeatable options only */
    size_t count, max;
} option;

/* "usage: ecshot --store URL NOUN VERB ARGS", status EXIT_USAGE. */
int usage_error(const command *cmd);
/* The line for a store result other than STORE_OK. On STORE_ERROR the store
 * has already said why. */
int store_failed(int rc, const char *subject, const char *when_invalid);
/* Sorts argv into positionals (between min_pos and max_pos of them) and
 * the options given. "--" ends the options. 0, or the exit status. */
int parse_args(const command *cmd, int argc, char **argv, option *opts, size_t nopts,
               const char **pos, size_t min_pos, size_t max_pos, size_t *npos);
/* Splits "ACCOUNT_ID[/USER]" (need_user requires the user); user is ""
 * when there is no "/USER". */
int parse_owner(const char *arg, int need_user, char account[STORE_ID_MAX],
                char user[STORE_ID_MAX]);
/* Splits "ACCOUNT_ID/NAME" where NAME is a what ("user", "role" or
 * "policy") and must be there. */
int parse_account_and(const char *arg, const char *what, char account[STORE_ID_MAX],
                      char name[STORE_ID_MAX]);
store *open_store(const char *url);
/* A command "NOUN list ACCOUNT_ID": checks the account id, opens the store
 * and runs list, which prints; the exit status. */
int run_account_listing(const command *cmd, const char *url, int argc, char **argv,
                        int (*list)(store *s, const char *account_id));
/* The master keyring (secret.h) from --master-key FILE, else from
 * ECSHOT_MASTER_KEY; NULL, having said why, when there is none or it cannot
 * be read. Only commands that seal or open secrets ask for it. */
struct secret_keyring *cli_master_keyring(void);
/* A store that seals and opens AccessKey secrets: the master keyring
 * first, then the store with it. NULL when either failed (it said why);
 * else the caller closes the store, then frees *ring. */
store *open_sealing_store(const char *url, struct secret_keyring **ring);
/* Reads a whole policy file into out: text, not too large, no NUL. */
int read_policy_file(const char *path, buf *out);
/* The file's base name without ".json": "policies/read-only.json" → "read-only". */
int policy_name_from_path(const char *path, char name[STORE_ID_MAX]);

/* policy.c */
int cmd_policy_attach(const command *cmd, const char *url, int argc, char **argv);
int cmd_policy_create(const command *cmd, const char *url, int argc, char **argv);
int cmd_policy_list(const command *cmd, const char *url, int argc, char **argv);
int cmd_policy_show(const command *cmd, const char *url, int argc, char **argv);
int cmd_policy_detach(const command *cmd, const char *url, int argc, char **argv);
int cmd_policy_delete(const command *cmd, const char *url, int argc, char **argv);
int cmd_policy_simulate(const command *cmd, const char *url, int argc, char **argv);
/* role.c */
int cmd_role_create(const command *cmd, const char *url, int argc, char **argv);
int cmd_role_list(const command *cmd, const char *url, int argc, char **argv);
int cmd_role_delete(const command *cmd, const char *url, int argc, char **argv);
/* sts.c */
int cmd_sts_assume_role(const command *cmd, const char *url, int argc, char **argv);

#endif
