/* token.c: STS credentials and their self-contained SecurityToken (sts.h).
 *
 * A token is the sealed text (secret.h) of a small JSON object:
 *   {"v":1,"ak":"STS.…","sk":"…","account":"…","role":"…","session":"…",
 *    "iat":SECONDS,"exp":SECONDS,"policy":"…"}
 * bound by its associated data to this use, so that no other sealed value
 * of ecshot (an AccessKey secret) can pass for a token. Everything read
 * back is checked again as if a client had written it: a token is client
 * input, even if only the master key can make one that opens. */
#include "sts/sts.h"

#include <jansson.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/log.h"
#include "util/random.h"

#define TOKEN_AAD "ecshot sts token v1"
#define TOKEN_VERSION 1
#define KEY_ID_RANDOM 24    /* "STS." + 24: Alibaba's are of that length */
#define SECRET_RANDOM 40

int sts_is_temporary_key(const char *access_key_id)
{
    return access_key_id && strncmp(access_key_id, STS_KEY_PREFIX, strlen(STS_KEY_PREFIX)) == 0;
}

int sts_valid_session_name(const char *name)
{
    size_t n = name ? strnlen(name, STS_SESSION_NAME_MAX + 1) : 0;
    if (n < 2 || n > STS_SESSION_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '@' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

void sts_credentials_clear(sts_credentials *c)
{
    if (c)
        OPENSSL_cleanse(c->secret, sizeof c->secret);
}

/* ---- issuing ---- */

int sts_issue(const secret_keyring *ring, const role_info *role, const char *session,
              long duration_s, const char *policy, time_t now, sts_credentials *out,
              buf *token)
{
    memset(out, 0, sizeof *out);
    if (!policy)
        policy = "";
    if (strlen(policy) > STS_POLICY_MAX || !sts_valid_session_name(session))
        return STS_FAILED; /* the caller checks these first; never issue around them */

    memcpy(out->access_key_id, STS_KEY_PREFIX, strlen(STS_KEY_PREFIX));
    if (random_alnum(out->access_key_id + strlen(STS_KEY_PREFIX), KEY_ID_RANDOM) != 0 ||
        random_alnum(out->secret, SECRET_RANDOM) != 0) {
        log_error("sts: no random bytes");
        return STS_FAILED;
    }
    snprintf(out->account_id, sizeof out->account_id, "%s", role->account_id);
    snprintf(out->role, sizeof out->role, "%s", role->name);
    snprintf(out->session, sizeof out->session, "%s", session);
    snprintf(out->policy, sizeof out->policy, "%s", policy);
    out->issued = (int64_t)now;
    out->expires = (int64_t)now + duration_s;

    json_t *o = json_pack("{si ss ss ss ss ss sI sI ss}", "v", TOKEN_VERSION, "ak",
                          out->access_key_id, "sk", out->secret, "account", out->account_id,
                          "role", out->role, "session", out->session, "iat",
                          (json_int_t)out->issued, "exp", (json_int_t)out->expires, "policy",
                          out->policy);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        sts_credentials_clear(out);
        return STS_FAILED;
    }
    int rc = secret_seal(ring, TOKEN_AAD, text, strlen(text), token);
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    if (rc != SECRET_OK) {
        sts_credentials_clear(out);
        return STS_FAILED;
    }
    return STS_OK;
}

/* ---- opening ---- */

/* Copies a string member that must fit and pass valid (NULL: any text). */
static int take(json_t *o, const char *name, char *dst, size_t cap, int (*valid)(const char *))
{
    const char *v = json_string_value(json_object_get(o, name));
    if (!v || strlen(v) >= cap || (valid && !valid(v)))
        return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int valid_temporary_key(const char *s)
{
    return sts_is_temporary_key(s) && store_valid_id(s);
}

static int read_payload(const char *text, size_t len, sts_credentials *out)
{
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *iat = json_object_get(o, "iat"), *exp = json_object_get(o, "exp");
    int bad = !json_is_object(o) || json_integer_value(json_object_get(o, "v")) != TOKEN_VERSION ||
              take(o, "ak", out->access_key_id, sizeof out->access_key_id, valid_temporary_key) ||
              take(o, "sk", out->secret, sizeof out->secret, store_valid_secret) ||
              take(o, "account", out->account_id, sizeof out->account_id, store_valid_owner) ||
              take(o, "role", out->role, sizeof out->role, store_valid_owner) ||
              take(o, "session", out->session, sizeof out->session, sts_valid_session_name) ||
              take(o, "policy", out->policy, sizeof out->policy, NULL) ||
              !json_is_integer(iat) || !json_is_integer(exp);
    if (!bad) {
        out->issued = json_integer_value(iat);
        out->expires = json_integer_value(exp);
    }
    json_decref(o);
    return bad ? -1 : 0;
}

int sts_token_open(const secret_keyring *ring, const char *token, const char *access_key_id,
                   time_t now, sts_credentials *out)
{
    buf plain = BUF_INIT;
    memset(out, 0, sizeof *out);
    size_t len = token ? strnlen(token, STS_TOKEN_MAX + 1) : 0;
    if (len == 0 || len > STS_TOKEN_MAX || !ring)
        return STS_MALFORMED;

    int rc = secret_open(ring, TOKEN_AAD, token, len, &plain);
    if (rc == SECRET_OK)
        rc = read_payload(buf_cstr(&plain), plain.len, out) == 0 ? STS_OK : STS_MALFORMED;
    else
        rc = rc == SECRET_FAILED ? STS_FAILED : STS_MALFORMED;
    if (plain.data)
        OPENSSL_cleanse(plain.data, plain.len);
    buf_free(&plain);

    if (rc == STS_OK && (!access_key_id || strcmp(out->access_key_id, access_key_id) != 0))
        rc = STS_MISMATCH;
    else if (rc == STS_OK && out->expires <= (int64_t)now)
        rc = STS_EXPIRED;
    if (rc != STS_OK)
        sts_credentials_clear(out);
    return rc;
}
