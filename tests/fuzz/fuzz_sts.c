/* fuzz_sts.c: opening an STS SecurityToken (sts/token.c, secret/secret.c).
 *
 * A token is client input: anything may arrive in the SecurityToken
 * parameter or the x-acs-security-token header. Two shapes of input reach
 * the two layers:
 *   first byte even: the rest is a token as a client sends it, which goes
 *                    through the sealed-text parser and AES-GCM opening;
 *   first byte odd:  the rest is a payload sealed here under the harness's
 *                    master key, so that what reads a token's contents
 *                    (JSON, field rules) is reached with any bytes.
 * Checked on every input: an opened token's fields keep the rules a token
 * ecshot issues keeps (an STS. key, a RAM session name, a policy that fits,
 * the key asked for, not expired); a failure leaves no secret behind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "secret/secret.h"
#include "sts/sts.h"

#define NOW 1780000000
#define KEY_ID "STS.fuzzfuzzfuzzfuzzfuzzfuzz"

static secret_keyring *ring;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/ecshot-fuzz-sts.XXXXXX", path[64];
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/master.key", dir);
    FUZZ_CHECK(secret_keyfile_create(path, NULL) == 0);
    ring = secret_keyring_load(path, NULL);
    FUZZ_CHECK(ring != NULL);
    unlink(path);
    rmdir(dir);
    return 0;
}

static void check_opened(int rc, const sts_credentials *c)
{
    FUZZ_CHECK(rc == STS_OK || rc == STS_MALFORMED || rc == STS_MISMATCH || rc == STS_EXPIRED);
    if (rc != STS_OK) {
        FUZZ_CHECK(c->secret[0] == '\0');
        return;
    }
    FUZZ_CHECK(strcmp(c->access_key_id, KEY_ID) == 0);
    FUZZ_CHECK(sts_is_temporary_key(c->access_key_id));
    FUZZ_CHECK(store_valid_secret(c->secret));
    FUZZ_CHECK(store_valid_owner(c->account_id));
    FUZZ_CHECK(store_valid_owner(c->role));
    FUZZ_CHECK(sts_valid_session_name(c->session));
    FUZZ_CHECK(strlen(c->policy) <= STS_POLICY_MAX);
    FUZZ_CHECK(c->expires > NOW);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    sts_credentials c;
    buf token = BUF_INIT;
    if (data[0] % 2 == 0) {
        /* As a client sends it: a C string (the server never passes a NUL). */
        buf_append(&token, data + 1, size - 1);
        if (token.failed || memchr(buf_cstr(&token), '\0', token.len))
            goto done;
    } else if (secret_seal(ring, "ecshot sts token v1", data + 1, size - 1, &token) != SECRET_OK) {
        goto done;
    }
    check_opened(sts_token_open(ring, buf_cstr(&token), KEY_ID, NOW, &c), &c);
    sts_credentials_clear(&c);
done:
    buf_free(&token);
    return 0;
}
