/* test_libvirt.c: the PNG decoder (image/png.c) and the "libvirt:" console backend.
 *
 * PNGs are written here with libpng in every colour type the decoder must
 * handle, then decoded from heap blocks of exactly their length, so that
 * AddressSanitizer reports any read past the end; every proper prefix of a
 * file and corrupted copies must be refused.
 *
 * The backend is tested against libvirt's built-in test driver,
 * test:///default (no daemon: the driver lives in this process). All
 * connections of one process to test:///default share one state while any
 * of them is open, so the suite keeps a connection of its own ("operator")
 * for its whole run and uses it to pause, destroy, define and undefine
 * domains behind the backend's back. A TCP socket that listens and never
 * answers plays a libvirt daemon that hangs; a closed port one that is not
 * there. The real daemon (qemu:///system, qemu+tcp with SASL) is exercised
 * by tests/integration/libvirt.test.mjs. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <png.h>

#include "console/console.h"
#include "image/image.h"
#include "util/timeutil.h"

/* ---- writing PNGs ------------------------------------------------------------ */

typedef struct membuf {
    uint8_t *data;
    size_t len;
    size_t cap;
} membuf;

static void membuf_write(png_structp png, png_bytep d, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (m->cap - m->len < n) {
        size_t cap = (m->cap + n) * 2;
        uint8_t *p = realloc(m->data, cap);
        if (!p)
            png_error(png, "out of memory");
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, d, n);
    m->len += n;
}

static void membuf_flush(png_structp png)
{
    (void)png;
}

/* One image as the PNG stores it: rows of raw samples (packed below 8
 * bits, big-endian at 16), optional palette and tRNS. */
typedef struct png_spec {
    png_uint_32 width;
    png_uint_32 height;
    int color_type;
    int depth;
    int interlace;
    const uint8_t *raw;      /* height rows of raw_pitch bytes */
    size_t raw_pitch;
    const png_color *palette;
    int palette_len;
    const png_byte *trns;
    int trns_len;
} png_spec;

typedef struct png_writer {
    png_structp png;
    png_infop info;
    png_bytep *rows;
} png_writer;

static int write_png(png_writer *w, const png_spec *s, membuf *m)
{
    if (setjmp(png_jmpbuf(w->png)))
        return -1;
    png_set_write_fn(w->png, m, membuf_write, membuf_flush);
    png_set_IHDR(w->png, w->info, s->width, s->height, s->depth, s->color_type,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette)
        png_set_PLTE(w->png, w->info, s->palette, s->palette_len);
    if (s->trns)
        png_set_tRNS(w->png, w->info, s->trns, s->trns_len, NULL);
    png_write_info(w->png, w->info);
    png_write_image(w->png, w->rows);
    png_write_end(w->png, NULL);
    return 0;
}

/* The PNG file of s in a heap block of exactly *len bytes. */
static uint8_t *make_png(const png_spec *s, size_t *len)
{
    png_writer w = {0};
    w.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    assert_non_null(w.png);
    w.info = png_create_info_struct(w.png);
    assert_non_null(w.info);
    w.rows = calloc(s->height, sizeof *w.rows);
    assert_non_null(w.rows);
    for (png_uint_32 y = 0; y < s->height; y++)
        w.rows[y] = (png_bytep)(s->raw + s->raw_pitch * y);
    membuf m = {0};
    int rc = write_png(&w, s, &m);
    png_destroy_write_struct(&w.png, &w.info);
    free(w.rows);
    assert_int_equal(rc, 0);
    uint8_t *exact = malloc(m.len);
    assert_non_null(exact);
    memcpy(exact, m.data, m.len);
    free(m.data);
    *len = m.len;
    return exact;
}

/* Decodes the first len bytes of data from an exact-size copy. */
static int decode_exact(const uint8_t *data, size_t len, frame *f)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, data, len);
    memset(f, 0, sizeof *f);
    int rc = png_decode(copy, len, f);
    free(copy); /* the frame must not point into the input */
    return rc;
}

/* Asserts that f is exactly the packed RGB image want (w x h). */
static void assert_rgb(const frame *f, int w, int h, const uint8_t *want)
{
    assert_int_equal(f->width, w);
    assert_int_equal(f->height, h);
    assert_int_equal(f->pitch, (size_t)w * 3);
    assert_non_null(f->release);
    assert_memory_equal(f->pixels, want, (size_t)w * h * 3);
}

/* ---- PNG: every colour type --------------------------------------------------- */

