/* jpegstudy.c: JPEG quality and chroma subsampling against size, time and fidelity.
 *
 *   ecshot-jpegstudy [--runs N] [--qualities Q,Q...] [--subsamplings S,S...]
 *                    [--font VGA_ROM] [--out DIR] NAME=SOURCE[@X,Y,W,H]...
 *
 * SOURCE is where the frame comes from:
 *   qmp:SOCKET       captured from a running VM through its QMP socket, with
 *                    ecshot's own console backend (what ecshotd captures);
 *   synth:console    a 1024x768 framebuffer console drawn here, in the VGA
 *   synth:desktop    font of --font, or a desktop (see synthframes.h);
 *   ppm:FILE         a P6 PPM, e.g. a screendump saved by hand.
 * For each frame, each subsampling (default 420,444) and each quality
 * (default 60,65,...,90) it encodes the frame N times (default 20) with
 * ecshot's encoder (src/image/jpeg.c, TurboJPEG) and prints one line: the
 * JPEG's size, the median encode time, both also as a ratio to ecshot's
 * default setting (JPEG_DEFAULT_QUALITY, JPEG_DEFAULT_SUBSAMPLING, encoded
 * the same way in the same run), and the fidelity of the JPEG decoded back
 * with TurboJPEG against the frame (fidelity.h: PSNR, SSIM of luma and of
 * chroma). X,Y,W,H names a rectangle of text in the frame: with --out DIR
 * the program writes DIR/NAME.png (the frame) and DIR/NAME-crops.png, that
 * rectangle magnified 3 times: the frame's own pixels on top, then one row
 * per quality (lowest first), one column per subsampling (as listed), so
 * that legibility can be judged by eye. Exit status 1 on any failure. */
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <turbojpeg.h>

#include "console/backends.h"
#include "console/console.h"
#include "image/image.h"

#include "fidelity.h"
#include "stats.h"
#include "synthframes.h"

#define LIST_MAX 32
#define CAPTURE_TIMEOUT_MS 10000
#define MAGNIFY 3
#define GAP 4

/* One frame of the study: packed RGB on the heap, and its text rectangle. */
typedef struct study_frame {
    const char *name;
    int width, height;
    uint8_t *rgb;
    int crop_x, crop_y, crop_w, crop_h;  /* crop_w == 0: none */
} study_frame;

typedef struct settings {
    int runs;
    int qualities[LIST_MAX], n_qualities;
    int subsamplings[LIST_MAX], n_subsamplings;
    const char *out_dir;
    vga_font font;
    int have_font;
} settings;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* "60,65,70" into list; returns the count, or -1. */
static int parse_list(const char *text, int *list)
{
    int n = 0;
    const char *p = text;
    while (*p && n < LIST_MAX) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ','))
            return -1;
        list[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return n > 0 && !*p ? n : -1;
}

/* Copies a frame into a packed heap buffer (pitch = width * 3). */
static int take_frame(const frame *f, study_frame *sf)
{
    sf->width = f->width;
    sf->height = f->height;
    sf->rgb = malloc((size_t)f->width * (size_t)f->height * 3);
    if (!sf->rgb)
        return -1;
    for (int y = 0; y < f->height; y++)
        memcpy(sf->rgb + (size_t)y * (size_t)f->width * 3, f->pixels + (size_t)y * f->pitch,
               (size_t)f->width * 3);
    return 0;
}

static int capture_qmp(const char *socket_path, study_frame *sf)
{
    console_conn *conn;
    int r = qmp_driver.connect(socket_path, CAPTURE_TIMEOUT_MS, &conn);
    if (r != CONSOLE_OK) {
        fprintf(stderr, "jpegstudy: cannot connect to %s (console result %d)\n", socket_path, r);
        return -1;
    }
    frame f = {0};
    r = qmp_driver.capture(conn, CAPTURE_TIMEOUT_MS, &f);
    if (r == CONSOLE_OK)
        r = take_frame(&f, sf);
    else
        fprintf(stderr, "jpegstudy: capture from %s failed (console result %d)\n", socket_path, r);
    frame_release(&f);
    qmp_driver.disconnect(conn);
    return r == CONSOLE_OK ? 0 : -1;
}

