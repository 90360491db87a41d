/* sts.h: STS: temporary credentials lent by a RAM role.
 *
 * `ecshot sts assume-role ACCOUNT/ROLE --session NAME` issues an AccessKey
 * pair whose id starts with "STS." and a SecurityToken; a request signed
 * with the pair must carry the token (V1: the SecurityToken parameter; V3:
 * the x-acs-security-token header, signed). What the session may do is
 * what the role's policies allow, narrowed by the session policy.
 *
 * The token is self-contained, as Alibaba's are: the credentials, the role,
 * the session, the expiry and the session policy, sealed (AES-256-GCM,
 * secret.h) under the operator's master key. Any ecshotd holding the key
 * can check a token without a store round trip, nothing about a session is
 * written to the store, and the store alone reveals no temporary secret.
 * A session ends when it expires; deleting or detaching its role's
 * policies takes its rights away at once, since those are read per request. */
#ifndef ECSHOT_STS_STS_H
#define ECSHOT_STS_STS_H

#include <stdint.h>
#include <time.h>

#include "secret/secret.h"
#include "store/store.h"
#include "util/buf.h"

#define STS_KEY_PREFIX "STS."
#define STS_SESSION_NAME_MAX 64       /* RAM's RoleSessionName: 2..64 of [A-Za-z0-9.@_-] */
#define STS_DURATION_MIN 900          /* AssumeRole's DurationSeconds: 900.. the role's max */
#define STS_DURATION_DEFAULT 3600
#define STS_POLICY_MAX 2048           /* AssumeRole's Policy: up to 2048 characters */
#define STS_TOKEN_MAX 8192            /* more than any token ecshot issues */

enum sts_result {
    STS_OK = 0,
    STS_MALFORMED = 1,   /* not a token, or not one this ring sealed */
    STS_MISMATCH = 2,    /* a good token, issued with another AccessKeyId */
    STS_EXPIRED = 3,     /* a good token whose session has ended */
    STS_FAILED = -1      /* out of memory, or OpenSSL failed */
};

/* One session's credentials, as issued and as read back from its token. */
typedef struct sts_credentials {
    char access_key_id[STORE_ID_MAX];
    char secret[STORE_SECRET_MAX];
    char account_id[STORE_ID_MAX];
    char role[STORE_ID_MAX];
    char session[STS_SESSION_NAME_MAX + 1];
    int64_t issued;                       /* seconds since the epoch */
    int64_t expires;
    char policy[STS_POLICY_MAX + 1];      /* the session policy, "" when none */
} sts_credentials;

/* 1 when the AccessKeyId names temporary credentials ("STS." prefix). */
int sts_is_temporary_key(const char *access_key_id);
/* RAM's rule for RoleSessionName. */
int sts_valid_session_name(const char *name);

/* Issues credentials for a session of role: a fresh STS.… id and secret,
 * expiring duration_s after now, with policy (NULL or "" for none) as the
 * session policy; the caller has checked the duration against the role and
 * validated the policy. Fills out and appends the SecurityToken to token.
 * STS_OK or STS_FAILED. */
int sts_issue(const secret_keyring *ring, const role_info *role, const char *session,
              long duration_s, const char *policy, time_t now, sts_credentials *out,
              buf *token);

/* Opens a SecurityToken presented with access_key_id at time now: STS_OK
 * (out filled), STS_MALFORMED, STS_MISMATCH or STS_EXPIRED (in that order
 * of checks), or STS_FAILED. */
int sts_token_open(const secret_keyring *ring, const char *token, const char *access_key_id,
                   time_t now, sts_credentials *out);

/* Wipes the secret. */
void sts_credentials_clear(sts_credentials *c);

#endif