static const uint8_t rgb_3x2[] = {
    255, 0, 0, 0, 255, 0, 0, 0, 255,
    0, 0, 0, 255, 255, 255, 18, 52, 86,
};

static uint8_t *rgb_3x2_png(size_t *len)
{
    png_spec s = {3, 2, PNG_COLOR_TYPE_RGB, 8, 0, rgb_3x2, 9, NULL, 0, NULL, 0};
    return make_png(&s, len);
}

static void test_png_rgb8(void **state)
{
    (void)state;
    size_t len;
    uint8_t *png = rgb_3x2_png(&len);
    frame f;
    assert_int_equal(decode_exact(png, len, &f), 0);
    assert_rgb(&f, 3, 2, rgb_3x2);
    assert_int_equal(f.owner_size, 18);
    frame_release(&f);
    assert_null(f.pixels);
    assert_null(f.release);
    free(png);
}

static void test_png_gray8(void **state)
{
    (void)state;
    const uint8_t raw[] = {0, 17, 128, 255};
    png_spec s = {2, 2, PNG_COLOR_TYPE_GRAY, 8, 0, raw, 2, NULL, 0, NULL, 0};
    size_t len;
    uint8_t *png = make_png(&s, &len);
    frame f;
    assert_int_equal(decode_exact(png, len, &f), 0);
    const uint8_t want[] = {0, 0, 0, 17, 17, 17, 128, 128, 128, 255, 255, 255};
    assert_rgb(&f, 2, 2, want);
    frame_release(&f);
    free(png);
}

static void test_png_gray1(void **state)
{
    (void)state;
    /* 9 pixels 1 0 1 1 0 0 1 1 1, packed MSB first. */
    const uint8_t raw[] = {0xb3, 0x80};
    png_spec s = {9, 1, PNG_COLOR_TYPE_GRAY, 1, 0, raw, 2, NULL, 0, NULL, 0};
    size_t len;
    uint8_t *png = make_png(&s, &len);
    frame f;
    assert_int_equal(decode_exact(png, len, &f), 0);
    const int bits[] = {1, 0, 1, 1, 0, 0, 1, 1, 1};
    uint8_t want[27];
    for (int i = 0; i < 9; i++)
        memset(want + 3 * i, bits[i] ? 255 : 0, 3);
    assert_rgb(&f, 9, 1, want);
    frame_release(&f);
    free(png);
}

static void test_png_palette_with_transparency(void **state)
{
    (void)state;
    const png_color palette[] = {{10, 20, 30}, {200, 100, 0}, {0, 0, 255}};
    const png_byte trns[] = {0, 128};
    /* 4-bit indices 2 1 0 1 */
    const uint8_t raw[] = {0x21, 0x01};
    png_spec s = {4, 1, PNG_COLOR_TYPE_PALETTE, 4, 0, raw, 2, palette, 3, trns, 2};
    size_t len;
    uint8_t *png = make_png(&s, &len);
    frame f;
    assert_int_equal(decode_exact(png, len, &f), 0);
    /* Alpha is dropped: the colours are the palette's, unblended. */
    const uint8_t want[] = {0, 0, 255, 200, 100, 0, 10, 20, 30, 200, 100, 0};
    assert_rgb(&f, 4, 1, want);
    frame_release(&f);
    free(png);
}

static void test_png_rgba16(void **state)
{
    (void)state;
    const uint8_t raw[] = {
        0xff, 0xff, 0x00, 0x00, 0x80, 0x80, 0x12, 0x34,
        0x00, 0x00, 0x01, 0x01, 0xfe, 0xfe, 0x00, 0x00,
    };
    png_spec s = {2, 1, PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, raw, 16, NULL, 0, NULL, 0};
    size_t len;
    uint8_t *png = make_png(&s, &len);
    frame f;
    assert_int_equal(decode_exact(png, len, &f), 0);
    /* 16 bits scaled to 8 (v * 255 / 65535, rounded), alpha dropped. */
    const uint8_t want[] = {255, 0, 128, 0, 1, 254};
    assert_rgb(&f, 2, 1, want);
    frame_release(&f);
    free(png);
}

static void test_png_gray_alpha(void **state)
{
    (void)state;
    const uint8_t raw[] = {7, 0, 250, 255};
    png_spec s = {2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, raw, 4, NULL, 0, NULL, 0};
    size_t len;
    uint8_t *png = make_png(&s, &len);
    frame f;
    assert_int_equal(decode_exact(png, len, &f), 0);
    const uint8_t want[] = {7, 7, 7, 250, 250, 250};
    assert_rgb(&f, 2, 1, want);
    frame_release(&f);
    free(png);
}

