/* test_sig.c: the signatures of PROTOCOL.md §1 and the authentication stage.
 *
 * Every test vector of §1.2 (V1) and §1.3 (V3) is checked byte for byte,
 * then auth_verify runs end to end on requests built as the SDKs send them:
 * the real SQLite store, the real memory: limits, and two small backends of
 * the public driver interfaces that fail or record, for the paths the real
 * ones do not take on demand (a store that errs, the nonce TTL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "util/timeutil.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- building parameter lists ---- */

typedef struct kv {
    const char *name;
    const char *value;
} kv;

static void add_param(param_list *pl, const char *name, const char *value, int from_body)
{
    if (pl->count == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 16;
        pl->items = realloc(pl->items, pl->cap * sizeof *pl->items);
        assert_non_null(pl->items);
    }
    param *p = &pl->items[pl->count++];
    p->name = strdup(name);
    p->name_len = strlen(name);
    p->value = strdup(value);
    p->value_len = strlen(value);
    p->from_body = from_body;
    assert_non_null(p->name);
    assert_non_null(p->value);
}

static void add_params(param_list *pl, const kv *kvs, int from_body)
{
    for (; kvs->name; kvs++)
        add_param(pl, kvs->name, kvs->value, from_body);
}

/* Removes every parameter of that name. */
static void drop_param(param_list *pl, const char *name)
{
    size_t o = 0;
    for (size_t i = 0; i < pl->count; i++) {
        if (strcmp(pl->items[i].name, name) == 0) {
            free(pl->items[i].name);
            free(pl->items[i].value);
        } else {
            pl->items[o++] = pl->items[i];
        }
    }
    pl->count = o;
}

static void set_param(param_list *pl, const char *name, const char *value)
{
    drop_param(pl, name);
    add_param(pl, name, value, 0);
}

/* ---- §1.1 percent-encoding ---- */

static void assert_encodes(const char *in, size_t len, const char *expected)
{
    buf out = BUF_INIT;
    assert_int_equal(percent_encode(&out, in, len), 0);
    assert_string_equal(buf_cstr(&out), expected);
    assert_int_equal(out.len, strlen(expected));
    buf_free(&out);
}

static void test_percent_encode(void **state)
{
    (void)state;
    assert_encodes("", 0, "");
    assert_encodes("a b", 3, "a%20b");
    assert_encodes("*", 1, "%2A");
    assert_encodes("~", 1, "~");
    assert_encodes("/", 1, "%2F");
    assert_encodes("+", 1, "%2B");
    assert_encodes("=&:", 3, "%3D%26%3A");
    assert_encodes("!'()", 4, "%21%27%28%29");
    assert_encodes("\xc3\xa9\xe4\xb8\xad", 5, "%C3%A9%E4%B8%AD"); /* "é中" in UTF-8 */
    assert_encodes("\xff\x80\x7f", 3, "%FF%80%7F");
    assert_encodes("a\0b", 3, "a%00b");
    const char *unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    assert_encodes(unreserved, strlen(unreserved), unreserved);
    assert_encodes("i-bp1gbz20g229bvu5****", 22, "i-bp1gbz20g229bvu5%2A%2A%2A%2A");
}

static void test_percent_encode_appends(void **state)
{
    (void)state;
    buf out = BUF_INIT;
    buf_puts(&out, "x=");
    assert_int_equal(percent_encode(&out, "1 2", 3), 0);
    assert_string_equal(buf_cstr(&out), "x=1%202");
    buf_free(&out);
}

/* ---- §1.2 V1 vectors ---- */

