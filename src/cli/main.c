/* main.c: the `ecshot` command: operator commands on the store, and the client.
 *
 *   ecshot --store URL [--master-key FILE] account|user|key|policy|role|sts|instance ...
 *                                                             (admin.c)
 *   ecshot master-key create FILE                             (master_key.c)
 *   ecshot screenshot --endpoint URL --region R --instance I  (client.c)
 *
 * The store URL (sqlite:PATH or postgresql://...) may also come from
 * $ECSHOT_STORE, the master key file from $ECSHOT_MASTER_KEY; only the
 * commands that seal or open secrets (key create, key rotate-master, sts
 * assume-role) read the key file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: ecshot --store URL account create ACCOUNT_ID\n"
        "       ecshot --store URL user create ACCOUNT_ID USER\n"
        "       ecshot --store URL --master-key FILE key create ACCOUNT_ID[/USER]\n"
        "              [--id AK --secret SK]      prints \"AK SK\": the secret only this once\n"
        "       ecshot --store URL key disable|enable AK\n"
        "       ecshot --store URL --master-key FILE key rotate-master\n"
        "       ecshot master-key create FILE     a new key file; prints its fingerprint\n"
        "       ecshot --store URL policy create ACCOUNT_ID/NAME FILE.json\n"
        "       ecshot --store URL policy list ACCOUNT_ID | show ACCOUNT_ID/NAME\n"
        "       ecshot --store URL policy attach|detach ACCOUNT_ID/NAME --user USER | --role ROLE\n"
        "       ecshot --store URL policy attach ACCOUNT_ID/USER FILE.json [--name NAME]\n"
        "       ecshot --store URL policy delete ACCOUNT_ID/NAME\n"
        "       ecshot --store URL policy simulate ACCOUNT_ID[/USER] [--role ROLE\n"
        "              [--session-policy FILE.json]] --resource ARN [--action ACTION]\n"
        "              [--context KEY=VALUE]...\n"
        "       ecshot --store URL role create ACCOUNT_ID/ROLE [--max-session-duration S]\n"
        "       ecshot --store URL role list ACCOUNT_ID | delete ACCOUNT_ID/ROLE\n"
        "       ecshot --store URL --master-key FILE sts assume-role ACCOUNT_ID/ROLE\n"
        "              --session NAME [--duration S] [--policy FILE.json]\n"
        "       ecshot --store URL instance add INSTANCE_ID --region REGION --account ACCOUNT_ID\n"
        "              --type INSTANCE_TYPE --console CONSOLE_URL [--status Running]\n"
        "              [--tag KEY=VALUE]...\n"
        "       ecshot --store URL instance set-status INSTANCE_ID STATUS\n"
        "       ecshot --store URL instance remove INSTANCE_ID\n"
        "       ecshot --store URL instance list\n"
        "       ecshot --store URL instance import FILE.jsonl\n"
        "       ecshot --store URL instance import-libvirt LIBVIRT_URI\n"
        "       ecshot screenshot --endpoint http://HOST:PORT --region REGION\n"
        "              --instance INSTANCE_ID [--wakeup] [-o FILE.jpg] [--signature v3|v1]\n"
        "  $ECSHOT_STORE and $ECSHOT_MASTER_KEY may stand for --store and --master-key.\n"
        "  Keys for screenshot: ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET,\n"
        "  and ALIBABA_CLOUD_SECURITY_TOKEN for STS credentials.\n");
}

int main(int argc, char **argv)
{
    const char *store_url = getenv("ECSHOT_STORE");
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
            store_url = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--store=", 8) == 0) {
            store_url = argv[i] + 8;
            i++;
        } else if (strcmp(argv[i], "--master-key") == 0 && i + 1 < argc) {
            cli_set_master_key(argv[i + 1]);
            i += 2;
        } else if (strncmp(argv[i], "--master-key=", 13) == 0) {
            cli_set_master_key(argv[i] + 13);
            i++;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("ecshot %s\n", ECSHOT_VERSION);
            return 0;
        } else {
            fprintf(stderr, "ecshot: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[i], "screenshot") == 0)
        return client_screenshot_main(argc - i, argv + i);
    if (strcmp(argv[i], "master-key") == 0)
        return master_key_main(argc - i, argv + i);
    if (!store_url) {
        fprintf(stderr, "ecshot: no store: give --store URL or set ECSHOT_STORE\n");
        return 2;
    }
    return admin_main(store_url, argc - i, argv + i);
}