static void test_png_interlaced(void **state)
{
    (void)state;
    enum { W = 13, H = 11 };
    uint8_t raw[W * H * 3];
    for (int i = 0; i < W * H * 3; i++)
        raw[i] = (uint8_t)(i * 7 + i / 3);
    png_spec s = {W, H, PNG_COLOR_TYPE_RGB, 8, 1, raw, W * 3, NULL, 0, NULL, 0};
    size_t len;
    uint8_t *png = make_png(&s, &len);
    frame f;
    assert_int_equal(decode_exact(png, len, &f), 0);
    assert_rgb(&f, W, H, raw);
    frame_release(&f);
    free(png);
}

/* ---- PNG: what must be refused ---------------------------------------------- */

static void test_png_every_prefix_refused(void **state)
{
    (void)state;
    size_t len;
    uint8_t *png = rgb_3x2_png(&len);
    for (size_t n = 0; n < len; n++) {
        frame f;
        if (decode_exact(png, n, &f) == 0)
            fail_msg("a %zu-byte prefix of a %zu-byte PNG was accepted", n, len);
        assert_null(f.release);
    }
    free(png);
}

static void test_png_trailing_bytes_ignored(void **state)
{
    (void)state;
    size_t len;
    uint8_t *png = rgb_3x2_png(&len);
    uint8_t *longer = malloc(len + 5);
    assert_non_null(longer);
    memcpy(longer, png, len);
    memcpy(longer + len, "junk!", 5);
    frame f;
    assert_int_equal(decode_exact(longer, len + 5, &f), 0);
    assert_rgb(&f, 3, 2, rgb_3x2);
    frame_release(&f);
    free(longer);
    free(png);
}

/* Offset of the first chunk of type (4 letters), or 0. */
static size_t chunk_at(const uint8_t *png, size_t len, const char *type)
{
    size_t pos = 8;
    while (pos + 12 <= len) {
        size_t n = (size_t)png[pos] << 24 | (size_t)png[pos + 1] << 16 |
                   (size_t)png[pos + 2] << 8 | png[pos + 3];
        if (memcmp(png + pos + 4, type, 4) == 0)
            return pos;
        pos += 12 + n;
    }
    return 0;
}

static void test_png_corruption_refused(void **state)
{
    (void)state;
    size_t len;
    uint8_t *png = rgb_3x2_png(&len);
    size_t ihdr = chunk_at(png, len, "IHDR");
    size_t idat = chunk_at(png, len, "IDAT");
    assert_int_equal(ihdr, 8);
    assert_true(idat > ihdr);
    /* A byte of the signature, of IHDR's CRC, of IHDR's width, of the
     * compressed data, of IDAT's CRC. */
    size_t idat_len = (size_t)png[idat + 2] << 8 | png[idat + 3];
    const size_t at[] = {1, ihdr + 8 + 13, ihdr + 8 + 2, idat + 8 + 2, idat + 8 + idat_len};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        uint8_t *bad = malloc(len);
        assert_non_null(bad);
        memcpy(bad, png, len);
        bad[at[i]] ^= 0x40;
        frame f;
        if (decode_exact(bad, len, &f) == 0)
            fail_msg("flipping byte %zu was not noticed", at[i]);
        free(bad);
    }
    frame f;
    assert_int_equal(png_decode(NULL, 10, &f), -1);
    assert_int_equal(png_decode(png, 0, &f), -1);
    const uint8_t ppm[] = "P6\n1 1\n255\n\x01\x02\x03";
    assert_int_equal(decode_exact(ppm, sizeof ppm - 1, &f), -1);
    free(png);
}

/* A 1-bit grey image w x h (all white): small whatever its size. */
static uint8_t *bilevel_png(png_uint_32 w, png_uint_32 h, size_t *len)
{
    size_t pitch = (w + 7) / 8;
    uint8_t *raw = malloc(pitch * h);
    assert_non_null(raw);
    memset(raw, 0xff, pitch * h);
    png_spec s = {w, h, PNG_COLOR_TYPE_GRAY, 1, 0, raw, pitch, NULL, 0, NULL, 0};
    uint8_t *png = make_png(&s, len);
    free(raw);
    return png;
}