static const kv v1_row1[] = {
    {"AccessKeyId", "testid"},
    {"Action", "DescribeRegions"},
    {"Format", "XML"},
    {"SignatureMethod", "HMAC-SHA1"},
    {"SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
    {"SignatureVersion", "1.0"},
    {"Timestamp", "2016-02-23T12:46:24Z"},
    {"Version", "2014-05-26"},
    {NULL, NULL},
};

static const char v1_row1_sts[] =
    "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%"
    "3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1."
    "0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26";

static const kv v1_row2[] = {
    {"AccessKeyId", "testid"},
    {"Action", "DescribeDedicatedHosts"},
    {"Format", "JSON"},
    {"RegionId", "cn-beijing"},
    {"SignatureMethod", "HMAC-SHA1"},
    {"SignatureNonce", "edb2b34af0af9a6d14deaf7c1a5315eb"},
    {"SignatureVersion", "1.0"},
    {"Timestamp", "2023-03-13T08:34:30Z"},
    {"Version", "2014-05-26"},
    {NULL, NULL},
};

static const kv v1_row3[] = {
    {"AccessKeyId", "testAccessKeyId"},
    {"Action", "GetInstanceScreenshot"},
    {"Format", "JSON"},
    {"InstanceId", "i-bp1gbz20g229bvu5****"},
    {"RegionId", "cn-hangzhou"},
    {"SignatureMethod", "HMAC-SHA1"},
    {"SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
    {"SignatureVersion", "1.0"},
    {"Timestamp", "2024-01-01T00:00:00Z"},
    {"Version", "2014-05-26"},
    {"WakeUp", "false"},
    {NULL, NULL},
};

/* V1 signature of kvs plus an optional extra parameter. */
static void assert_v1(const char *method, const kv *kvs, const char *extra_name,
                      const char *extra_value, const char *secret, const char *expected)
{
    param_list pl = PARAM_LIST_INIT;
    buf sts = BUF_INIT;
    char sig[SIG_V1_B64_LEN + 1];

    add_params(&pl, kvs, 0);
    if (extra_name)
        add_param(&pl, extra_name, extra_value, 0);
    assert_int_equal(sig_v1_string_to_sign(&sts, method, &pl), 0);
    assert_int_equal(sig_v1_sign(secret, buf_cstr(&sts), sts.len, sig), 0);
    assert_string_equal(sig, expected);
    buf_free(&sts);
    params_free(&pl);
}

static void test_v1_row1(void **state)
{
    (void)state;
    param_list pl = PARAM_LIST_INIT;
    buf sts = BUF_INIT;
    add_params(&pl, v1_row1, 0);
    assert_int_equal(sig_v1_string_to_sign(&sts, "GET", &pl), 0);
    assert_string_equal(buf_cstr(&sts), v1_row1_sts);
    buf_free(&sts);
    params_free(&pl);

    assert_v1("GET", v1_row1, NULL, NULL, "testsecret", "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    assert_v1("POST", v1_row1, NULL, NULL, "testsecret", "MxbnVAM4w6sft9xjVpe/GCKueuk=");
}

static void test_v1_row2(void **state)
{
    (void)state;
    assert_v1("GET", v1_row2, NULL, NULL, "testsecret", "9NaGiOspFP5UPcwX8Iwt2YJXXuk=");
}

static void test_v1_row3(void **state)
{
    (void)state;
    const char *secret = "testAccessKeySecret";
    assert_v1("GET", v1_row3, NULL, NULL, secret, "58C/zfSLKCwwr8qUeIcenDZplVc=");
    assert_v1("POST", v1_row3, NULL, NULL, secret, "Jm3RFlKpfo6hUoi5HJo9gLE72AQ=");
    assert_v1("GET", v1_row3, "SecurityToken", "CAIS+token/abc==", secret,
              "XSeG3MMjmbszF0WZwEqOj2IfuFk=");
    assert_v1("GET", v1_row3, "SignatureType", "", secret, "yLMZSYnOPpWLYr96Ji22KFXD8qI=");
}

/* The order of arrival, a Signature parameter and the query/body split
 * change nothing: V1 signs the sorted union of everything but Signature. */
static void test_v1_order_and_signature_ignored(void **state)
{
    (void)state;
    param_list pl = PARAM_LIST_INIT;
    buf sts = BUF_INIT;
    size_t n = 0;
    while (v1_row1[n].name)
        n++;
    add_param(&pl, "Signature", "whatever", 0);
    for (size_t i = n; i-- > 0;)
        add_param(&pl, v1_row1[i].name, v1_row1[i].value, (int)(i % 2));
    assert_int_equal(sig_v1_string_to_sign(&sts, "GET", &pl), 0);
    assert_string_equal(buf_cstr(&sts), v1_row1_sts);
    buf_free(&sts);
    params_free(&pl);
}

/* Byte order, shorter name first, ties broken by value, empty kept as k=. */
static void test_v1_sorting(void **state)
{
    (void)state;
    param_list pl = PARAM_LIST_INIT;
    buf sts = BUF_INIT;
    add_param(&pl, "b", "2", 0);
    add_param(&pl, "a", "z", 0);
    add_param(&pl, "B", "", 0);
    add_param(&pl, "ab", "x y", 0);
    add_param(&pl, "a", "y", 0);
    assert_int_equal(sig_v1_string_to_sign(&sts, "POST", &pl), 0);
    assert_string_equal(buf_cstr(&sts), "POST&%2F&B%3D%26a%3Dy%26a%3Dz%26ab%3Dx%2520y%26b%3D2");
    buf_free(&sts);
    params_free(&pl);

    /* No parameters at all. */
    assert_int_equal(sig_v1_string_to_sign(&sts, "GET", &pl), 0);
    assert_string_equal(buf_cstr(&sts), "GET&%2F&");
    buf_free(&sts);
}

/* ---- §1.3 V3 vectors ---- */

static const char v3_signed_six[] =
    "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";

static void assert_v3(const char *query_text, const sig_header *headers, size_t n,
                      const char *secret, const char *expected_hash, const char *expected_sig)
{
    param_list query = PARAM_LIST_INIT;
    buf canonical = BUF_INIT, sts = BUF_INIT;
    char hash[SIG_V3_HEX_LEN + 1], sig[SIG_V3_HEX_LEN + 1];

    assert_int_equal(params_decode(&query, query_text, strlen(query_text), 0), 0);
    assert_int_equal(sig_v3_canonical_request(&canonical, "POST", &query, headers, n,
                                              v3_signed_six, EMPTY_SHA256),
                     0);
    sha256_hex(canonical.data, canonical.len, hash);
    assert_string_equal(hash, expected_hash);
    assert_int_equal(sig_v3_string_to_sign(&sts, buf_cstr(&canonical), canonical.len), 0);
    assert_string_equal(buf_cstr(&sts) + strlen(SIG_V3_ALGORITHM "\n"), expected_hash);
    assert_memory_equal(buf_cstr(&sts), SIG_V3_ALGORITHM "\n", strlen(SIG_V3_ALGORITHM) + 1);
    assert_int_equal(sig_v3_sign(secret, buf_cstr(&sts), sts.len, sig), 0);
    assert_string_equal(sig, expected_sig);
    buf_free(&canonical);
    buf_free(&sts);
    params_free(&query);
}

static const char v3_row1_query[] =
    "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai";
static const sig_header v3_row1_headers[] = {
    {"host", "ecs.cn-shanghai.aliyuncs.com"},
    {"x-acs-action", "RunInstances"},
    {"x-acs-content-sha256", EMPTY_SHA256},
    {"x-acs-date", "2023-10-26T10:22:32Z"},
    {"x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"},
    {"x-acs-version", "2014-05-26"},
};
static const char v3_row1_hash[] =
    "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259";
static const char v3_row1_sig[] =
    "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0";

static const char v3_row2_query[] =
    "InstanceId=i-bp1gbz20g229bvu5****&RegionId=cn-hangzhou&WakeUp=false";
static const sig_header v3_row2_headers[] = {
    {"host", "127.0.0.1:8080"},
    {"x-acs-action", "GetInstanceScreenshot"},
    {"x-acs-content-sha256", EMPTY_SHA256},
    {"x-acs-date", "2024-01-01T00:00:00Z"},
    {"x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"},
    {"x-acs-version", "2014-05-26"},
};
static const char v3_row2_hash[] =
    "49512a5f3213386478272789a4c1072e8078ba9e607bd54afd678a708b43fdf1";
static const char v3_row2_sig[] =
    "c09477b4a0e64e0d49b71068ecbd15aa1459ca8341d0e353fc1523cf89674a92";

static void test_v3_row1(void **state)
{
    (void)state;
    assert_v3(v3_row1_query, v3_row1_headers, 6, "YourAccessKeySecret", v3_row1_hash,
              v3_row1_sig);
}

static void test_v3_row2(void **state)
{
    (void)state;
    assert_v3(v3_row2_query, v3_row2_headers, 6, "testAccessKeySecret", v3_row2_hash,
              v3_row2_sig);
}

/* The exact text of row 1's canonical request, blank line and all. */
static void test_v3_canonical_text(void **state)
{
    (void)state;
    param_list query = PARAM_LIST_INIT;
    buf canonical = BUF_INIT;
    assert_int_equal(params_decode(&query, v3_row1_query, strlen(v3_row1_query), 0), 0);
    assert_int_equal(sig_v3_canonical_request(&canonical, "POST", &query, v3_row1_headers, 6,
                                              v3_signed_six, EMPTY_SHA256),
                     0);
    assert_string_equal(buf_cstr(&canonical),
                        "POST\n/\n"
                        "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"
                        "&RegionId=cn-shanghai\n"
                        "host:ecs.cn-shanghai.aliyuncs.com\n"
                        "x-acs-action:RunInstances\n"
                        "x-acs-content-sha256:" EMPTY_SHA256 "\n"
                        "x-acs-date:2023-10-26T10:22:32Z\n"
                        "x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n"
                        "x-acs-version:2014-05-26\n"
                        "\n"
                        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;"
                        "x-acs-version\n" EMPTY_SHA256);
    buf_free(&canonical);
    params_free(&query);
}

/* Headers in any order, values with surrounding blanks, an upper-case
 * name, and body parameters in the list: the same canonical request. */
static void test_v3_canonicalization(void **state)
{
    (void)state;
    const sig_header shuffled[] = {
        {"x-acs-version", "2014-05-26"},
        {"X-Acs-Date", "2023-10-26T10:22:32Z"},
        {"x-acs-signature-nonce", "  3156853299f313e23d1673dc12e1703d\t"},
        {"host", " ecs.cn-shanghai.aliyuncs.com"},
        {"x-acs-content-sha256", EMPTY_SHA256 " "},
        {"x-acs-action", "RunInstances"},
    };
    param_list pl = PARAM_LIST_INIT;
    buf canonical = BUF_INIT;
    char hash[SIG_V3_HEX_LEN + 1];

    add_param(&pl, "RegionId", "cn-shanghai", 0);
    add_param(&pl, "FromBody", "not signed here", 1);
    add_param(&pl, "ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", 0);
    assert_int_equal(sig_v3_canonical_request(&canonical, "POST", &pl, shuffled, 6,
                                              v3_signed_six, EMPTY_SHA256),
                     0);
    sha256_hex(canonical.data, canonical.len, hash);
    assert_string_equal(hash, v3_row1_hash);
    buf_free(&canonical);
    params_free(&pl);

    /* No query at all: an empty line. */
    assert_int_equal(sig_v3_canonical_request(&canonical, "GET", &pl, NULL, 0, "", EMPTY_SHA256),
                     0);
    assert_string_equal(buf_cstr(&canonical), "GET\n/\n\n\n\n" EMPTY_SHA256);
    buf_free(&canonical);

    /* Query values encoded per §1.1, empty values kept as k=. */
    add_param(&pl, "b", "x y*", 0);
    add_param(&pl, "a", "", 0);
    assert_int_equal(sig_v3_canonical_request(&canonical, "GET", &pl, NULL, 0, "", EMPTY_SHA256),
                     0);
    assert_string_equal(buf_cstr(&canonical), "GET\n/\na=&b=x%20y%2A\n\n\n" EMPTY_SHA256);
    buf_free(&canonical);
    params_free(&pl);
}

static void test_sha256_hex(void **state)
{
    (void)state;
    char out[SIG_V3_HEX_LEN + 1];
    sha256_hex("", 0, out);
    assert_string_equal(out, EMPTY_SHA256);
    sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* ---- Authorization header ---- */

static void test_parse_authorization_good(void **state)
{
    (void)state;
    sig_v3_authorization a;
    char text[512];

    snprintf(text, sizeof text,
             "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=%s,Signature=%s",
             v3_signed_six, v3_row1_sig);
    assert_int_equal(sig_v3_parse_authorization(text, &a), 0);
    assert_string_equal(a.credential, "YourAccessKeyId");
    assert_string_equal(a.signed_headers, v3_signed_six);
    assert_string_equal(a.signature, v3_row1_sig);

    /* Spaces after the commas are tolerated. */
    snprintf(text, sizeof text, "ACS3-HMAC-SHA256 Credential=AK, SignedHeaders=host,  Signature=%s",
             v3_row1_sig);
    assert_int_equal(sig_v3_parse_authorization(text, &a), 0);
    assert_string_equal(a.credential, "AK");
    assert_string_equal(a.signed_headers, "host");
    assert_string_equal(a.signature, v3_row1_sig);
}

static void assert_auth_refused(const char *text)
{
    sig_v3_authorization a;
    memset(&a, 'x', sizeof a);
    assert_int_equal(sig_v3_parse_authorization(text, &a), -1);
    assert_string_equal(a.credential, "");
    assert_string_equal(a.signature, "");
}

static void test_parse_authorization_malformed(void **state)
{
    (void)state;
    const char *sig = v3_row1_sig;
    char text[3000];

    assert_auth_refused(NULL);
    assert_auth_refused("");
    assert_auth_refused("ACS3-HMAC-SHA256");
    assert_auth_refused("ACS3-HMAC-SHA256 ");
#define A3 SIG_V3_ALGORITHM " "
#define AUTH(fmt, ...) (snprintf(text, sizeof text, fmt, __VA_ARGS__), text)
    /* Missing parts. */
    assert_auth_refused(AUTH(A3 "SignedHeaders=host,Signature=%s", sig));
    assert_auth_refused(AUTH(A3 "Credential=AK,Signature=%s", sig));
    assert_auth_refused(AUTH(A3 "Credential=AK,SignedHeaders=host%s", ""));
    assert_auth_refused(AUTH(A3 "Credential=AK,SignedHeaders=host,%s", ""));
    assert_auth_refused(AUTH(A3 "Credential=,SignedHeaders=host,Signature=%s", sig));
    assert_auth_refused(AUTH(A3 "Credential=AK,SignedHeaders=,Signature=%s", sig));
    assert_auth_refused(AUTH(A3 "Credential=AK,SignedHeaders=host,Signature=%s", ""));
    /* Wrong algorithm, order, case or spacing. */
    assert_auth_refused(AUTH("ACS3-HMAC-SM3 Credential=AK,SignedHeaders=host,Signature=%s", sig));
    assert_auth_refused(AUTH("ACS3-HMAC-SHA256Credential=AK,SignedHeaders=host,Signature=%s", sig));
    assert_auth_refused(AUTH(A3 " Credential=AK,SignedHeaders=host,Signature=%s", sig));
    assert_auth_refused(AUTH(A3 "credential=AK,SignedHeaders=host,Signature=%s", sig));
    assert_auth_refused(AUTH(A3 "SignedHeaders=host,Credential=AK,Signature=%s", sig));
    assert_auth_refused(AUTH(A3 "Credential=AK ,SignedHeaders=host,Signature=%s", sig));
    assert_auth_refused(AUTH(A3 "Credential=AK,\tSignedHeaders=host,Signature=%s", sig));
    assert_auth_refused(AUTH(A3 "Credential=A K,SignedHeaders=host,Signature=%s", sig));
    assert_auth_refused(AUTH(A3 "Credential=AK,SignedHeaders=host x,Signature=%s", sig));
    /* Anything after the signature. */
    assert_auth_refused(AUTH(A3 "Credential=AK,SignedHeaders=host,Signature=%s,", sig));
    assert_auth_refused(AUTH(A3 "Credential=AK,SignedHeaders=host,Signature=%s ", sig));
    assert_auth_refused(AUTH(A3 "Credential=AK,SignedHeaders=host,Signature=%s,X=1", sig));
    /* Bad hex: upper case, non-hex, 63 and 65 digits. */
    assert_auth_refused(AUTH(A3 "Credential=AK,SignedHeaders=host,Signature=%s",
                             "06563A9E1B43F5DFE96B81484DA74BCEAB24A1D853912EEE15083A6F0F3283C0"));
    assert_auth_refused(AUTH(A3 "Credential=AK,SignedHeaders=host,Signature=%s",
                             "g6563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"));
    assert_auth_refused(AUTH(A3 "Credential=AK,SignedHeaders=host,Signature=%.63s", sig));
    assert_auth_refused(AUTH(A3 "Credential=AK,SignedHeaders=host,Signature=%s0", sig));
#undef AUTH
#undef A3
}

/* Credential up to STORE_ID_MAX - 1 bytes, SignedHeaders up to 1023. */
static void test_parse_authorization_overlong(void **state)
{
    (void)state;
    sig_v3_authorization a;
    char cred[STORE_ID_MAX + 1], headers[sizeof a.signed_headers + 1], text[2048];

    memset(cred, 'k', STORE_ID_MAX - 1);
    cred[STORE_ID_MAX - 1] = '\0';
    snprintf(text, sizeof text, "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=host,Signature=%s",
             cred, v3_row1_sig);
    assert_int_equal(sig_v3_parse_authorization(text, &a), 0);
    assert_int_equal(strlen(a.credential), STORE_ID_MAX - 1);
    strcpy(cred + STORE_ID_MAX - 1, "k");
    snprintf(text, sizeof text, "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=host,Signature=%s",
             cred, v3_row1_sig);
    assert_auth_refused(text);

    memset(headers, 'h', sizeof a.signed_headers - 1);
    headers[sizeof a.signed_headers - 1] = '\0';
    snprintf(text, sizeof text, "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=%s,Signature=%s",
             headers, v3_row1_sig);
    assert_int_equal(sig_v3_parse_authorization(text, &a), 0);
    strcpy(headers + sizeof a.signed_headers - 1, "h");
    snprintf(text, sizeof text, "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=%s,Signature=%s",
             headers, v3_row1_sig);
    assert_auth_refused(text);
}

static void test_sig_equal(void **state)
{
    (void)state;
    assert_true(sig_equal("OLeaidS1JvxuMvnyHOwuJ+uX5qY=", "OLeaidS1JvxuMvnyHOwuJ+uX5qY="));
    assert_false(sig_equal("OLeaidS1JvxuMvnyHOwuJ+uX5qY=", "OLeaidS1JvxuMvnyHOwuJ+uX5qY_"));
    assert_false(sig_equal("OLeaidS1JvxuMvnyHOwuJ+uX5qY=", "PLeaidS1JvxuMvnyHOwuJ+uX5qY="));
    assert_false(sig_equal("OLeaidS1JvxuMvnyHOwuJ+uX5qY=", "OLeaidS1JvxuMvnyHOwuJ+uX5qY"));
    assert_false(sig_equal("OLeaidS1JvxuMvnyHOwuJ+uX5qY", "OLeaidS1JvxuMvnyHOwuJ+uX5qY="));
    assert_false(sig_equal("abc", ""));
    assert_true(sig_equal("", ""));
    assert_false(sig_equal(NULL, "abc"));
    assert_false(sig_equal("abc", NULL));
}

/* ==== auth_verify end to end ==== */

static time_t fake_now_value;
static time_t fake_now(void)
{
    return fake_now_value;
}

#define T_2016 1456231584 /* 2016-02-23T12:46:24Z, V1 row 1 */
#define T_2024 1704067200 /* 2024-01-01T00:00:00Z, V1 row 3 and V3 row 2 */

/* A limits backend that records the last claim and answers as told. */
typedef struct recording_limits {
    limits base;
    int answer;
    int calls;
    char ns[32];
    char key[512];
    int64_t ttl_ms;
} recording_limits;

static int recording_claim(limits *l, const char *ns, const char *key, int64_t ttl_ms,
                           int64_t *remaining_ms)
{
    recording_limits *r = (recording_limits *)l;
    r->calls++;
    snprintf(r->ns, sizeof r->ns, "%s", ns);
    snprintf(r->key, sizeof r->key, "%s", key);
    r->ttl_ms = ttl_ms;
    if (remaining_ms)
        *remaining_ms = 0;
    return r->answer;
}

static const limits_driver recording_limits_driver = {"recording:", NULL, NULL, recording_claim,
                                                      NULL};

/* A store backend whose every lookup fails. */
static int failing_key_get(store *s, const char *id, access_key *out,
                           char stored_secret[STORE_SEALED_MAX])
{
    (void)s;
    (void)id;
    (void)stored_secret;
    memset(out, 0, sizeof *out);
    return STORE_ERROR;
}

static const store_driver failing_store_driver = {.scheme = "failing:", .key_get = failing_key_get};

typedef struct fixture {
    char dir[64];
    char db[128];
    char master_key[128];
    secret_keyring *ring;
    store *st;
    limits *lim;
    auth_context ctx;
    api_error err;
    principal who;
} fixture;

static fixture fx;

static int group_setup(void **state)
{
    (void)state;
    char url[160];
    snprintf(fx.dir, sizeof fx.dir, "/tmp/ecshot-test-sig-XXXXXX");
    if (!mkdtemp(fx.dir))
        return -1;
    snprintf(fx.db, sizeof fx.db, "%s/store.db", fx.dir);
    snprintf(fx.master_key, sizeof fx.master_key, "%s/master.key", fx.dir);
    if (secret_keyfile_create(fx.master_key, NULL) != 0 ||
        !(fx.ring = secret_keyring_load(fx.master_key, NULL)))
        return -1;
    snprintf(url, sizeof url, "sqlite:%s", fx.db);
    fx.st = store_open(url);
    if (!fx.st || store_set_keyring(fx.st, fx.ring) != STORE_OK)
        return -1;
    if (store_account_create(fx.st, "1234567890") != STORE_OK ||
        store_account_create(fx.st, "2222222222") != STORE_OK ||
        store_user_create(fx.st, "1234567890", "alice") != STORE_OK ||
        store_key_create(fx.st, "1234567890", NULL, "testAccessKeyId", "testAccessKeySecret") !=
            STORE_OK ||
        store_key_create(fx.st, "2222222222", NULL, "testid", "testsecret") != STORE_OK ||
        store_key_create(fx.st, "1234567890", "alice", "aliceKey", "aliceSecret") != STORE_OK ||
        store_key_create(fx.st, "1234567890", NULL, "disabledKey", "disabledSecret") !=
            STORE_OK ||
        store_key_set_active(fx.st, "disabledKey", 0) != STORE_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char path[160];
    store_close(fx.st);
    secret_keyring_free(fx.ring);
    unlink(fx.master_key);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(path, sizeof path, "%s%s", fx.db, suffixes[i]);
        unlink(path);
    }
    rmdir(fx.dir);
    return 0;
}

/* Each test starts with an empty nonce cache and the 2024 clock. */
static int test_setup(void **state)
{
    (void)state;
    fx.lim = limits_open("memory:");
    if (!fx.lim)
        return -1;
    fake_now_value = T_2024;
    fx.ctx.store = fx.st;
    fx.ctx.limits = fx.lim;
    fx.ctx.now = fake_now;
    fx.ctx.keyring = fx.ring;
    api_error e = API_ERROR_INIT;
    fx.err = e;
    memset(&fx.who, 0, sizeof fx.who);
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    limits_close(fx.lim);
    api_error_free(&fx.err);
    return 0;
}

/* ---- request builders ---- */

typedef struct request {
    http_request req;
    http_header headers[16];
    param_list params;
} request;

static void request_init(request *r, const char *method)
{
    memset(r, 0, sizeof *r);
    r->req.method = method;
    r->req.path = "/";
    r->req.query = "";
    r->req.target = "/";
    r->req.headers = r->headers;
    r->req.body = "";
}

static void request_header(request *r, const char *name, const char *value)
{
    for (size_t i = 0; i < r->req.header_count; i++) {
        if (strcmp(r->headers[i].name, name) == 0) {
            if (value) {
                r->headers[i].value = (char *)value;
            } else {
                r->headers[i] = r->headers[--r->req.header_count];
            }
            return;
        }
    }
    if (!value)
        return;
    assert_true(r->req.header_count < sizeof r->headers / sizeof r->headers[0]);
    r->headers[r->req.header_count].name = (char *)name;
    r->headers[r->req.header_count].value = (char *)value;
    r->req.header_count++;
}

static void request_free(request *r)
{
    params_free(&r->params);
}

static int verify(request *r)
{
    return auth_verify(&fx.ctx, &r->req, &r->params, &fx.who, &fx.err);
}

/* For a refusal whose detail (a string to sign) another test pins down. */
static const char ANY_DETAIL[] = "(any)";

static void assert_refused_with(request *r, api_error_code code, const char *detail)
{
    memset(&fx.who, 0x5a, sizeof fx.who);
    assert_int_equal(verify(r), -1);
    assert_int_equal(fx.err.code, code);
    if (detail == ANY_DETAIL)
        assert_true(fx.err.detail.len > 0);
    else if (detail)
        assert_string_equal(buf_cstr(&fx.err.detail), detail);
    else
        assert_int_equal(fx.err.detail.len, 0);
}

/* V1: signs the current parameters (replacing any Signature) with secret. */
static void v1_sign(request *r, const char *secret)
{
    buf sts = BUF_INIT;
    char sig[SIG_V1_B64_LEN + 1];
    drop_param(&r->params, "Signature");
    assert_int_equal(sig_v1_string_to_sign(&sts, r->req.method, &r->params), 0);
    assert_int_equal(sig_v1_sign(secret, buf_cstr(&sts), sts.len, sig), 0);
    add_param(&r->params, "Signature", sig, 0);
    buf_free(&sts);
}

/* V1 row 3 as pop-core sends it by GET, signed with its vector. */
static void v1_row3_request(request *r)
{
    request_init(r, "GET");
    add_params(&r->params, v1_row3, 0);
    add_param(&r->params, "Signature", "58C/zfSLKCwwr8qUeIcenDZplVc=", 0);
}

/* V3 row 2 as @alicloud/ecs20140526 sends it. */
static char v3_auth_text[1400];

static void v3_set_authorization(request *r, const char *ak, const char *signed_headers,
                                 const char *sig)
{
    snprintf(v3_auth_text, sizeof v3_auth_text,
             "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s", ak, signed_headers,
             sig);
    request_header(r, "authorization", v3_auth_text);
}

static void v3_row2_request(request *r)
{
    request_init(r, "POST");
    r->req.query = v3_row2_query;
    assert_int_equal(params_decode(&r->params, v3_row2_query, strlen(v3_row2_query), 0), 0);
    for (size_t i = 0; i < 6; i++)
        request_header(r, v3_row2_headers[i].name, v3_row2_headers[i].value);
    request_header(r, "content-length", "0");
    request_header(r, "accept", "application/json");
    v3_set_authorization(r, "testAccessKeyId", v3_signed_six, v3_row2_sig);
}

/* Re-signs a V3 request over the given signed header names, computing the
 * signature as a client would: from the headers as they are now. */
static void v3_sign(request *r, const char *ak, const char *secret, const char *signed_headers)
{
    sig_header hs[16];
    size_t n = 0;
    char list[1024];
    snprintf(list, sizeof list, "%s", signed_headers);
    for (char *save = NULL, *name = strtok_r(list, ";", &save); name;
         name = strtok_r(NULL, ";", &save)) {
        hs[n].name = name;
        hs[n].value = http_request_header(&r->req, name);
        assert_non_null(hs[n].value);
        n++;
    }
    buf canonical = BUF_INIT, sts = BUF_INIT;
    char body_hash[SIG_V3_HEX_LEN + 1], sig[SIG_V3_HEX_LEN + 1];
    sha256_hex(r->req.body, r->req.body_len, body_hash);
    assert_int_equal(sig_v3_canonical_request(&canonical, r->req.method, &r->params, hs, n,
                                              signed_headers, body_hash),
                     0);
    assert_int_equal(sig_v3_string_to_sign(&sts, buf_cstr(&canonical), canonical.len), 0);
    assert_int_equal(sig_v3_sign(secret, buf_cstr(&sts), sts.len, sig), 0);
    v3_set_authorization(r, ak, signed_headers, sig);
    buf_free(&canonical);
    buf_free(&sts);
}

/* ---- dispatch ---- */

static void test_verify_no_signature(void **state)
{
    (void)state;
    request r;
    request_init(&r, "GET");
    assert_refused_with(&r, API_ERR_INCOMPLETE_SIGNATURE, NULL);
    add_params(&r.params, v1_row3, 0); /* every common parameter but Signature */
    assert_refused_with(&r, API_ERR_INCOMPLETE_SIGNATURE, NULL);
    request_header(&r, "authorization", "Basic dXNlcjpwYXNz");
    assert_refused_with(&r, API_ERR_INCOMPLETE_SIGNATURE, NULL);
    request_free(&r);
}

/* ---- V1 ---- */

static void test_verify_v1_vectors(void **state)
{
    (void)state;
    request r;
    v1_row3_request(&r);
    assert_int_equal(verify(&r), 0);
    assert_string_equal(fx.who.access_key_id, "testAccessKeyId");
    assert_string_equal(fx.who.account_id, "1234567890");
    assert_string_equal(fx.who.user, "");
    assert_int_equal(fx.who.style, SIG_STYLE_V1);
    /* The same request again is a replay. */
    assert_refused_with(&r, API_ERR_SIGNATURE_NONCE_USED, NULL);
    request_free(&r);

    /* Row 1 (another account's key) at its own time, both methods; POST
     * with the parameters in a form body as pop-core sends them. */
    fake_now_value = T_2016;
    request_init(&r, "GET");
    add_params(&r.params, v1_row1, 0);
    add_param(&r.params, "Signature", "OLeaidS1JvxuMvnyHOwuJ+uX5qY=", 0);
    assert_int_equal(verify(&r), 0);
    assert_string_equal(fx.who.account_id, "2222222222");
    request_free(&r);

    request_init(&r, "POST");
    const char body[] = "AccessKeyId=testid&Action=DescribeRegions&Format=XML"
                        "&SignatureMethod=HMAC-SHA1"
                        "&SignatureNonce=another-nonce&SignatureVersion=1.0"
                        "&Timestamp=2016-02-23T12%3A46%3A24Z&Version=2014-05-26";
    r.req.body = body;
    r.req.body_len = strlen(body);
    assert_int_equal(params_decode(&r.params, body, strlen(body), 1), 0);
    v1_sign(&r, "testsecret");
    assert_int_equal(verify(&r), 0);
    request_free(&r);
}

/* The vectors' variants: POST, SecurityToken and SignatureType= signed
 * like any other parameter. */
static void test_verify_v1_variants(void **state)
{
    (void)state;
    request r;
    v1_row3_request(&r);
    r.req.method = "POST";
    set_param(&r.params, "Signature", "Jm3RFlKpfo6hUoi5HJo9gLE72AQ=");
    assert_int_equal(verify(&r), 0);
    request_free(&r);

    /* Same nonce is used again below, so a fresh cache per variant. */
    limits_close(fx.lim);
    fx.ctx.limits = fx.lim = limits_open("memory:");
    /* The vector's token is an example, not one this server issued: it is
     * refused as such, before the signature (the signing itself is
     * checked in test_v1_row3). */
    v1_row3_request(&r);
    add_param(&r.params, "SecurityToken", "CAIS+token/abc==", 0);
    set_param(&r.params, "Signature", "XSeG3MMjmbszF0WZwEqOj2IfuFk=");
    assert_refused_with(&r, API_ERR_SECURITY_TOKEN_MALFORMED, NULL);
    request_free(&r);

    limits_close(fx.lim);
    fx.ctx.limits = fx.lim = limits_open("memory:");
    v1_row3_request(&r);
    add_param(&r.params, "SignatureType", "", 0);
    set_param(&r.params, "Signature", "yLMZSYnOPpWLYr96Ji22KFXD8qI=");
    assert_int_equal(verify(&r), 0);
    request_free(&r);
}

static void test_verify_v1_missing(void **state)
{
    (void)state;
    static const char *const common[] = {"AccessKeyId", "SignatureMethod", "SignatureVersion",
                                         "SignatureNonce", "Timestamp", "Version", "Action"};
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) {
        request r;
        v1_row3_request(&r);
        drop_param(&r.params, common[i]);
        assert_refused_with(&r, API_ERR_MISSING_PARAMETER, common[i]);
        /* An empty value is as good as none. */
        add_param(&r.params, common[i], "", 0);
        assert_refused_with(&r, API_ERR_MISSING_PARAMETER, common[i]);
        request_free(&r);
    }
}

static void v1_expect(const char *name, const char *value, api_error_code code,
                      const char *detail)
{
    request r;
    v1_row3_request(&r);
    set_param(&r.params, name, value);
    v1_sign(&r, "testAccessKeySecret");
    assert_refused_with(&r, code, detail);
    request_free(&r);
}

static void test_verify_v1_common_values(void **state)
{
    (void)state;
    v1_expect("SignatureMethod", "HMAC-SHA256", API_ERR_INCOMPLETE_SIGNATURE, NULL);
    v1_expect("SignatureMethod", "hmac-sha1", API_ERR_INCOMPLETE_SIGNATURE, NULL);
    v1_expect("SignatureVersion", "2.0", API_ERR_INCOMPLETE_SIGNATURE, NULL);
    v1_expect("Version", "2016-04-28", API_ERR_INVALID_VERSION, NULL);
    v1_expect("Timestamp", "2024-01-01 00:00:00", API_ERR_TIMESTAMP_FORMAT, NULL);
    v1_expect("Timestamp", "1704067200", API_ERR_TIMESTAMP_FORMAT, NULL);
    v1_expect("Timestamp", "2024-01-01T00:15:01Z", API_ERR_TIMESTAMP_EXPIRED, NULL);
    v1_expect("Timestamp", "2023-12-31T23:44:59Z", API_ERR_TIMESTAMP_EXPIRED, NULL);
    v1_expect("AccessKeyId", "unknownKey", API_ERR_ACCESS_KEY_NOT_FOUND, NULL);
    v1_expect("AccessKeyId", "disabledKey", API_ERR_ACCESS_KEY_INACTIVE, NULL);
    char longid[300];
    memset(longid, 'k', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    v1_expect("AccessKeyId", longid, API_ERR_ACCESS_KEY_NOT_FOUND, NULL);
    longid[STORE_ID_MAX] = '\0'; /* one byte too long */
    v1_expect("AccessKeyId", longid, API_ERR_ACCESS_KEY_NOT_FOUND, NULL);
}

/* Exactly 15 minutes either way is still fresh. */
static void test_verify_v1_skew_edges(void **state)
{
    (void)state;
    static const char *const edges[] = {"2024-01-01T00:15:00Z", "2023-12-31T23:45:00Z"};
    for (size_t i = 0; i < 2; i++) {
        request r;
        v1_row3_request(&r);
        set_param(&r.params, "Timestamp", edges[i]);
        set_param(&r.params, "SignatureNonce", i ? "edge-1" : "edge-0");
        v1_sign(&r, "testAccessKeySecret");
        assert_int_equal(verify(&r), 0);
        request_free(&r);
    }
}

static void test_verify_v1_nonce_form(void **state)
{
    (void)state;
    char nonce[200];
    memset(nonce, 'n', sizeof nonce - 1);
    nonce[sizeof nonce - 1] = '\0';
    v1_expect("SignatureNonce", nonce, API_ERR_INVALID_PARAMETER, "SignatureNonce");
    nonce[129] = '\0';
    v1_expect("SignatureNonce", nonce, API_ERR_INVALID_PARAMETER, "SignatureNonce");
    v1_expect("SignatureNonce", "abc\x01", API_ERR_INVALID_PARAMETER, "SignatureNonce");
    v1_expect("SignatureNonce", "a b", API_ERR_INVALID_PARAMETER, "SignatureNonce");
    v1_expect("SignatureNonce", "caf\xc3\xa9", API_ERR_INVALID_PARAMETER, "SignatureNonce");

    /* 128 bytes is fine. */
    request r;
    nonce[128] = '\0';
    v1_row3_request(&r);
    set_param(&r.params, "SignatureNonce", nonce);
    v1_sign(&r, "testAccessKeySecret");
    assert_int_equal(verify(&r), 0);
    request_free(&r);
}

/* A decoded %00 inside a common parameter never passes for the text
 * before it. */
static void test_verify_v1_embedded_nul(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *wire;
        api_error_code code;
    } cases[] = {
        {"AccessKeyId", "AccessKeyId=testAccessKeyId%00x", API_ERR_ACCESS_KEY_NOT_FOUND},
        {"Timestamp", "Timestamp=2024-01-01T00%3A00%3A00Z%00", API_ERR_TIMESTAMP_FORMAT},
        {"SignatureNonce", "SignatureNonce=abc%00def", API_ERR_INVALID_PARAMETER},
        {"Version", "Version=2014-05-26%00", API_ERR_INVALID_VERSION},
        {"SignatureMethod", "SignatureMethod=HMAC-SHA1%00", API_ERR_INCOMPLETE_SIGNATURE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        request r;
        v1_row3_request(&r);
        drop_param(&r.params, cases[i].name);
        assert_int_equal(params_decode(&r.params, cases[i].wire, strlen(cases[i].wire), 0), 0);
        v1_sign(&r, "testAccessKeySecret");
        assert_int_equal(verify(&r), -1);
        assert_int_equal(fx.err.code, cases[i].code);
        request_free(&r);
    }

    /* The right signature followed by %00 and junk. */
    request r;
    v1_row3_request(&r);
    drop_param(&r.params, "Signature");
    const char *sig = "Signature=58C%2FzfSLKCwwr8qUeIcenDZplVc%3D%00junk";
    assert_int_equal(params_decode(&r.params, sig, strlen(sig), 0), 0);
    assert_int_equal(verify(&r), -1);
    assert_int_equal(fx.err.code, API_ERR_SIGNATURE_DOES_NOT_MATCH);
    request_free(&r);
}

static void test_verify_v1_bad_signature(void **state)
{
    (void)state;
    request r;
    fake_now_value = T_2016;
    request_init(&r, "GET");
    add_params(&r.params, v1_row1, 0);
    add_param(&r.params, "Signature", "MxbnVAM4w6sft9xjVpe/GCKueuk=", 0); /* POST's */
    assert_refused_with(&r, API_ERR_SIGNATURE_DOES_NOT_MATCH, v1_row1_sts);
    /* A wrong secret, an empty signature, a truncated one. */
    v1_sign(&r, "wrongsecret");
    assert_refused_with(&r, API_ERR_SIGNATURE_DOES_NOT_MATCH, v1_row1_sts);
    set_param(&r.params, "Signature", "");
    assert_refused_with(&r, API_ERR_SIGNATURE_DOES_NOT_MATCH, v1_row1_sts);
    set_param(&r.params, "Signature", "OLeaidS1JvxuMvnyHOwuJ+uX5qY");
    assert_refused_with(&r, API_ERR_SIGNATURE_DOES_NOT_MATCH, v1_row1_sts);
    /* A parameter added after signing. */
    set_param(&r.params, "Signature", "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    add_param(&r.params, "RegionId", "cn-hangzhou", 0);
    assert_int_equal(verify(&r), -1);
    assert_int_equal(fx.err.code, API_ERR_SIGNATURE_DOES_NOT_MATCH);
    /* None of the failures above burnt the nonce. */
    drop_param(&r.params, "RegionId");
    assert_int_equal(verify(&r), 0);
    request_free(&r);
}

/* Nonces are per AccessKey; a RAM user's key names its user. */
static void test_verify_v1_nonce_per_key(void **state)
{
    (void)state;
    request r;
    v1_row3_request(&r);
    assert_int_equal(verify(&r), 0);
    set_param(&r.params, "AccessKeyId", "aliceKey");
    v1_sign(&r, "aliceSecret");
    assert_int_equal(verify(&r), 0);
    assert_string_equal(fx.who.access_key_id, "aliceKey");
    assert_string_equal(fx.who.account_id, "1234567890");
    assert_string_equal(fx.who.user, "alice");
    assert_refused_with(&r, API_ERR_SIGNATURE_NONCE_USED, NULL);
    request_free(&r);
}

/* ---- backends that fail, and the nonce claim itself ---- */

static void test_verify_store_error(void **state)
{
    (void)state;
    store failing = {.driver = &failing_store_driver, .keyring = fx.ring};
    request r;
    fx.ctx.store = &failing;
    v1_row3_request(&r);
    assert_refused_with(&r, API_ERR_SERVICE_UNAVAILABLE, NULL);
    request_free(&r);
    v3_row2_request(&r);
    assert_refused_with(&r, API_ERR_SERVICE_UNAVAILABLE, NULL);
    request_free(&r);
    fx.ctx.store = fx.st;
}

static void test_verify_nonce_claim(void **state)
{
    (void)state;
    recording_limits rec;
    memset(&rec, 0, sizeof rec);
    rec.base.driver = &recording_limits_driver;
    fx.ctx.limits = &rec.base;
    request r;

    /* Timestamp == now: held for the 15 minutes ahead plus a second. */
    v1_row3_request(&r);
    rec.answer = LIMITS_CLAIMED;
    assert_int_equal(verify(&r), 0);
    assert_int_equal(rec.calls, 1);
    assert_string_equal(rec.ns, "nonce");
    assert_string_equal(rec.key, "testAccessKeyId/3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf");
    assert_int_equal(rec.ttl_ms, 901000);

    /* Ten minutes old: five minutes and a second left. */
    fake_now_value = T_2024 + 600;
    assert_int_equal(verify(&r), 0);
    assert_int_equal(rec.ttl_ms, 301000);
    /* Ten minutes ahead of the server: twenty-five minutes and a second. */
    fake_now_value = T_2024 - 600;
    assert_int_equal(verify(&r), 0);
    assert_int_equal(rec.ttl_ms, 1501000);
    /* At the very edge of the window: at least a second. */
    fake_now_value = T_2024 + 900;
    assert_int_equal(verify(&r), 0);
    assert_int_equal(rec.ttl_ms, 1000);
    fake_now_value = T_2024;

    rec.answer = LIMITS_HELD;
    assert_refused_with(&r, API_ERR_SIGNATURE_NONCE_USED, NULL);
    rec.answer = LIMITS_ERROR;
    assert_refused_with(&r, API_ERR_SERVICE_UNAVAILABLE, NULL);

    /* A bad signature never reaches the claim. */
    rec.calls = 0;
    set_param(&r.params, "Signature", "Jm3RFlKpfo6hUoi5HJo9gLE72AQ=");
    assert_refused_with(&r, API_ERR_SIGNATURE_DOES_NOT_MATCH, ANY_DETAIL);
    request_free(&r);
    v3_row2_request(&r);
    rec.answer = LIMITS_CLAIMED;
    assert_int_equal(verify(&r), 0);
    assert_int_equal(rec.calls, 1);
    assert_string_equal(rec.key, "testAccessKeyId/3156853299f313e23d1673dc12e1703d");
    assert_int_equal(rec.ttl_ms, 901000);
    request_free(&r);
    fx.ctx.limits = fx.lim;
}

/* ---- V3 ---- */

static void test_verify_v3_vector(void **state)
{
    (void)state;
    request r;
    v3_row2_request(&r);
    assert_int_equal(verify(&r), 0);
    assert_string_equal(fx.who.access_key_id, "testAccessKeyId");
    assert_string_equal(fx.who.account_id, "1234567890");
    assert_string_equal(fx.who.user, "");
    assert_int_equal(fx.who.style, SIG_STYLE_V3);
    assert_refused_with(&r, API_ERR_SIGNATURE_NONCE_USED, NULL);
    request_free(&r);
}

static void test_verify_v3_bad_signature(void **state)
{
    (void)state;
    request r;
    v3_row2_request(&r);
    v3_set_authorization(&r, "testAccessKeyId", v3_signed_six, v3_row1_sig);
    char expected_sts[128];
    snprintf(expected_sts, sizeof expected_sts, "%s\n%s", SIG_V3_ALGORITHM, v3_row2_hash);
    assert_refused_with(&r, API_ERR_SIGNATURE_DOES_NOT_MATCH, expected_sts);
    /* A changed query parameter. */
    v3_set_authorization(&r, "testAccessKeyId", v3_signed_six, v3_row2_sig);
    set_param(&r.params, "WakeUp", "true");
    assert_int_equal(verify(&r), -1);
    assert_int_equal(fx.err.code, API_ERR_SIGNATURE_DOES_NOT_MATCH);
    set_param(&r.params, "WakeUp", "false");
    /* A body the hash does not describe. */
    r.req.body = "x=1";
    r.req.body_len = 3;
    assert_int_equal(verify(&r), -1);
    assert_int_equal(fx.err.code, API_ERR_SIGNATURE_DOES_NOT_MATCH);
    /* Another key's secret. */
    r.req.body = "";
    r.req.body_len = 0;
    v3_sign(&r, "testAccessKeyId", "aliceSecret", v3_signed_six);
    assert_int_equal(verify(&r), -1);
    assert_int_equal(fx.err.code, API_ERR_SIGNATURE_DOES_NOT_MATCH);
    /* The original still passes: nothing above burnt its nonce. */
    v3_set_authorization(&r, "testAccessKeyId", v3_signed_six, v3_row2_sig);
    assert_int_equal(verify(&r), 0);
    request_free(&r);
}

/* A form body is signed through its hash, and its parameters stay out of
 * the canonical query; the SDK's extra headers are signed too. */
static void test_verify_v3_body_and_extra_headers(void **state)
{
    (void)state;
    request r;
    v3_row2_request(&r);
    params_free(&r.params);
    r.req.query = "RegionId=cn-hangzhou";
    assert_int_equal(params_decode(&r.params, "RegionId=cn-hangzhou", 20, 0), 0);
    const char body[] = "InstanceId=i-bp1gbz20g229bvu5%2A%2A%2A%2A&WakeUp=false";
    r.req.body = body;
    r.req.body_len = strlen(body);
    assert_int_equal(params_decode(&r.params, body, strlen(body), 1), 0);
    char hash[SIG_V3_HEX_LEN + 1];
    sha256_hex(body, strlen(body), hash);
    request_header(&r, "x-acs-content-sha256", hash);
    request_header(&r, "content-type", "application/x-www-form-urlencoded");
    request_header(&r, "x-acs-credentials-provider", "static_ak");
    request_header(&r, "x-acs-caller-sdk-source", "tea-ts");
    v3_sign(&r, "aliceKey", "aliceSecret",
            "content-type;host;x-acs-action;x-acs-caller-sdk-source;x-acs-content-sha256;"
            "x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version");
    assert_int_equal(verify(&r), 0);
    assert_string_equal(fx.who.user, "alice");
    request_free(&r);
}

/* SignedHeaders in another order or case is put in canonical form before
 * the signature is computed. */
static void test_verify_v3_signed_headers_canonicalized(void **state)
{
    (void)state;
    request r;
    v3_row2_request(&r);
    v3_set_authorization(&r, "testAccessKeyId",
                         "x-acs-version;X-ACS-Date;host;x-acs-action;x-acs-signature-nonce;"
                         "x-acs-content-sha256",
                         v3_row2_sig);
    assert_int_equal(verify(&r), 0);
    request_free(&r);
}

static void test_verify_v3_missing_headers(void **state)
{
    (void)state;
    static const char *const required[] = {"x-acs-action", "x-acs-version", "x-acs-date",
                                           "x-acs-signature-nonce", "x-acs-content-sha256", "host"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        request r;
        v3_row2_request(&r);
        request_header(&r, required[i], NULL);
        assert_refused_with(&r, API_ERR_MISSING_PARAMETER, required[i]);
        request_header(&r, required[i], "");
        assert_refused_with(&r, API_ERR_MISSING_PARAMETER, required[i]);
        request_free(&r);
    }
}

static void v3_signed_headers_refused(const char *signed_headers)
{
    request r;
    v3_row2_request(&r);
    v3_set_authorization(&r, "testAccessKeyId", signed_headers, v3_row2_sig);
    assert_refused_with(&r, API_ERR_INCOMPLETE_SIGNATURE, NULL);
    request_free(&r);
}

static void test_verify_v3_signed_headers(void **state)
{
    (void)state;
    /* Each of the six that must be signed, left out in turn. */
    v3_signed_headers_refused(
        "x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version");
    v3_signed_headers_refused(
        "host;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version");
    v3_signed_headers_refused(
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce");
    v3_signed_headers_refused(
        "host;x-acs-action;x-acs-content-sha256;x-acs-signature-nonce;x-acs-version");
    v3_signed_headers_refused("host;x-acs-action;x-acs-date;x-acs-signature-nonce;x-acs-version");
    /* An unsigned nonce could be changed by whoever replays the request. */
    v3_signed_headers_refused("host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-version");
    /* A header that is not there, an empty name, a name twice. */
    v3_signed_headers_refused(
        "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;"
        "x-acs-version");
    v3_signed_headers_refused(
        "host;;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version");
    v3_signed_headers_refused(
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version;");
    v3_signed_headers_refused(
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version;"
        "HOST");
    /* More names than anyone signs (SIGNED_HEADERS_MAX is 64). */
    char many[1024] =
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";
    for (int i = 0; i < 80; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), ";h%d", i);
    v3_signed_headers_refused(many);
}

static void v3_expect(const char *header, const char *value, api_error_code code,
                      const char *detail)
{
    request r;
    v3_row2_request(&r);
    request_header(&r, header, value);
    v3_sign(&r, "testAccessKeyId", "testAccessKeySecret", v3_signed_six);
    assert_refused_with(&r, code, detail);
    request_free(&r);
}

static void test_verify_v3_header_values(void **state)
{
    (void)state;
    v3_expect("x-acs-version", "2016-04-28", API_ERR_INVALID_VERSION, NULL);
    v3_expect("x-acs-date", "2024-01-01T00:00:00", API_ERR_TIMESTAMP_FORMAT, NULL);
    v3_expect("x-acs-date", "Mon, 01 Jan 2024 00:00:00 GMT", API_ERR_TIMESTAMP_FORMAT, NULL);
    v3_expect("x-acs-date", "2024-01-01T00:15:01Z", API_ERR_TIMESTAMP_EXPIRED, NULL);
    v3_expect("x-acs-date", "2023-12-31T23:44:59Z", API_ERR_TIMESTAMP_EXPIRED, NULL);
    v3_expect("x-acs-signature-nonce", "a\tb", API_ERR_INVALID_PARAMETER,
              "x-acs-signature-nonce");
    char nonce[130];
    memset(nonce, 'n', 129);
    nonce[129] = '\0';
    v3_expect("x-acs-signature-nonce", nonce, API_ERR_INVALID_PARAMETER,
              "x-acs-signature-nonce");
    /* A content hash that is not the body's, even when signed. */
    v3_expect("x-acs-content-sha256",
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
              API_ERR_SIGNATURE_DOES_NOT_MATCH, ANY_DETAIL);
}

static void test_verify_v3_keys(void **state)
{
    (void)state;
    request r;
    v3_row2_request(&r);
    v3_sign(&r, "unknownKey", "x", v3_signed_six);
    assert_refused_with(&r, API_ERR_ACCESS_KEY_NOT_FOUND, NULL);
    v3_sign(&r, "disabledKey", "disabledSecret", v3_signed_six);
    assert_refused_with(&r, API_ERR_ACCESS_KEY_INACTIVE, NULL);
    /* A malformed Authorization. */
    request_header(&r, "authorization", "ACS3-HMAC-SHA256 Credential=testAccessKeyId");
    assert_refused_with(&r, API_ERR_INCOMPLETE_SIGNATURE, NULL);
    /* V3 wins over a Signature parameter. */
    add_param(&r.params, "Signature", "58C/zfSLKCwwr8qUeIcenDZplVc=", 0);
    assert_refused_with(&r, API_ERR_INCOMPLETE_SIGNATURE, NULL);
    request_free(&r);
}

#define E2E(t) cmocka_unit_test_setup_teardown(t, test_setup, test_teardown)

/* ---- STS ---- */

/* A session of role ops of account 1234567890, issued at `at` for 900 s. */
static void sts_session(time_t at, const char *policy, sts_credentials *c, buf *token)
{
    role_info role = {.account_id = "1234567890", .name = "ops", .max_session_s = 3600};
    buf_reset(token);
    assert_int_equal(sts_issue(fx.ring, &role, "alice", 900, policy, at, c, token), STS_OK);
}

/* V1 row 3 signed with temporary credentials and carrying token (NULL: none). */
static void v1_sts_request(request *r, const sts_credentials *c, const char *token)
{
    v1_row3_request(r);
    set_param(&r->params, "AccessKeyId", c->access_key_id);
    if (token)
        add_param(&r->params, "SecurityToken", token, 0);
    v1_sign(r, c->secret);
}

static void test_verify_sts_v1(void **state)
{
    (void)state;
    sts_credentials a, b;
    buf ta = BUF_INIT, tb = BUF_INIT;
    sts_session(T_2024 - 60, "{\"Version\":\"1\",\"Statement\":[]}", &a, &ta);
    sts_session(T_2024 - 60, NULL, &b, &tb);
    request r;

    v1_sts_request(&r, &a, buf_cstr(&ta));
    assert_int_equal(verify(&r), 0);
    assert_string_equal(fx.who.access_key_id, a.access_key_id);
    assert_string_equal(fx.who.account_id, "1234567890");
    assert_string_equal(fx.who.user, "");
    assert_string_equal(fx.who.role, "ops");
    assert_string_equal(fx.who.session, "alice");
    assert_string_equal(fx.who.session_policy, "{\"Version\":\"1\",\"Statement\":[]}");
    assert_refused_with(&r, API_ERR_SIGNATURE_NONCE_USED, NULL);
    request_free(&r);

    limits_close(fx.lim);
    fx.ctx.limits = fx.lim = limits_open("memory:");
    v1_sts_request(&r, &a, NULL);
    assert_refused_with(&r, API_ERR_MISSING_SECURITY_TOKEN, NULL);
    request_free(&r);
    v1_sts_request(&r, &a, "");
    assert_refused_with(&r, API_ERR_MISSING_SECURITY_TOKEN, NULL);
    request_free(&r);
    v1_sts_request(&r, &a, "CAIS+token/abc==");
    assert_refused_with(&r, API_ERR_SECURITY_TOKEN_MALFORMED, NULL);
    request_free(&r);
    v1_sts_request(&r, &a, buf_cstr(&tb));
    assert_refused_with(&r, API_ERR_SECURITY_TOKEN_MISMATCH, NULL);
    request_free(&r);
    /* A good token, a wrong secret. */
    v1_sts_request(&r, &a, buf_cstr(&ta));
    set_param(&r.params, "Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    assert_refused_with(&r, API_ERR_SIGNATURE_DOES_NOT_MATCH, ANY_DETAIL);
    request_free(&r);
    /* A long-term key with a session's token. */
    v1_row3_request(&r);
    add_param(&r.params, "SecurityToken", buf_cstr(&ta), 0);
    v1_sign(&r, "testAccessKeySecret");
    assert_refused_with(&r, API_ERR_SECURITY_TOKEN_MISMATCH, NULL);
    request_free(&r);
    /* A decoded %00 in the token is never the token. */
    v1_sts_request(&r, &a, NULL);
    add_param(&r.params, "SecurityToken", "", 0);
    param *nul = &r.params.items[r.params.count - 1];
    free(nul->value);
    nul->value = malloc(8);
    assert_non_null(nul->value);
    memcpy(nul->value, "ecs1:\0x", 8);
    nul->value_len = 7;
    assert_refused_with(&r, API_ERR_SECURITY_TOKEN_MALFORMED, NULL);
    request_free(&r);

    /* Expired: a session that ended before the request. */
    sts_credentials old;
    buf told = BUF_INIT;
    sts_session(T_2024 - 900, NULL, &old, &told);
    v1_sts_request(&r, &old, buf_cstr(&told));
    assert_refused_with(&r, API_ERR_SECURITY_TOKEN_EXPIRED, NULL);
    request_free(&r);
    /* A server without the master key cannot open any. */
    fx.ctx.keyring = NULL;
    v1_sts_request(&r, &a, buf_cstr(&ta));
    assert_refused_with(&r, API_ERR_INTERNAL, NULL);
    request_free(&r);
    buf_free(&ta);
    buf_free(&tb);
    buf_free(&told);
}

static void test_verify_sts_v3(void **state)
{
    (void)state;
    sts_credentials a;
    buf ta = BUF_INIT;
    sts_session(T_2024 - 60, NULL, &a, &ta);
    static const char with_token[] = "host;x-acs-action;x-acs-content-sha256;x-acs-date;"
                                     "x-acs-security-token;x-acs-signature-nonce;x-acs-version";
    request r;
    v3_row2_request(&r);
    request_header(&r, "x-acs-security-token", buf_cstr(&ta));
    v3_sign(&r, a.access_key_id, a.secret, with_token);
    assert_int_equal(verify(&r), 0);
    assert_string_equal(fx.who.role, "ops");
    assert_int_equal(fx.who.style, SIG_STYLE_V3);
    request_free(&r);

    /* Sent but not signed: whoever replays it could swap it. */
    limits_close(fx.lim);
    fx.ctx.limits = fx.lim = limits_open("memory:");
    v3_row2_request(&r);
    request_header(&r, "x-acs-security-token", buf_cstr(&ta));
    v3_sign(&r, a.access_key_id, a.secret, v3_signed_six);
    assert_refused_with(&r, API_ERR_INCOMPLETE_SIGNATURE, NULL);
    request_free(&r);
    v3_row2_request(&r);
    v3_sign(&r, a.access_key_id, a.secret, v3_signed_six);
    assert_refused_with(&r, API_ERR_MISSING_SECURITY_TOKEN, NULL);
    request_free(&r);
    v3_row2_request(&r);
    request_header(&r, "x-acs-security-token", "");
    v3_sign(&r, a.access_key_id, a.secret, with_token);
    assert_refused_with(&r, API_ERR_MISSING_SECURITY_TOKEN, NULL);
    request_free(&r);
    v3_row2_request(&r);
    request_header(&r, "x-acs-security-token", "garbage");
    v3_sign(&r, a.access_key_id, a.secret, with_token);
    assert_refused_with(&r, API_ERR_SECURITY_TOKEN_MALFORMED, NULL);
    request_free(&r);
    buf_free(&ta);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_percent_encode),
        cmocka_unit_test(test_percent_encode_appends),
        cmocka_unit_test(test_v1_row1),
        cmocka_unit_test(test_v1_row2),
        cmocka_unit_test(test_v1_row3),
        cmocka_unit_test(test_v1_order_and_signature_ignored),
        cmocka_unit_test(test_v1_sorting),
        cmocka_unit_test(test_v3_row1),
        cmocka_unit_test(test_v3_row2),
        cmocka_unit_test(test_v3_canonical_text),
        cmocka_unit_test(test_v3_canonicalization),
        cmocka_unit_test(test_sha256_hex),
        cmocka_unit_test(test_parse_authorization_good),
        cmocka_unit_test(test_parse_authorization_malformed),
        cmocka_unit_test(test_parse_authorization_overlong),
        cmocka_unit_test(test_sig_equal),
    };
    const struct CMUnitTest e2e[] = {
        E2E(test_verify_no_signature),
        E2E(test_verify_v1_vectors),
        E2E(test_verify_v1_variants),
        E2E(test_verify_v1_missing),
        E2E(test_verify_v1_common_values),
        E2E(test_verify_v1_skew_edges),
        E2E(test_verify_v1_nonce_form),
        E2E(test_verify_v1_embedded_nul),
        E2E(test_verify_v1_bad_signature),
        E2E(test_verify_v1_nonce_per_key),
        E2E(test_verify_store_error),
        E2E(test_verify_nonce_claim),
        E2E(test_verify_v3_vector),
        E2E(test_verify_v3_bad_signature),
        E2E(test_verify_v3_body_and_extra_headers),
        E2E(test_verify_v3_signed_headers_canonicalized),
        E2E(test_verify_v3_missing_headers),
        E2E(test_verify_v3_signed_headers),
        E2E(test_verify_v3_header_values),
        E2E(test_verify_v3_keys),
        E2E(test_verify_sts_v1),
        E2E(test_verify_sts_v3),
    };
    int failed = cmocka_run_group_tests_name("signatures", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("auth_verify", e2e, group_setup, group_teardown);
    return failed ? 1 : 0;
}