static int read_ppm(const char *path, study_frame *sf)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 20, len = 0;
    uint8_t *data = malloc(cap);
    size_t got;
    while (data && (got = fread(data + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *bigger = realloc(data, cap *= 2);
            if (!bigger)
                free(data);
            data = bigger;
        }
    }
    fclose(f);
    frame fr = {0};
    int rc = data && ppm_parse(data, len, &fr) == 0 ? take_frame(&fr, sf) : -1;
    if (rc < 0)
        fprintf(stderr, "jpegstudy: %s is not a P6 PPM ecshot reads\n", path);
    free(data);
    return rc;
}

static int synthesize(const char *what, const settings *s, study_frame *sf)
{
    sf->width = 1024;
    sf->height = 768;
    sf->rgb = malloc(1024 * 768 * 3);
    if (!sf->rgb)
        return -1;
    const vga_font *font = s->have_font ? &s->font : NULL;
    if (strcmp(what, "console") == 0)
        return synth_console(sf->rgb, 1024, 768, font);
    if (strcmp(what, "desktop") == 0)
        return synth_desktop(sf->rgb, 1024, 768, font);
    fprintf(stderr, "jpegstudy: synth:%s? (console or desktop)\n", what);
    return -1;
}

/* NAME=SOURCE[@X,Y,W,H] into sf (spec is modified). */
static int load_frame(char *spec, const settings *s, study_frame *sf)
{
    char *eq = strchr(spec, '=');
    if (!eq) {
        fprintf(stderr, "jpegstudy: %s: want NAME=SOURCE[@X,Y,W,H]\n", spec);
        return -1;
    }
    *eq = '\0';
    sf->name = spec;
    char *source = eq + 1, *at = strrchr(source, '@');
    if (at) {
        *at = '\0';
        if (sscanf(at + 1, "%d,%d,%d,%d", &sf->crop_x, &sf->crop_y, &sf->crop_w, &sf->crop_h) != 4 ||
            sf->crop_w < 1 || sf->crop_h < 1) {
            fprintf(stderr, "jpegstudy: %s: bad rectangle %s\n", spec, at + 1);
            return -1;
        }
    }
    int rc;
    if (strncmp(source, "qmp:", 4) == 0)
        rc = capture_qmp(source + 4, sf);
    else if (strncmp(source, "synth:", 6) == 0)
        rc = synthesize(source + 6, s, sf);
    else if (strncmp(source, "ppm:", 4) == 0)
        rc = read_ppm(source + 4, sf);
    else {
        fprintf(stderr, "jpegstudy: %s: unknown source %s\n", spec, source);
        rc = -1;
    }
    if (rc == 0 && sf->crop_w &&
        (sf->crop_x < 0 || sf->crop_y < 0 || sf->crop_x + sf->crop_w > sf->width ||
         sf->crop_y + sf->crop_h > sf->height)) {
        fprintf(stderr, "jpegstudy: %s: the rectangle is outside the %dx%d frame\n", spec,
                sf->width, sf->height);
        rc = -1;
    }
    return rc;
}

static int write_png(const char *path, const uint8_t *rgb, int w, int h)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return -1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        fprintf(stderr, "jpegstudy: cannot write %s\n", path);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(rgb + (size_t)y * (size_t)w * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0 ? 0 : -1;
}

/* The crops sheet: (1 + qualities) rows, one column per subsampling, each
 * cell the rectangle magnified, GAP grey pixels between cells. */
typedef struct sheet {
    uint8_t *rgb;
    int w, h, cell_w, cell_h;
} sheet;

static int sheet_new(sheet *sh, const study_frame *sf, const settings *s)
{
    sh->cell_w = sf->crop_w * MAGNIFY;
    sh->cell_h = sf->crop_h * MAGNIFY;
    sh->w = s->n_subsamplings * (sh->cell_w + GAP) + GAP;
    sh->h = (s->n_qualities + 1) * (sh->cell_h + GAP) + GAP;
    sh->rgb = malloc((size_t)sh->w * (size_t)sh->h * 3);
    if (!sh->rgb)
        return -1;
    memset(sh->rgb, 128, (size_t)sh->w * (size_t)sh->h * 3);
    return 0;
}

