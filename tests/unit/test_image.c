/* test_image.c: PPM parsing, base64 and JPEG encoding (image/).
 *
 * Inputs are copied into heap blocks of exactly their length, so that
 * AddressSanitizer reports any read past the end the parser might make. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <turbojpeg.h>

#include "image/image.h"

/* ---- ppm_parse ------------------------------------------------------------ */

/* header followed by n raster bytes of value fill, in an exact-size block. */
static uint8_t *make_ppm(const char *header, size_t n, uint8_t fill, size_t *len)
{
    size_t h = strlen(header);
    *len = h + n;
    uint8_t *p = malloc(*len ? *len : 1);
    assert_non_null(p);
    memcpy(p, header, h);
    memset(p + h, fill, n);
    return p;
}

/* Parses header + n bytes; returns ppm_parse's result, fills f. */
static int parse(const char *header, size_t n, frame *f, size_t *offset)
{
    size_t len;
    uint8_t *p = make_ppm(header, n, 0x5a, &len);
    frame tmp;
    memset(&tmp, 0, sizeof tmp);
    int r = ppm_parse(p, len, &tmp);
    if (r == 0 && offset)
        *offset = (size_t)(tmp.pixels - p);
    free(p);
    if (f)
        *f = tmp;
    return r;
}

static void test_ppm_minimal(void **state)
{
    (void)state;
    frame f;
    size_t off;
    assert_int_equal(parse("P6\n2 1\n255\n", 6, &f, &off), 0);
    assert_int_equal(f.width, 2);
    assert_int_equal(f.height, 1);
    assert_int_equal(f.pitch, 6);
    assert_int_equal(off, 11);
    assert_null(f.release);
}

static void test_ppm_qemu_header(void **state)
{
    (void)state;
    frame f;
    size_t off;
    assert_int_equal(parse("P6\n720 400\n255\n", 720 * 400 * 3, &f, &off), 0);
    assert_int_equal(f.width, 720);
    assert_int_equal(f.height, 400);
    assert_int_equal(f.pitch, 2160);
    assert_int_equal(off, 15);
}

static void test_ppm_comments_and_spaces(void **state)
{
    (void)state;
    frame f;
    size_t off;
    const char *h = "P6 # made by hand\n# another line\r\n\t3\f#w\n 2\v255\n";
    assert_int_equal(parse(h, 18, &f, &off), 0);
    assert_int_equal(f.width, 3);
    assert_int_equal(f.height, 2);
    assert_int_equal(off, strlen(h));
    /* A comment right after the magic and one closing the maxval: the
     * line end of that comment is the single whitespace byte. */
    h = "P6#c\n1 1\n255#trailing\n";
    assert_int_equal(parse(h, 3, &f, &off), 0);
    assert_int_equal(off, strlen(h));
    /* CR alone ends the header, and a comment splits digits (netpbm). */
    h = "P6\r1#x\r1\r255\r";
    assert_int_equal(parse(h, 3, &f, &off), 0);
    assert_int_equal(f.width, 1);
    assert_int_equal(off, strlen(h));
    /* Leading zeros are still the number. */
    assert_int_equal(parse("P6\n0002 01\n0255\n", 6, &f, NULL), 0);
    assert_int_equal(f.width, 2);
}

static void test_ppm_one_space_after_maxval(void **state)
{
    (void)state;
    /* The second '\n' is the first raster byte, not more header. */
    const char *h = "P6\n1 1\n255\n";
    uint8_t data[] = {'P', '6', '\n', '1', ' ', '1', '\n', '2', '5', '5', '\n', '\n', 7, 8};
    frame f;
    assert_int_equal(ppm_parse(data, sizeof data, &f), 0);
    assert_ptr_equal(f.pixels, data + strlen(h));
    assert_int_equal(f.pixels[0], '\n');
    assert_int_equal(f.pixels[2], 8);
}

static void test_ppm_trailing_data(void **state)
{
    (void)state;
    frame f;
    assert_int_equal(parse("P6\n2 2\n255\n", 12 + 100, &f, NULL), 0);
    assert_int_equal(f.width, 2);
    assert_int_equal(f.height, 2);
}