static void test_png_dimension_limits(void **state)
{
    (void)state;
    size_t len;
    frame f;
    uint8_t *png = bilevel_png(FRAME_MAX_DIM, 2, &len);
    assert_int_equal(decode_exact(png, len, &f), 0);
    assert_int_equal(f.width, FRAME_MAX_DIM);
    assert_int_equal(f.height, 2);
    assert_int_equal(f.pixels[(size_t)FRAME_MAX_DIM * 3 * 2 - 1], 255);
    frame_release(&f);
    free(png);

    const png_uint_32 too_big[][2] = {
        {FRAME_MAX_DIM + 1, 1}, {1, FRAME_MAX_DIM + 1}, {100000, 1}, {1, 100000},
    };
    for (size_t i = 0; i < sizeof too_big / sizeof too_big[0]; i++) {
        png = bilevel_png(too_big[i][0], too_big[i][1], &len);
        if (decode_exact(png, len, &f) == 0)
            fail_msg("a %ux%u PNG was accepted", too_big[i][0], too_big[i][1]);
        free(png);
    }
}

/* ---- the libvirt backend: URLs ------------------------------------------------ */

static void test_libvirt_urls(void **state)
{
    (void)state;
    assert_true(console_url_valid("libvirt:test:///default#test"));
    assert_true(console_url_valid("libvirt:qemu:///system#vm-1"));
    assert_true(console_url_valid("libvirt:qemu+tcp://127.0.0.1/system#dom"));
    assert_true(console_url_valid("libvirt:qemu+tls://host.example:16514/system#a#b"));
    assert_true(console_url_valid("libvirt:qemu+ssh://root@h/system?keyfile=/k#dom"));
    assert_false(console_url_valid("libvirt:test:///default"));
    assert_false(console_url_valid("libvirt:test:///default#"));
    assert_false(console_url_valid("libvirt:#test"));
    assert_false(console_url_valid("libvirt:default#test"));
    assert_false(console_url_valid("libvirt:1qemu:///system#test"));
    assert_false(console_url_valid("libvirt:QEMU:///system#test"));
    assert_false(console_url_valid("libvirt:qemu:///system#te\nst"));
    assert_false(console_url_valid("libvirt:qemu:///sys\ttem#test"));
    assert_false(console_url_valid("libvirt:"));
    char longname[1100];
    memcpy(longname, "libvirt:test:///default#", 24);
    memset(longname + 24, 'a', 1025);
    longname[24 + 1025] = 0;
    assert_false(console_url_valid(longname));
    longname[24 + 1024] = 0;
    assert_true(console_url_valid(longname));
}

/* ---- the libvirt backend against test:///default -------------------------------- */

#define POOL_TIMEOUT_MS 10000
#define TEST_URL "libvirt:test:///default#test"
#define EXTRA_NAME "ecshot-extra"

/* The suite's own connection: keeps the test driver's state alive and plays
 * the operator. */
static virConnectPtr operator_conn;

static int suite_setup(void **state)
{
    (void)state;
    operator_conn = virConnectOpen("test:///default");
    return operator_conn ? 0 : -1;
}

static int suite_teardown(void **state)
{
    (void)state;
    if (operator_conn)
        virConnectClose(operator_conn);
    return 0;
}

static virDomainPtr operator_domain(const char *name)
{
    virDomainPtr d = virDomainLookupByName(operator_conn, name);
    assert_non_null(d);
    return d;
}

/* Width and height from a PNG's IHDR. */
static void png_size(const uint8_t *png, size_t len, int *w, int *h)
{
    assert_true(len > 24);
    *w = png[16] << 24 | png[17] << 16 | png[18] << 8 | png[19];
    *h = png[20] << 24 | png[21] << 16 | png[22] << 8 | png[23];
}

