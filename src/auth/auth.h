/* auth.h: who sent this request: AccessKey signatures, freshness, replay.
 *
 * Two signature styles reach the same endpoint (PROTOCOL.md §1): V1
 * (HMAC-SHA1 over the sorted parameters, "RPC" style) and V3
 * (ACS3-HMAC-SHA256 over a canonical request, in the Authorization header).
 * The canonicalization and signing functions are pure, so both the server
 * (to verify) and the ecshot client (to sign) use them, and the unit tests
 * run them on PROTOCOL.md's vectors. auth_verify is the stage of a request:
 * it turns a signed request into a principal or an api_error. */
#ifndef ECSHOT_AUTH_AUTH_H
#define ECSHOT_AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "api/error.h"
#include "api/params.h"
#include "http/http.h"
#include "limits/limits.h"
#include "secret/secret.h"
#include "store/store.h"
#include "sts/sts.h"
#include "util/buf.h"

/* ---- percent-encoding for signing (PROTOCOL.md §1.1) ---- */

/* RFC 3986: A-Z a-z 0-9 - _ . ~ stay, every other byte is %XY (upper hex). */
int percent_encode(buf *out, const char *s, size_t len);

/* ---- V1: HMAC-SHA1 ---- */

#define SIG_V1_B64_LEN 28   /* base64 of 20 bytes */

/* StringToSign = METHOD&%2F&encode(sorted k=v pairs of every parameter
 * but Signature), appended to out. Returns 0, or -1 when memory ran out. */
int sig_v1_string_to_sign(buf *out, const char *method, const param_list *params);
/* Base64(HMAC-SHA1(secret + "&", string_to_sign)) into out. */
int sig_v1_sign(const char *secret, const char *string_to_sign, size_t len,
                char out[SIG_V1_B64_LEN + 1]);

/* ---- V3: ACS3-HMAC-SHA256 ---- */

#define SIG_V3_HEX_LEN 64
#define SIG_V3_ALGORITHM "ACS3-HMAC-SHA256"

/* A header to sign or verify (lower-case name, raw value). */
typedef struct sig_header {
    const char *name;
    const char *value;
} sig_header;

/* CanonicalRequest of PROTOCOL.md §1.3, appended to out. query holds the
 * query-string parameters (body parameters, from_body set, are skipped, so
 * the merged list may be passed); headers the signed ones (any order, names
 * lower-case, sorted here); signed_headers the ';'-joined sorted names. */
int sig_v3_canonical_request(buf *out, const char *method, const param_list *query,
                             const sig_header *headers, size_t header_count,
                             const char *signed_headers, const char *body_sha256_hex);
/* StringToSign = "ACS3-HMAC-SHA256\n" + hex(sha256(canonical)), appended. */
int sig_v3_string_to_sign(buf *out, const char *canonical, size_t len);
/* hex(HMAC-SHA256(secret, string_to_sign)) into out. */
int sig_v3_sign(const char *secret, const char *string_to_sign, size_t len,
                char out[SIG_V3_HEX_LEN + 1]);
/* Lower-case hex SHA-256 of data. */
void sha256_hex(const void *data, size_t len, char out[SIG_V3_HEX_LEN + 1]);

/* The parts of "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex". */
typedef struct sig_v3_authorization {
    char credential[STORE_ID_MAX];
    char signed_headers[1024];
    char signature[SIG_V3_HEX_LEN + 1];
} sig_v3_authorization;

/* Returns 0, or -1 when the value is not of that form. */
int sig_v3_parse_authorization(const char *value, sig_v3_authorization *out);

/* Constant-time equality of two strings of the same expected length:
 * 1 when equal, 0 when not (different lengths or NULL: not equal). */
int sig_equal(const char *a, const char *b);

/* ---- the authentication stage ---- */

#define AUTH_MAX_SKEW_S (15 * 60)

typedef enum sig_style { SIG_STYLE_V1 = 1, SIG_STYLE_V3 = 3 } sig_style;

/* Who signed: the account's own key (user and role ""), a RAM user's key,
 * or the temporary credentials of an STS session of a role. */
typedef struct principal {
    char access_key_id[STORE_ID_MAX];
    char account_id[STORE_ID_MAX];
    char user[STORE_ID_MAX];   /* "" unless a RAM user's key signed */
    char role[STORE_ID_MAX];   /* "" unless STS credentials signed */
    char session[STS_SESSION_NAME_MAX + 1];
    char session_policy[STS_POLICY_MAX + 1];   /* "" when the session has none */
    sig_style style;
} principal;

typedef struct auth_context {
    store *store;
    limits *limits;
    time_t (*now)(void);       /* wall clock; replaceable in tests */
    /* The master keyring that opens STS tokens; NULL refuses them. */
    const secret_keyring *keyring;
} auth_context;

/* Verifies the request's signature, timestamp and nonce, in that order of
 * cost: the style is picked (Authorization ACS3-... → V3, else a Signature
 * parameter → V1, else IncompleteSignature), the common parameters checked,
 * the key looked up (for an STS.… key: its SecurityToken opened), the
 * signature compared in constant time, and only a request whose signature
 * is good claims its nonce. params holds query and body parameters
 * together. Returns 0 and fills *who, or -1 and fills *err. */
int auth_verify(const auth_context *ctx, const http_request *req, const param_list *params,
                principal *who, api_error *err);

#endif