/* Puts the rectangle of rgb (the frame's size) magnified at cell (col, row). */
static void sheet_put(sheet *sh, int col, int row, const uint8_t *rgb, const study_frame *sf)
{
    int x0 = GAP + col * (sh->cell_w + GAP), y0 = GAP + row * (sh->cell_h + GAP);
    for (int y = 0; y < sh->cell_h; y++) {
        const uint8_t *src = rgb + ((size_t)(sf->crop_y + y / MAGNIFY) * (size_t)sf->width +
                                    (size_t)sf->crop_x) * 3;
        uint8_t *dst = sh->rgb + ((size_t)(y0 + y) * (size_t)sh->w + (size_t)x0) * 3;
        for (int x = 0; x < sh->cell_w; x++)
            memcpy(dst + x * 3, src + (x / MAGNIFY) * 3, 3);
    }
}

/* What one setting gives on one frame. */
typedef struct result {
    size_t bytes;
    double enc_ms;
    fidelity fid;
} result;

/* Encodes sf runs times at (quality, subsampling) with ecshot's encoder;
 * decodes the JPEG into decoded (the frame's size) and measures it. */
static int study(const study_frame *sf, int quality, int subsampling, int runs, tjhandle dec,
                 uint8_t *decoded, result *res)
{
    jpeg_options opt = {quality, subsampling};
    jpeg_encoder *enc = jpeg_encoder_new(&opt);
    double *ms = malloc((size_t)runs * sizeof *ms);
    if (!enc || !ms) {
        fprintf(stderr, "jpegstudy: no encoder for quality %d, %d\n", quality, subsampling);
        jpeg_encoder_free(enc);
        free(ms);
        return -1;
    }
    frame f = {.width = sf->width, .height = sf->height, .pitch = (size_t)sf->width * 3,
               .pixels = sf->rgb};
    const uint8_t *jpeg = NULL;
    size_t len = 0;
    int rc = 0;
    for (int i = 0; i < runs && rc == 0; i++) {
        double t0 = now_ms();
        rc = jpeg_encode(enc, &f, &jpeg, &len);
        ms[i] = now_ms() - t0;
    }
    if (rc == 0 && tjDecompress2(dec, jpeg, (unsigned long)len, decoded, sf->width, 0, sf->height,
                                 TJPF_RGB, TJFLAG_ACCURATEDCT) != 0) {
        fprintf(stderr, "jpegstudy: tjDecompress2: %s\n", tjGetErrorStr2(dec));
        rc = -1;
    }
    if (rc == 0) {
        res->bytes = len;
        res->enc_ms = percentile(ms, runs, 50);
        size_t pitch = (size_t)sf->width * 3;
        rc = fidelity_measure(sf->rgb, pitch, decoded, pitch, sf->width, sf->height, &res->fid);
    }
    jpeg_encoder_free(enc);
    free(ms);
    return rc;
}