static void test_libvirt_running_domain(void **state)
{
    (void)state;
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    assert_non_null(p);
    vm_state s = VM_OTHER;
    assert_int_equal(console_query_state(p, TEST_URL, &s), CONSOLE_OK);
    assert_int_equal(s, VM_RUNNING);

    /* The test driver's screenshot is a PNG shipped with libvirt (a grey
     * picture); the frame has its size and R = G = B everywhere. */
    virStreamPtr st = virStreamNew(operator_conn, 0);
    assert_non_null(st);
    char *mime = virDomainScreenshot(operator_domain("test"), st, 0, 0);
    assert_non_null(mime);
    assert_string_equal(mime, "image/png");
    free(mime);
    uint8_t head[64];
    int n = virStreamRecv(st, (char *)head, sizeof head);
    assert_true(n >= 24);
    virStreamAbort(st);
    virStreamFree(st);
    int w, h;
    png_size(head, (size_t)n, &w, &h);

    frame f;
    int64_t t0 = clock_monotonic_us();
    assert_int_equal(console_capture(p, TEST_URL, &f), CONSOLE_OK);
    int64_t took = clock_monotonic_us() - t0;
    print_message("test driver capture (%dx%d PNG): %lld us\n", w, h, (long long)took);
    assert_int_equal(f.width, w);
    assert_int_equal(f.height, h);
    assert_int_equal(f.pitch, (size_t)w * 3);
    size_t grey = 0;
    for (int y = 0; y < f.height; y++)
        for (int x = 0; x < f.width; x++) {
            const uint8_t *px = f.pixels + f.pitch * y + x * 3;
            grey += px[0] == px[1] && px[1] == px[2];
        }
    assert_int_equal(grey, (size_t)w * h);
    frame_release(&f);

    assert_int_equal(console_wake(p, TEST_URL), CONSOLE_OK);
    assert_int_equal(console_query_state(p, TEST_URL, &s), CONSOLE_OK);
    assert_int_equal(s, VM_RUNNING);
    console_pool_free(p);
}

static void test_libvirt_paused_domain(void **state)
{
    (void)state;
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    assert_non_null(p);
    vm_state s = VM_OTHER;
    assert_int_equal(console_query_state(p, TEST_URL, &s), CONSOLE_OK);
    assert_int_equal(s, VM_RUNNING);

    virDomainPtr d = operator_domain("test");
    assert_int_equal(virDomainSuspend(d), 0);
    assert_int_equal(console_query_state(p, TEST_URL, &s), CONSOLE_OK);
    assert_int_equal(s, VM_PAUSED);
    assert_string_equal(vm_state_ecs_status(s), "Running");
    /* A paused domain gets no key, and waking it leaves it paused. */
    assert_int_equal(console_wake(p, TEST_URL), CONSOLE_OK);
    assert_int_equal(console_query_state(p, TEST_URL, &s), CONSOLE_OK);
    assert_int_equal(s, VM_PAUSED);

    assert_int_equal(virDomainResume(d), 0);
    assert_int_equal(console_query_state(p, TEST_URL, &s), CONSOLE_OK);
    assert_int_equal(s, VM_RUNNING);
    virDomainFree(d);
    console_pool_free(p);
}

static const char extra_xml[] =
    "<domain type='test'><name>" EXTRA_NAME "</name><memory>1024</memory>"
    "<os><type>hvm</type></os></domain>";

static void test_libvirt_destroyed_and_undefined(void **state)
{
    (void)state;
    const char *url = "libvirt:test:///default#" EXTRA_NAME;
    virDomainPtr d = virDomainDefineXML(operator_conn, extra_xml);
    assert_non_null(d);
    assert_int_equal(virDomainCreate(d), 0);

    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    assert_non_null(p);
    vm_state s = VM_OTHER;
    assert_int_equal(console_query_state(p, url, &s), CONSOLE_OK);
    assert_int_equal(s, VM_RUNNING);

    assert_int_equal(virDomainDestroy(d), 0);
    assert_int_equal(console_query_state(p, url, &s), CONSOLE_OK);
    assert_int_equal(s, VM_SHUTDOWN);
    assert_string_equal(vm_state_ecs_status(s), "Stopped");

    /* Gone altogether: the kept domain handle leads nowhere, the retry on
     * a fresh lookup finds nothing. */
    assert_int_equal(virDomainUndefine(d), 0);
    virDomainFree(d);
    assert_int_equal(console_query_state(p, url, &s), CONSOLE_GONE);
    frame f;
    assert_int_equal(console_capture(p, url, &f), CONSOLE_GONE);
    assert_null(f.release);
    assert_int_equal(console_wake(p, url), CONSOLE_GONE);

    /* Defined again under the same name: found again. */
    d = virDomainDefineXML(operator_conn, extra_xml);
    assert_non_null(d);
    assert_int_equal(console_query_state(p, url, &s), CONSOLE_OK);
    assert_int_equal(s, VM_SHUTDOWN);
    assert_int_equal(virDomainUndefine(d), 0);
    virDomainFree(d);
    console_pool_free(p);
}