static void test_ppm_truncated(void **state)
{
    (void)state;
    /* Every proper prefix of a valid image is refused, without over-reads. */
    size_t len;
    uint8_t *full = make_ppm("P6 # c\n4 3\n255\n", 36, 1, &len);
    frame f;
    assert_int_equal(ppm_parse(full, len, &f), 0);
    for (size_t n = 0; n < len; n++) {
        uint8_t *p = malloc(n ? n : 1);
        assert_non_null(p);
        memcpy(p, full, n);
        assert_int_equal(ppm_parse(p, n, &f), -1);
        free(p);
    }
    free(full);
    assert_int_equal(parse("P6\n2 1\n255\n", 5, NULL, NULL), -1);
    assert_int_equal(parse("P6\n2 1\n255", 0, NULL, NULL), -1);
    assert_int_equal(parse("P6\n2 1\n255#comment without end, long enough", 0, NULL, NULL), -1);
    assert_int_equal(ppm_parse(NULL, 0, &f), -1);
}

static void test_ppm_wrong_magic(void **state)
{
    (void)state;
    assert_int_equal(parse("P3\n1 1\n255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P5\n1 1\n255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("p6\n1 1\n255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P61 1\n255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("\nP6\n1 1\n255\n", 3, NULL, NULL), -1);
}

static void test_ppm_bad_numbers(void **state)
{
    (void)state;
    assert_int_equal(parse("P6\n1 1\n65535\n", 6, NULL, NULL), -1);
    assert_int_equal(parse("P6\n1 1\n254\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n1 1\n256\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n1 1\n0\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n1 1\n99999999999999999999255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n-1 1\n255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n+1 1\n255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n1x 1\n255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n1 1 255\n", 3, NULL, NULL), 0);
    assert_int_equal(parse("P6\n1 1\n255", 3, NULL, NULL), -1); /* no space: raster glued on */
    assert_int_equal(parse("P6\n\n\n", 0, NULL, NULL), -1);
}

static void test_ppm_zero_dims(void **state)
{
    (void)state;
    assert_int_equal(parse("P6\n0 1\n255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n1 0\n255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n0 0\n255\n", 0, NULL, NULL), -1);
}

static void test_ppm_huge_dims(void **state)
{
    (void)state;
    frame f;
    assert_int_equal(parse("P6\n8192 1\n255\n", 8192 * 3, &f, NULL), 0);
    assert_int_equal(f.width, FRAME_MAX_DIM);
    assert_int_equal(parse("P6\n1 8192\n255\n", 8192 * 3, &f, NULL), 0);
    assert_int_equal(parse("P6\n8193 1\n255\n", 8193 * 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n1 8193\n255\n", 8193 * 3, NULL, NULL), -1);
    /* Sizes that wrap 32 or 64-bit arithmetic if multiplied unchecked. */
    assert_int_equal(parse("P6\n4294967296 1\n255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n1 4294967297\n255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n18446744073709551617 1\n255\n", 3, NULL, NULL), -1);
    assert_int_equal(parse("P6\n65536 65536\n255\n", 3, NULL, NULL), -1);
    /* Within limits, but the raster is not all there. */
    assert_int_equal(parse("P6\n8192 8192\n255\n", 1000, NULL, NULL), -1);
}

/* ---- base64 --------------------------------------------------------------- */

static const struct {
    const char *plain;
    const char *coded;
} rfc4648[] = {
    {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},         {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

static void test_base64_rfc4648(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        const char *plain = rfc4648[i].plain, *coded = rfc4648[i].coded;
        buf b = BUF_INIT;
        assert_int_equal(base64_append(&b, (const uint8_t *)plain, strlen(plain)), 0);
        assert_string_equal(buf_cstr(&b), coded);
        assert_int_equal(b.len, strlen(coded));
        assert_int_equal(base64_encoded_len(strlen(plain)), strlen(coded));
        buf_free(&b);

        uint8_t out[16];
        assert_int_equal(base64_decode(coded, strlen(coded), out), (long)strlen(plain));
        assert_memory_equal(out, plain, strlen(plain));
    }
}

static void test_base64_appends(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    buf_puts(&b, "{\"Screenshot\":\"");
    assert_int_equal(base64_append(&b, (const uint8_t *)"\xff\xfe\x00", 3), 0);
    assert_int_equal(base64_append(&b, (const uint8_t *)"", 0), 0);
    buf_puts(&b, "\"}");
    assert_string_equal(buf_cstr(&b), "{\"Screenshot\":\"//4A\"}");
    buf_free(&b);
    assert_int_equal(base64_encoded_len(0), 0);
    assert_int_equal(base64_encoded_len(1), 4);
    assert_int_equal(base64_encoded_len(3), 4);
    assert_int_equal(base64_encoded_len(4), 8);
}

static void test_base64_round_trips(void **state)
{
    (void)state;
    uint8_t data[700], back[700];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof data; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    for (size_t n = 0; n <= 600; n++) {
        buf b = BUF_INIT;
        assert_int_equal(base64_append(&b, data + (n % 97), n), 0);
        assert_int_equal(b.len, base64_encoded_len(n));
        /* Decode from an exact-size copy so a read past the end shows. */
        char *exact = malloc(b.len ? b.len : 1);
        memcpy(exact, b.data, b.len);
        memset(back, 0xee, sizeof back);
        assert_int_equal(base64_decode(exact, b.len, back), (long)n);
        assert_memory_equal(back, data + (n % 97), n);
        free(exact);
        buf_free(&b);
    }
}

static void test_base64_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {
        "Zg=",      /* length not a multiple of 4 */
        "Zm9vY",    "Z",        "Zg=a",     "Z===",     "====",      "=Zm9",
        "Zg==Zg==", /* padding inside */
        "Zm9v\n",   " Zm9vYg=", "Zm 9",     "Zm9v\r\n", "Zm9-",     "Zm9_",      "Zm9\x80",
        "Zh==",     /* non-zero unused bits */
        "Zm9=",     "Zm\0v",
    };
    uint8_t out[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i]);
        if (strcmp(bad[i], "Zm") == 0)
            len = 4; /* the embedded NUL one */
        assert_int_equal(base64_decode(bad[i], len, out), -1);
    }
    assert_int_equal(base64_decode("", 0, out), 0);
    assert_int_equal(base64_decode("AAAA", 4, out), 3);
    assert_int_equal(base64_decode("+/+/", 4, out), 3);
    assert_int_equal(out[0], 0xfb);
}

/* ---- JPEG ----------------------------------------------------------------- */

static const uint8_t quadrant_rgb[4][3] = {
    {220, 30, 30}, {30, 200, 40}, {20, 40, 210}, {250, 250, 250},
};

/* A w x h frame of four solid quadrants, with pad bytes of junk after each
 * row to prove the encoder honours the pitch. */
static uint8_t *make_frame(int w, int h, size_t pad, frame *f)
{
    size_t pitch = (size_t)w * 3 + pad;
    uint8_t *px = malloc(pitch * (size_t)h);
    assert_non_null(px);
    for (int y = 0; y < h; y++) {
        uint8_t *row = px + pitch * (size_t)y;
        for (int x = 0; x < w; x++) {
            const uint8_t *c = quadrant_rgb[(y >= h / 2) * 2 + (x >= w / 2)];
            memcpy(row + x * 3, c, 3);
        }
        memset(row + (size_t)w * 3, 0x99, pad);
    }
    memset(f, 0, sizeof *f);
    f->width = w;
    f->height = h;
    f->pitch = pitch;
    f->pixels = px;
    return px;
}

static void check_decodes(const uint8_t *jpg, size_t len, int w, int h)
{
    assert_true(len > 4);
    assert_int_equal(jpg[0], 0xff);
    assert_int_equal(jpg[1], 0xd8);
    assert_int_equal(jpg[len - 2], 0xff);
    assert_int_equal(jpg[len - 1], 0xd9);

    tjhandle d = tjInitDecompress();
    int jw, jh, samp, cs;
    assert_int_equal(tjDecompressHeader3(d, jpg, (unsigned long)len, &jw, &jh, &samp, &cs), 0);
    assert_int_equal(jw, w);
    assert_int_equal(jh, h);
    uint8_t *rgb = malloc((size_t)w * h * 3);
    assert_int_equal(tjDecompress2(d, jpg, (unsigned long)len, rgb, w, 0, h, TJPF_RGB, 0), 0);
    /* The centre of each quadrant is close to its colour. */
    for (int q = 0; q < 4; q++) {
        int x = (q & 1) ? w * 3 / 4 : w / 4, y = (q & 2) ? h * 3 / 4 : h / 4;
        const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
        for (int ch = 0; ch < 3; ch++)
            assert_true(abs((int)p[ch] - (int)quadrant_rgb[q][ch]) <= 10);
    }
    free(rgb);
    tjDestroy(d);
}

static void test_jpeg_encode_each_subsampling(void **state)
{
    (void)state;
    static const int samps[] = {444, 422, 420};
    for (size_t i = 0; i < 3; i++) {
        jpeg_options opt = {85, samps[i]};
        jpeg_encoder *e = jpeg_encoder_new(&opt);
        assert_non_null(e);
        frame f;
        uint8_t *px = make_frame(64, 48, 5, &f);
        const uint8_t *jpg;
        size_t len;
        assert_int_equal(jpeg_encode(e, &f, &jpg, &len), 0);
        check_decodes(jpg, len, 64, 48);
        free(px);
        jpeg_encoder_free(e);
    }
}

static void test_jpeg_reuses_and_grows(void **state)
{
    (void)state;
    jpeg_encoder *e = jpeg_encoder_new(NULL); /* defaults */
    assert_non_null(e);
    frame small, big;
    uint8_t *ps = make_frame(16, 16, 0, &small);
    uint8_t *pb = make_frame(720, 400, 3, &big);
    const uint8_t *jpg;
    size_t len;
    assert_int_equal(jpeg_encode(e, &small, &jpg, &len), 0);
    check_decodes(jpg, len, 16, 16);
    assert_int_equal(jpeg_encode(e, &big, &jpg, &len), 0);
    check_decodes(jpg, len, 720, 400);
    const uint8_t *again;
    assert_int_equal(jpeg_encode(e, &small, &again, &len), 0);
    assert_ptr_equal(again, jpg); /* the big buffer serves the small frame */
    check_decodes(again, len, 16, 16);
    free(ps);
    free(pb);
    jpeg_encoder_free(e);
}

static void test_jpeg_rejects(void **state)
{
    (void)state;
    jpeg_options bad[] = {{0, 444}, {101, 444}, {85, 411}, {85, 0}};
    for (size_t i = 0; i < 4; i++)
        assert_null(jpeg_encoder_new(&bad[i]));
    jpeg_encoder *e = jpeg_encoder_new(NULL);
    frame f;
    uint8_t *px = make_frame(8, 8, 0, &f);
    const uint8_t *jpg;
    size_t len;
    frame g = f;
    g.pitch = 8 * 3 - 1;
    assert_int_equal(jpeg_encode(e, &g, &jpg, &len), -1);
    g = f;
    g.width = 0;
    assert_int_equal(jpeg_encode(e, &g, &jpg, &len), -1);
    g = f;
    g.pixels = NULL;
    assert_int_equal(jpeg_encode(e, &g, &jpg, &len), -1);
    g = f;
    g.height = FRAME_MAX_DIM + 1;
    assert_int_equal(jpeg_encode(e, &g, &jpg, &len), -1);
    assert_int_equal(jpeg_encode(e, &f, &jpg, &len), 0);
    free(px);
    jpeg_encoder_free(e);
    jpeg_encoder_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ppm_minimal),
        cmocka_unit_test(test_ppm_qemu_header),
        cmocka_unit_test(test_ppm_comments_and_spaces),
        cmocka_unit_test(test_ppm_one_space_after_maxval),
        cmocka_unit_test(test_ppm_trailing_data),
        cmocka_unit_test(test_ppm_truncated),
        cmocka_unit_test(test_ppm_wrong_magic),
        cmocka_unit_test(test_ppm_bad_numbers),
        cmocka_unit_test(test_ppm_zero_dims),
        cmocka_unit_test(test_ppm_huge_dims),
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_base64_appends),
        cmocka_unit_test(test_base64_round_trips),
        cmocka_unit_test(test_base64_malformed),
        cmocka_unit_test(test_jpeg_encode_each_subsampling),
        cmocka_unit_test(test_jpeg_reuses_and_grows),
        cmocka_unit_test(test_jpeg_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
