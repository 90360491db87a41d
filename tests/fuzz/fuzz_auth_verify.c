/* fuzz_auth_verify.c: the authentication stage end to end (auth_verify in
 * auth/verify.c) on requests written as text (see fuzz_request.h).
 *
 * The store is the real SQLite backend, in a private directory made once by
 * LLVMFuzzerInitialize and removed at exit; it holds the keys of
 * PROTOCOL.md's test vectors, so that seeds signed like the vectors pass
 * every check and mutations of them reach each refusal:
 *   testAccessKeyId / testAccessKeySecret   account 1234567890123456 (root)
 *   YourAccessKeyId / YourAccessKeySecret   its RAM user "alice"
 *   testid / testsecret                     disabled
 * The clock stands at 2024-01-01T00:05:00Z, within the window of the
 * vectors dated 2024-01-01T00:00:00Z. Each input gets fresh memory: limits,
 * so that whether a nonce is taken depends on the input alone.
 *
 * Checked on every input: a success names the key's account and style and
 * leaves the error unset; a failure sets a known code whose message
 * renders; and a request that passed once is refused as a replay
 * (SignatureNonceUsed) when sent again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "fuzz_check.h"
#include "fuzz_request.h"
#include "util/log.h"
#include "util/timeutil.h"

#define ACCOUNT "1234567890123456"
#define NOW_ISO "2024-01-01T00:05:00Z"

static store *the_store;
static secret_keyring *the_ring;
static time_t the_now;
static char dir[] = "/tmp/ecshot-fuzz-auth-XXXXXX";
static char db_path[sizeof dir + 16];
static char key_path[sizeof dir + 16];

static time_t fixed_now(void)
{
    return the_now;
}

static void remove_dir(void)
{
    store_close(the_store);
    the_store = NULL;
    secret_keyring_free(the_ring);
    the_ring = NULL;
    unlink(key_path);
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char p[sizeof db_path + 16];
        snprintf(p, sizeof p, "%s%s", db_path, suffixes[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_auth_verify: setting up the store failed: %s\n", what);
        exit(1);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR);
    must(iso8601_parse(NOW_ISO, &the_now) == 0, "clock");
    must(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(db_path, sizeof db_path, "%s/store.db", dir);
    char url[sizeof db_path + 16];
    snprintf(url, sizeof url, "sqlite:%s", db_path);
    snprintf(key_path, sizeof key_path, "%s/master.key", dir);
    buf why = BUF_INIT;
    must(secret_keyfile_create(key_path, &why) == 0, "master key file");
    the_ring = secret_keyring_load(key_path, &why);
    must(the_ring != NULL, "master key");
    buf_free(&why);
    the_store = store_open(url);
    must(the_store != NULL, "store_open");
    atexit(remove_dir);
    must(store_set_keyring(the_store, the_ring) == STORE_OK, "keyring");
    must(store_account_create(the_store, ACCOUNT) == STORE_OK, "account");
    must(store_user_create(the_store, ACCOUNT, "alice") == STORE_OK, "user");
    must(store_key_create(the_store, ACCOUNT, NULL, "testAccessKeyId", "testAccessKeySecret") ==
             STORE_OK, "root key");
    must(store_key_create(the_store, ACCOUNT, "alice", "YourAccessKeyId",
                          "YourAccessKeySecret") == STORE_OK, "user key");
    must(store_key_create(the_store, ACCOUNT, NULL, "testid", "testsecret") == STORE_OK,
         "disabled key");
    must(store_key_set_active(the_store, "testid", 0) == STORE_OK, "disable");
    return 0;
}

static void check_failure(const api_error *err)
{
    FUZZ_CHECK(err->code > API_OK && err->code < API_ERR_COUNT);
    buf msg = BUF_INIT;
    FUZZ_CHECK(api_error_message(err, &msg) == 0);
    FUZZ_CHECK(msg.len > 0);
    buf_free(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_request fr;
    if (fuzz_request_parse(&fr, data, size) != 0)
        return 0;
    limits *lim = limits_open("memory:");
    FUZZ_CHECK(lim != NULL);
    auth_context ctx = {the_store, lim, fixed_now, the_ring};

    principal who;
    api_error err = API_ERROR_INIT;
    int rc = auth_verify(&ctx, &fr.req, &fr.params, &who, &err);
    if (rc == 0) {
        FUZZ_CHECK(err.code == API_OK);
        FUZZ_CHECK(strcmp(who.account_id, ACCOUNT) == 0);
        FUZZ_CHECK(who.style == SIG_STYLE_V1 || who.style == SIG_STYLE_V3);
        FUZZ_CHECK(strcmp(who.access_key_id, "testid") != 0); /* disabled */
        if (getenv("ECSHOT_FUZZ_VERBOSE"))
            fprintf(stderr, "accepted: %s (V%d)\n", who.access_key_id, (int)who.style);

        api_error again = API_ERROR_INIT;
        principal who2;
        FUZZ_CHECK(auth_verify(&ctx, &fr.req, &fr.params, &who2, &again) == -1);
        FUZZ_CHECK(again.code == API_ERR_SIGNATURE_NONCE_USED);
        api_error_free(&again);
    } else {
        FUZZ_CHECK(rc == -1);
        check_failure(&err);
        if (getenv("ECSHOT_FUZZ_VERBOSE"))
            fprintf(stderr, "refused: %s %s\n", api_error_name(err.code), buf_cstr(&err.detail));
    }
    api_error_free(&err);
    limits_close(lim);
    fuzz_request_free(&fr);
    return 0;
}