static void test_libvirt_unknown_domain_and_driver(void **state)
{
    (void)state;
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    assert_non_null(p);
    vm_state s;
    assert_int_equal(console_query_state(p, "libvirt:test:///default#no-such-domain", &s),
                     CONSOLE_GONE);
    frame f;
    assert_int_equal(console_capture(p, "libvirt:test:///default#no-such-domain", &f),
                     CONSOLE_GONE);
    /* A URI no libvirt driver takes is a configuration error, not a VM that is gone. */
    assert_int_equal(console_query_state(p, "libvirt:nosuchdriver:///x#test", &s), CONSOLE_ERROR);
    /* The good domain still answers on the same pool and host. */
    assert_int_equal(console_query_state(p, TEST_URL, &s), CONSOLE_OK);
    console_pool_free(p);
}

/* A TCP socket on 127.0.0.1 that listens (so connections complete in the
 * kernel) and is never accepted from: a libvirt daemon that hangs. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Connections waiting in fd's queue (accepts them all, non-blocking). */
static int pending_connections(int fd, int *accepted, int max)
{
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int n = 0;
    int c;
    while (n < max && (c = accept(fd, NULL, NULL)) >= 0)
        accepted[n++] = c;
    fcntl(fd, F_SETFL, flags);
    return n;
}

static void test_libvirt_hung_daemon_times_out(void **state)
{
    (void)state;
    int port;
    int lfd = silent_listener(&port);
    char url_a[128], url_b[128];
    snprintf(url_a, sizeof url_a, "libvirt:qemu+tcp://127.0.0.1:%d/system#a", port);
    snprintf(url_b, sizeof url_b, "libvirt:qemu+tcp://127.0.0.1:%d/system#b", port);

    enum { TIMEOUT_MS = 300 };
    console_pool *p = console_pool_new(TIMEOUT_MS);
    assert_non_null(p);
    vm_state s;
    int64_t t0 = clock_monotonic_ms();
    assert_int_equal(console_query_state(p, url_a, &s), CONSOLE_TIMEOUT);
    int64_t took = clock_monotonic_ms() - t0;
    assert_true(took >= TIMEOUT_MS - 5);
    assert_true(took < TIMEOUT_MS + 500);

    /* Another domain of the same URI waits for the same connection attempt:
     * it times out too, and no second connection is made. */
    t0 = clock_monotonic_ms();
    frame f;
    assert_int_equal(console_capture(p, url_b, &f), CONSOLE_TIMEOUT);
    took = clock_monotonic_ms() - t0;
    assert_true(took < TIMEOUT_MS + 500);
    int accepted[8];
    int n = pending_connections(lfd, accepted, 8);
    assert_int_equal(n, 1);

    /* The daemon "dies": the attempt fails and its thread ends on its own. */
    for (int i = 0; i < n; i++)
        close(accepted[i]);
    close(lfd);
    console_pool_free(p);
}

static void test_libvirt_refused_is_gone(void **state)
{
    (void)state;
    int port;
    int lfd = silent_listener(&port);
    close(lfd); /* nothing listens on that port now */
    char url[128];
    snprintf(url, sizeof url, "libvirt:qemu+tcp://127.0.0.1:%d/system#a", port);
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    assert_non_null(p);
    vm_state s;
    assert_int_equal(console_query_state(p, url, &s), CONSOLE_GONE);
    assert_int_equal(console_wake(p, url), CONSOLE_GONE);
    console_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest png_tests[] = {
        cmocka_unit_test(test_png_rgb8),
        cmocka_unit_test(test_png_gray8),
        cmocka_unit_test(test_png_gray1),
        cmocka_unit_test(test_png_palette_with_transparency),
        cmocka_unit_test(test_png_rgba16),
        cmocka_unit_test(test_png_gray_alpha),
        cmocka_unit_test(test_png_interlaced),
        cmocka_unit_test(test_png_every_prefix_refused),
        cmocka_unit_test(test_png_trailing_bytes_ignored),
        cmocka_unit_test(test_png_corruption_refused),
        cmocka_unit_test(test_png_dimension_limits),
    };
    const struct CMUnitTest libvirt_tests[] = {
        cmocka_unit_test(test_libvirt_urls),
        cmocka_unit_test(test_libvirt_running_domain),
        cmocka_unit_test(test_libvirt_paused_domain),
        cmocka_unit_test(test_libvirt_destroyed_and_undefined),
        cmocka_unit_test(test_libvirt_unknown_domain_and_driver),
        cmocka_unit_test(test_libvirt_hung_daemon_times_out),
        cmocka_unit_test(test_libvirt_refused_is_gone),
    };
    int failed = cmocka_run_group_tests_name("png", png_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("libvirt", libvirt_tests, suite_setup, suite_teardown);
    return failed ? 1 : 0;
}