static int study_frame_all(const study_frame *sf, const settings *s, tjhandle dec)
{
    uint8_t *decoded = malloc((size_t)sf->width * (size_t)sf->height * 3);
    sheet sh = {0};
    char path[4096];
    int rc = decoded ? 0 : -1;
    int crops = s->out_dir && sf->crop_w;
    if (rc == 0 && s->out_dir) {
        snprintf(path, sizeof path, "%s/%s.png", s->out_dir, sf->name);
        rc = write_png(path, sf->rgb, sf->width, sf->height);
    }
    if (rc == 0 && crops && sheet_new(&sh, sf, s) == 0)
        for (int c = 0; c < s->n_subsamplings; c++)
            sheet_put(&sh, c, 0, sf->rgb, sf);

    result ref;
    if (rc == 0)
        rc = study(sf, JPEG_DEFAULT_QUALITY, JPEG_DEFAULT_SUBSAMPLING, s->runs, dec, decoded, &ref);
    for (int c = 0; c < s->n_subsamplings && rc == 0; c++) {
        for (int q = 0; q < s->n_qualities && rc == 0; q++) {
            int quality = s->qualities[q], samp = s->subsamplings[c];
            result r;
            rc = study(sf, quality, samp, s->runs, dec, decoded, &r);
            if (rc < 0)
                break;
            char label[64];
            snprintf(label, sizeof label, "%s %dx%d", sf->name, sf->width, sf->height);
            printf("%-28s %d:%d:%d %3d %7.1f %6.2fx %7.2f %6.2fx %6.2f %7.4f %7.4f%s\n", label,
                   samp / 100, samp / 10 % 10, samp % 10, quality, (double)r.bytes / 1024,
                   (double)r.bytes / (double)ref.bytes, r.enc_ms, r.enc_ms / ref.enc_ms,
                   r.fid.psnr_db, r.fid.ssim_y, (r.fid.ssim_cb + r.fid.ssim_cr) / 2,
                   quality == JPEG_DEFAULT_QUALITY && samp == JPEG_DEFAULT_SUBSAMPLING
                       ? "  (default)" : "");
            fflush(stdout);
            if (sh.rgb)
                sheet_put(&sh, c, q + 1, decoded, sf);
        }
    }
    if (rc == 0 && sh.rgb) {
        snprintf(path, sizeof path, "%s/%s-crops.png", s->out_dir, sf->name);
        rc = write_png(path, sh.rgb, sh.w, sh.h);
    }
    free(sh.rgb);
    free(decoded);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: ecshot-jpegstudy [--runs N] [--qualities Q,Q...] "
                    "[--subsamplings S,S...] [--font VGA_ROM] [--out DIR] "
                    "NAME=SOURCE[@X,Y,W,H]...\n"
                    "  SOURCE: qmp:SOCKET | synth:console | synth:desktop | ppm:FILE\n");
    return 2;
}

int main(int argc, char **argv)
{
    static settings s = {.runs = 20,
                         .qualities = {60, 65, 70, 75, 80, 85, 90}, .n_qualities = 7,
                         .subsamplings = {420, 444}, .n_subsamplings = 2};
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc)
            return usage();
        const char *v = argv[i + 1];
        if (strcmp(argv[i], "--runs") == 0) {
            s.runs = atoi(v);
            if (s.runs < 1)
                return usage();
        } else if (strcmp(argv[i], "--qualities") == 0) {
            if ((s.n_qualities = parse_list(v, s.qualities)) < 0)
                return usage();
        } else if (strcmp(argv[i], "--subsamplings") == 0) {
            if ((s.n_subsamplings = parse_list(v, s.subsamplings)) < 0)
                return usage();
        } else if (strcmp(argv[i], "--font") == 0) {
            if (vga_font_load(v, &s.font) < 0)
                return 1;
            s.have_font = 1;
        } else if (strcmp(argv[i], "--out") == 0) {
            s.out_dir = v;
            if (mkdir(v, 0755) < 0 && errno != EEXIST) {
                perror(v);
                return 1;
            }
        } else {
            return usage();
        }
    }
    if (i >= argc)
        return usage();

    tjhandle dec = tjInitDecompress();
    if (!dec) {
        fprintf(stderr, "jpegstudy: tjInitDecompress: %s\n", tjGetErrorStr2(NULL));
        return 1;
    }
    printf("%-28s %5s %3s %7s %7s %7s %7s %6s %7s %7s\n", "frame", "samp", "q", "kb", "kb_x",
           "enc_ms", "enc_x", "psnr", "ssim_y", "ssim_c");
    int failed = 0;
    for (; i < argc; i++) {
        study_frame sf = {0};
        if (load_frame(argv[i], &s, &sf) < 0 || study_frame_all(&sf, &s, dec) < 0)
            failed = 1;
        free(sf.rgb);
    }
    tjDestroy(dec);
    return failed;
}
