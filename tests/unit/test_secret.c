/* test_secret.c: master key files and AES-256-GCM sealing (src/secret).
 *
 * Each test gets a fresh mkdtemp directory for its key files, removed
 * afterwards. Key files are written by hand where the test needs a known
 * key or a broken file, and by secret_keyfile_create where it tests that. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret/secret.h"

#define KEY_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
/* (printf 'ecshot master key fingerprint'; printf KEY | xxd -r -p) | sha256sum | cut -c1-16 */
#define FINGERPRINT_A "d9e1a39c07b277bb"
#define FINGERPRINT_B "2efc0114c148b2a3"

typedef struct fixture {
    char dir[64];
    char path[128]; /* a key file in dir, not yet written */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/ecshot-test-secret-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/master.key", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    assert_int_equal(rmdir(f->dir), 0);
    free(f);
    return 0;
}

/* Writes text to path with the given mode (replacing any file there). */
static void write_file(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* A ring from text written to f->path at mode 0600; must load. */
static secret_keyring *ring_of(const fixture *f, const char *text)
{
    write_file(f->path, text, 0600);
    buf why = BUF_INIT;
    secret_keyring *ring = secret_keyring_load(f->path, &why);
    if (!ring)
        fail_msg("load refused: %s", buf_cstr(&why));
    buf_free(&why);
    return ring;
}

/* Asserts that text at mode refuses to load, with a reason holding want. */
static void assert_refused(const fixture *f, const char *text, mode_t mode, const char *want)
{
    write_file(f->path, text, mode);
    buf why = BUF_INIT;
    assert_null(secret_keyring_load(f->path, &why));
    if (!strstr(buf_cstr(&why), want))
        fail_msg("reason '%s' does not say '%s'", buf_cstr(&why), want);
    assert_null(strchr(buf_cstr(&why), '\n')); /* one line */
    buf_free(&why);
}

static void seal_text(const secret_keyring *ring, const char *aad, const char *plain, buf *out)
{
    buf_reset(out);
    assert_int_equal(secret_seal(ring, aad, plain, strlen(plain), out), SECRET_OK);
}

/* ---- sealing and opening ---- */

static void test_round_trip(void **state)
{
    fixture *f = *state;
    secret_keyring *ring = ring_of(f, KEY_A "\n");
    buf sealed = BUF_INIT, plain = BUF_INIT;
    seal_text(ring, "LTAIexample", "the secret", &sealed);

    /* "ecs1:" fingerprint ":" base64(12 + 10 + 16 bytes) */
    const char *s = buf_cstr(&sealed);
    assert_memory_equal(s, "ecs1:", 5);
    assert_memory_equal(s + 5, secret_keyring_fingerprint(ring), 16);
    assert_int_equal(s[21], ':');
    assert_int_equal(strlen(s + 22), 52); /* 38 bytes: 4 * 13 characters */
    assert_null(strstr(s, "the secret"));
    assert_true(secret_is_sealed(s));
    assert_true(secret_sealed_by_current(ring, s));

    assert_int_equal(secret_open(ring, "LTAIexample", s, sealed.len, &plain), SECRET_OK);
    assert_int_equal(plain.len, 10);
    assert_string_equal(buf_cstr(&plain), "the secret");

    /* The length bounds the read: trailing bytes past it are not looked at. */
    buf_puts(&sealed, "garbage");
    buf_reset(&plain);
    assert_int_equal(secret_open(ring, "LTAIexample", s = buf_cstr(&sealed), sealed.len - 7,
                                 &plain),
                     SECRET_OK);
    assert_string_equal(buf_cstr(&plain), "the secret");

    /* A fresh nonce each time: the same secret never seals the same way. */
    buf again = BUF_INIT;
    seal_text(ring, "LTAIexample", "the secret", &again);
    assert_int_not_equal(memcmp(buf_cstr(&again), buf_cstr(&sealed), again.len), 0);

    /* Empty plaintext and empty aad work too; open appends after what out holds. */
    buf_reset(&sealed);
    assert_int_equal(secret_seal(ring, "", "", 0, &sealed), SECRET_OK);
    buf_reset(&plain);
    buf_puts(&plain, "kept:");
    assert_int_equal(secret_open(ring, "", sealed.data, sealed.len, &plain), SECRET_OK);
    assert_string_equal(buf_cstr(&plain), "kept:");
    assert_int_equal(secret_open(ring, NULL, sealed.data, sealed.len, &plain), SECRET_OK);

    buf_free(&again);
    buf_free(&sealed);
    buf_free(&plain);
    secret_keyring_free(ring);
}

/* The fingerprint is the first 8 bytes of SHA-256("ecshot master key
 * fingerprint" || key), here computed independently with sha256sum. */
static void test_fingerprint(void **state)
{
    fixture *f = *state;
    secret_keyring *ring = ring_of(f, KEY_A "\n");
    assert_string_equal(secret_keyring_fingerprint(ring), FINGERPRINT_A);
    secret_keyring_free(ring);
    ring = ring_of(f, "# rotation: B seals now\n" KEY_B "\n" KEY_A "\n");
    assert_string_equal(secret_keyring_fingerprint(ring), FINGERPRINT_B);
    secret_keyring_free(ring);
}

static void test_aad_binds(void **state)
{
    fixture *f = *state;
    secret_keyring *ring = ring_of(f, KEY_A "\n");
    buf sealed = BUF_INIT, plain = BUF_INIT;
    seal_text(ring, "LTAIone", "s3cret", &sealed);
    buf_puts(&plain, "before");
    assert_int_equal(secret_open(ring, "LTAItwo", sealed.data, sealed.len, &plain), SECRET_FORGED);
    assert_int_equal(secret_open(ring, "", sealed.data, sealed.len, &plain), SECRET_FORGED);
    assert_int_equal(secret_open(ring, "LTAIone ", sealed.data, sealed.len, &plain),
                     SECRET_FORGED);
    /* out is left as it was. */
    assert_int_equal(plain.len, 6);
    assert_string_equal(buf_cstr(&plain), "before");
    buf_free(&sealed);
    buf_free(&plain);
    secret_keyring_free(ring);
}

/* Changes one base64 character of sealed text at offset i to another that
 * decodes to different bits. */
static void flip_char(char *s, size_t i)
{
    s[i] = s[i] == 'A' ? 'B' : 'A';
}

static void test_tampering_is_forgery(void **state)
{
    fixture *f = *state;
    secret_keyring *ring = ring_of(f, KEY_A "\n");
    buf sealed = BUF_INIT, plain = BUF_INIT;
    seal_text(ring, "LTAIone", "s3cret-value", &sealed);
    /* 12 + 12 + 16 = 40 bytes: 56 characters, the last two '='. Every
     * character but the one before them (2 bits of data, 4 of padding)
     * is 6 bits of nonce, ciphertext or tag, which the tag covers. */
    size_t b64_start = 22, b64_len = sealed.len - b64_start;
    assert_int_equal(b64_len, 56);
    assert_memory_equal(sealed.data + sealed.len - 2, "==", 2);
    for (size_t i = b64_start; i < sealed.len - 3; i++) {
        buf copy = BUF_INIT;
        buf_append(&copy, sealed.data, sealed.len);
        flip_char(copy.data, i);
        assert_int_equal(secret_open(ring, "LTAIone", copy.data, copy.len, &plain),
                         SECRET_FORGED);
        assert_int_equal(plain.len, 0);
        buf_free(&copy);
    }
    buf_free(&sealed);
    buf_free(&plain);
    secret_keyring_free(ring);
}

static void test_unknown_key(void **state)
{
    fixture *f = *state;
    secret_keyring *a = ring_of(f, KEY_A "\n");
    secret_keyring *b = ring_of(f, KEY_B "\n");
    buf sealed = BUF_INIT, plain = BUF_INIT;
    seal_text(a, "LTAIone", "s3cret", &sealed);
    assert_int_equal(secret_open(b, "LTAIone", sealed.data, sealed.len, &plain),
                     SECRET_UNKNOWN_KEY);
    assert_false(secret_sealed_by_current(b, sealed.data));
    /* A fingerprint of the right shape that names no key at all. */
    memcpy(sealed.data + 5, "0123456789abcdef", 16);
    assert_int_equal(secret_open(a, "LTAIone", sealed.data, sealed.len, &plain),
                     SECRET_UNKNOWN_KEY);
    assert_int_equal(plain.len, 0);
    buf_free(&sealed);
    buf_free(&plain);
    secret_keyring_free(a);
    secret_keyring_free(b);
}

/* Sealed text with one change: copies good into out and applies edit. */
static void variant(char out[256], const char *good, size_t at, const char *put, size_t cut)
{
    snprintf(out, 256, "%s", good);
    if (put)
        memcpy(out + at, put, strlen(put));
    if (cut)
        out[strlen(out) - cut] = '\0';
}

static void test_malformed(void **state)
{
    fixture *f = *state;
    secret_keyring *ring = ring_of(f, KEY_A "\n");
    buf sealed = BUF_INIT, plain = BUF_INIT;
    seal_text(ring, "id", "s3cret", &sealed); /* 34 bytes: 48 characters, two '=' */
    const char *good = sealed.data;
    assert_int_equal(sealed.len, 22 + 48);
    assert_memory_equal(good + sealed.len - 2, "==", 2);
    char cases[12][256];
    size_t k = 0;
    snprintf(cases[k++], 256, "%s", "");
    snprintf(cases[k++], 256, "%s", "plaintext-secret");
    snprintf(cases[k++], 256, "%s", "ecs1:");
    variant(cases[k++], good, 0, "ecs2", 0);               /* another format */
    variant(cases[k++], good, 0, "ECS1", 0);
    variant(cases[k++], good, 5, "ABCDEF", 0);             /* fingerprint in upper case */
    variant(cases[k++], good, 20, ":", 0);                 /* fingerprint too short */
    variant(cases[k++], good, 21, "A", 0);                 /* no ':' after it */
    variant(cases[k++], good, 0, NULL, 48);                /* no base64 */
    variant(cases[k++], good, 0, NULL, 1);                 /* not a multiple of 4 */
    variant(cases[k++], good, 30, "-", 0);                 /* outside base64 */
    variant(cases[k++], good, 30, "=", 0);                 /* padding inside */
    for (size_t i = 0; i < k; i++) {
        if (secret_open(ring, "id", cases[i], strlen(cases[i]), &plain) != SECRET_MALFORMED)
            fail_msg("case %zu '%s' was not refused as malformed", i, cases[i]);
    }
    variant(cases[0], good, 30, " ", 0);                   /* a blank inside */
    assert_int_equal(secret_open(ring, "id", cases[0], sealed.len, &plain), SECRET_MALFORMED);
    /* Too short for a nonce and a tag: 27 bytes. */
    snprintf(cases[0], 256, "%.22sAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", good);
    assert_int_equal(secret_open(ring, "id", cases[0], strlen(cases[0]), &plain),
                     SECRET_MALFORMED);
    /* A length that cuts the text short; a NUL inside; NULL. */
    assert_int_equal(secret_open(ring, "id", good, sealed.len - 1, &plain), SECRET_MALFORMED);
    assert_int_equal(secret_open(ring, "id", good, 10, &plain), SECRET_MALFORMED);
    char text[256];
    memcpy(text, good, sealed.len + 1);
    text[30] = '\0';
    assert_int_equal(secret_open(ring, "id", text, sealed.len, &plain), SECRET_MALFORMED);
    assert_int_equal(secret_open(ring, "id", NULL, 0, &plain), SECRET_MALFORMED);
    assert_int_equal(plain.len, 0);
    /* And the good one, to show that the cases failed for their change. */
    assert_int_equal(secret_open(ring, "id", good, sealed.len, &plain), SECRET_OK);

    assert_false(secret_is_sealed("plaintext"));
    assert_false(secret_is_sealed(NULL));
    assert_false(secret_sealed_by_current(ring, "ecs1:"));
    assert_false(secret_sealed_by_current(ring, NULL));
    assert_false(secret_sealed_by_current(ring, "plaintext"));
    buf_free(&sealed);
    buf_free(&plain);
    secret_keyring_free(ring);
}

static void test_two_key_ring(void **state)
{
    fixture *f = *state;
    secret_keyring *a = ring_of(f, KEY_A "\n");
    secret_keyring *b = ring_of(f, KEY_B "\n");
    secret_keyring *both = ring_of(f, "# new first\n\n  " KEY_B "  \r\n# old\n" KEY_A);
    buf by_a = BUF_INIT, by_b = BUF_INIT, by_both = BUF_INIT, plain = BUF_INIT;
    seal_text(a, "k1", "sealed-by-a", &by_a);
    seal_text(b, "k2", "sealed-by-b", &by_b);
    seal_text(both, "k3", "sealed-by-both", &by_both);

    assert_int_equal(secret_open(both, "k1", by_a.data, by_a.len, &plain), SECRET_OK);
    assert_string_equal(buf_cstr(&plain), "sealed-by-a");
    buf_reset(&plain);
    assert_int_equal(secret_open(both, "k2", by_b.data, by_b.len, &plain), SECRET_OK);
    assert_string_equal(buf_cstr(&plain), "sealed-by-b");
    buf_reset(&plain);
    /* The first key seals: B's ring opens it, A's does not know it. */
    assert_true(secret_sealed_by_current(both, by_both.data));
    assert_true(secret_sealed_by_current(b, by_both.data));
    assert_false(secret_sealed_by_current(both, by_a.data));
    assert_int_equal(secret_open(b, "k3", by_both.data, by_both.len, &plain), SECRET_OK);
    assert_string_equal(buf_cstr(&plain), "sealed-by-both");
    assert_int_equal(secret_open(a, "k3", by_both.data, by_both.len, &plain),
                     SECRET_UNKNOWN_KEY);
    assert_string_equal(secret_keyring_fingerprint(both), secret_keyring_fingerprint(b));

    buf_free(&by_a);
    buf_free(&by_b);
    buf_free(&by_both);
    buf_free(&plain);
    secret_keyring_free(a);
    secret_keyring_free(b);
    secret_keyring_free(both);
}

/* ---- key files ---- */

static void test_key_file_refusals(void **state)
{
    fixture *f = *state;
    assert_refused(f, KEY_A "\n", 0640, "open to group or others (mode 0640)");
    assert_refused(f, KEY_A "\n", 0604, "chmod 600");
    assert_refused(f, KEY_A "\n", 0620, "open to group or others");
    assert_refused(f, "", 0600, "holds no key");
    assert_refused(f, "# only a comment\n\n", 0600, "holds no key");
    assert_refused(f, KEY_A "0\n", 0600, "line 1 is not a key");
    assert_refused(f, KEY_A "\n" "00" "\n", 0600, "line 2 is not a key");
    assert_refused(f, "\n\ng00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                   0600, "line 3 is not a key"); /* 'g' is no hex digit */
    assert_refused(f, KEY_A " trailing words\n", 0600, "line 1 is not a key");
    assert_refused(f, "key = " KEY_A "\n", 0600, "line 1 is not a key");
    /* The reason never quotes the line: it could be most of a key. */
    write_file(f->path, KEY_A "00\n", 0600);
    buf why = BUF_INIT;
    assert_null(secret_keyring_load(f->path, &why));
    assert_null(strstr(buf_cstr(&why), "0001020304"));
    buf_reset(&why);

    /* Not a file; missing; no path. */
    assert_null(secret_keyring_load(f->dir, &why));
    assert_non_null(strstr(buf_cstr(&why), "not a regular file"));
    buf_reset(&why);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.key", f->dir);
    assert_null(secret_keyring_load(missing, &why));
    assert_non_null(strstr(buf_cstr(&why), "No such file"));
    buf_reset(&why);
    assert_null(secret_keyring_load(NULL, &why));
    assert_true(why.len > 0);
    buf_free(&why);
    /* A caller that does not want the reason passes NULL. */
    assert_null(secret_keyring_load(missing, NULL));
    assert_null(secret_keyring_load(f->dir, NULL));
    assert_int_equal(secret_keyfile_create(f->dir, NULL), -1);

    /* Upper-case hex is a key too; so is a file without a final newline. */
    secret_keyring *ring =
        ring_of(f, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    assert_string_equal(secret_keyring_fingerprint(ring), FINGERPRINT_A);
    secret_keyring_free(ring);
    secret_keyring_free(NULL);
}

static void test_keyfile_create(void **state)
{
    fixture *f = *state;
    buf why = BUF_INIT;
    mode_t old = umask(0022);
    assert_int_equal(secret_keyfile_create(f->path, &why), 0);
    umask(old);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    secret_keyring *ring = secret_keyring_load(f->path, &why);
    assert_non_null(ring);
    /* It names its key's fingerprint in a comment. */
    char text[512];
    FILE *fp = fopen(f->path, "r");
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    assert_non_null(strstr(text, secret_keyring_fingerprint(ring)));

    /* Never replaces a file: the key stays the one it was. */
    char before[SECRET_FINGERPRINT_HEX + 1];
    strcpy(before, secret_keyring_fingerprint(ring));
    assert_int_equal(secret_keyfile_create(f->path, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "exists already"));
    secret_keyring_free(ring);
    ring = secret_keyring_load(f->path, &why);
    assert_non_null(ring);
    assert_string_equal(secret_keyring_fingerprint(ring), before);
    secret_keyring_free(ring);

    /* Two files: two different keys. */
    char other[160];
    snprintf(other, sizeof other, "%s/other.key", f->dir);
    assert_int_equal(secret_keyfile_create(other, &why), 0);
    ring = secret_keyring_load(other, &why);
    assert_non_null(ring);
    assert_string_not_equal(secret_keyring_fingerprint(ring), before);
    secret_keyring_free(ring);

    /* Nor follows a symbolic link to create elsewhere. */
    char link_path[160], target[160];
    snprintf(link_path, sizeof link_path, "%s/link.key", f->dir);
    snprintf(target, sizeof target, "%s/target.key", f->dir);
    assert_int_equal(symlink(target, link_path), 0);
    buf_reset(&why);
    assert_int_equal(secret_keyfile_create(link_path, &why), -1);
    assert_true(why.len > 0);
    assert_int_equal(access(target, F_OK), -1);
    buf_free(&why);
}

static void test_reload(void **state)
{
    fixture *f = *state;
    secret_keyring *ring = ring_of(f, KEY_A "\n");
    buf by_a = BUF_INIT, plain = BUF_INIT, why = BUF_INIT;
    seal_text(ring, "k", "old", &by_a);

    /* A refused file keeps the keys there were. */
    write_file(f->path, "not a key\n", 0600);
    assert_int_equal(secret_keyring_reload(ring, f->path, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "line 1"));
    assert_string_equal(secret_keyring_fingerprint(ring), FINGERPRINT_A);
    assert_int_equal(secret_open(ring, "k", by_a.data, by_a.len, &plain), SECRET_OK);

    /* Rotation: B first, A kept. */
    write_file(f->path, KEY_B "\n" KEY_A "\n", 0600);
    assert_int_equal(secret_keyring_reload(ring, f->path, &why), 0);
    assert_string_equal(secret_keyring_fingerprint(ring), FINGERPRINT_B);
    buf_reset(&plain);
    assert_int_equal(secret_open(ring, "k", by_a.data, by_a.len, &plain), SECRET_OK);
    assert_false(secret_sealed_by_current(ring, by_a.data));

    /* A dropped: what A sealed no longer opens. */
    write_file(f->path, KEY_B "\n", 0600);
    assert_int_equal(secret_keyring_reload(ring, f->path, &why), 0);
    assert_int_equal(secret_open(ring, "k", by_a.data, by_a.len, &plain), SECRET_UNKNOWN_KEY);

    buf_free(&by_a);
    buf_free(&plain);
    buf_free(&why);
    secret_keyring_free(ring);
}

/* Threads seal and open while another reloads between two files that
 * share key A: every open must succeed, whichever keyset it meets. */
typedef struct reload_race {
    secret_keyring *ring;
    const char *path_ab, *path_ba;
    int failures;
} reload_race;

static void *seal_and_open(void *arg)
{
    reload_race *r = arg;
    buf sealed = BUF_INIT, plain = BUF_INIT;
    for (int i = 0; i < 300; i++) {
        buf_reset(&sealed);
        buf_reset(&plain);
        if (secret_seal(r->ring, "race", "value", 5, &sealed) != SECRET_OK ||
            secret_open(r->ring, "race", sealed.data, sealed.len, &plain) != SECRET_OK ||
            strcmp(buf_cstr(&plain), "value") != 0)
            __atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
    }
    buf_free(&sealed);
    buf_free(&plain);
    return NULL;
}

static void test_reload_while_in_use(void **state)
{
    fixture *f = *state;
    char ab[160], ba[160];
    snprintf(ab, sizeof ab, "%s/ab.key", f->dir);
    snprintf(ba, sizeof ba, "%s/ba.key", f->dir);
    write_file(ab, KEY_A "\n" KEY_B "\n", 0600);
    write_file(ba, KEY_B "\n" KEY_A "\n", 0600);
    buf why = BUF_INIT;
    reload_race r = {.ring = secret_keyring_load(ab, &why), .path_ab = ab, .path_ba = ba};
    assert_non_null(r.ring);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, seal_and_open, &r), 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(secret_keyring_reload(r.ring, i % 2 ? ab : ba, &why), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(r.failures, 0);
    buf_free(&why);
    secret_keyring_free(r.ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fingerprint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aad_binds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampering_is_forgery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_key_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_file_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyfile_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_while_in_use, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
