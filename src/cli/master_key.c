/* master_key.c: `ecshot master-key create FILE`, the operator's key file.
 *
 * The file holds the master key that seals AccessKey secrets (and STS
 * tokens) in the store (secret.h): made with O_EXCL at mode 0600, never
 * replacing a file, one fresh key from RAND_bytes. The command prints the
 * key's fingerprint, which names it in logs and sealed text without showing
 * it. It touches no store, so it takes no --store. */
#include "cli/cli.h"
#include "cli/admin.h"

#include <stdio.h>
#include <string.h>

#include "secret/secret.h"
#include "util/buf.h"

int master_key_main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "create") != 0 || strncmp(argv[2], "--", 2) == 0)
        return cli_fail(EXIT_USAGE, "usage: ecshot master-key create FILE");
    const char *path = argv[2];
    buf why = BUF_INIT;
    secret_keyring *ring = NULL;
    int rc = 0;
    if (secret_keyfile_create(path, &why) != 0 || !(ring = secret_keyring_load(path, &why))) {
        rc = cli_fail(EXIT_FAILED, "%s", buf_cstr(&why));
    } else {
        printf("%s\n", secret_keyring_fingerprint(ring));
        if (fflush(stdout) != 0 || ferror(stdout))
            rc = cli_fail(EXIT_FAILED, "master key file %s was created but its fingerprint "
                                       "could not be printed", path);
    }
    secret_keyring_free(ring);
    buf_free(&why);
    return rc;
}
