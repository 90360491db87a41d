/* cli.h: the operator commands of `ecshot` (admin.c, master_key.c). */
#ifndef ECSHOT_CLI_CLI_H
#define ECSHOT_CLI_CLI_H

/* Runs one operator command on the store at store_url: argv[0] is the noun
 * ("init", "account", "user", "key", "policy", "instance"), the rest its
 * verb and arguments. Returns the process exit status: 0 on success, 1 when
 * the command failed, 2 when it was given wrongly; on failure one line
 * "ecshot: ..." has gone to stderr. */
int admin_main(const char *store_url, int argc, char **argv);

/* --master-key FILE of the command line: the key file of the commands that
 * seal or open secrets (it wins over $ECSHOT_MASTER_KEY). */
void cli_set_master_key(const char *path);

/* `ecshot master-key create FILE` (argv[0] is "master-key"): a new key file,
 * its fingerprint on stdout. Needs no store. Exit status as admin_main's. */
int master_key_main(int argc, char **argv);

/* Writes "ecshot: MESSAGE" to stderr as one line, whatever the arguments
 * it quotes contain, and returns status: `return cli_fail(1, ...);`. */
int cli_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
