/* png.c: decodes the PNG screenshots libvirt hands over into a heap RGB frame.
 *
 * libvirt's virDomainScreenshot returns whatever QEMU's screendump wrote,
 * which is a PNG when QEMU supports that format. The bytes come from a
 * hypervisor, possibly over the network, so the decoder is strict: the
 * dimensions are limited to FRAME_MAX_DIM before any pixel memory is
 * allocated, ancillary chunks get a small memory budget, every read checks
 * the remaining length, and a malformed or truncated image is an error,
 * never a crash or a partial frame.
 *
 * Any PNG colour type and depth is accepted and brought to 8-bit RGB with
 * libpng's own transforms (palette and low-depth grey expanded, 16 bits
 * scaled, grey widened, alpha dropped). No gamma correction is applied:
 * the samples are the guest's framebuffer values and stay exact.
 *
 * libpng reports errors by longjmp. The setjmp lives in read_png, whose
 * state is kept in a struct owned by its caller: nothing local to the
 * function that calls setjmp changes between setjmp and a longjmp, which
 * is what makes the jump safe (C11 7.13.2.1). */
#include "image/image.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* Memory libpng may spend on one ancillary chunk (text, ICC profile, ...);
 * a screenshot needs none of them. */
#define PNG_CHUNK_MEMORY_MAX ((png_alloc_size_t)1 << 20)
/* How many ancillary chunks libpng keeps before it gives up on the file. */
#define PNG_CHUNK_COUNT_MAX 256
#define PNG_SIGNATURE_LEN 8

/* What read_png works on; it lives in png_decode's frame. */
typedef struct png_source {
    const uint8_t *data;
    size_t len;
    size_t pos;
    uint8_t *pixels;      /* heap, width * 3 * height, once IHDR is checked */
    png_bytep *rows;      /* heap, row pointers into pixels */
    png_uint_32 width;
    png_uint_32 height;
} png_source;

/* libpng's read callback: exactly n bytes or an error (truncated file). */
static void read_bytes(png_structp png, png_bytep out, size_t n)
{
    png_source *src = png_get_io_ptr(png);
    if (n > src->len - src->pos)
        png_error(png, "truncated image");
    memcpy(out, src->data + src->pos, n);
    src->pos += n;
}

/* libpng would print to stderr; the reason goes to the debug log instead
 * (the caller logs the failure itself) and control returns to read_png. */
static void on_error(png_structp png, png_const_charp msg)
{
    log_debug("png: %s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    log_debug("png: warning: %s", msg);
}

/* Asks libpng for 8-bit RGB whatever the file holds. */
static void request_rgb8(png_structp png)
{
    png_set_expand(png);        /* palette to RGB, grey < 8 bits to 8, tRNS to alpha */
    png_set_scale_16(png);      /* 16-bit samples to 8 */
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
}

/* Reads the whole image into src->pixels. Returns 0, or -1 when libpng
 * found the file unusable (src may then hold memory the caller frees). */
static int read_png(png_structp png, png_infop info, png_source *src)
{
    if (setjmp(png_jmpbuf(png)))
        return -1;
    png_set_read_fn(png, src, read_bytes);
    png_set_user_limits(png, FRAME_MAX_DIM, FRAME_MAX_DIM);
    png_set_chunk_malloc_max(png, PNG_CHUNK_MEMORY_MAX);
    png_set_chunk_cache_max(png, PNG_CHUNK_COUNT_MAX);
    png_read_info(png, info);

    src->width = png_get_image_width(png, info);
    src->height = png_get_image_height(png, info);
    if (src->width == 0 || src->height == 0 || src->width > FRAME_MAX_DIM ||
        src->height > FRAME_MAX_DIM)
        png_error(png, "image size out of range");
    request_rgb8(png);
    png_read_update_info(png, info);
    size_t pitch = (size_t)src->width * 3;
    if (png_get_rowbytes(png, info) != pitch || png_get_bit_depth(png, info) != 8)
        png_error(png, "transforms did not give 8-bit RGB");

    /* Both dimensions are at most FRAME_MAX_DIM: no product can overflow. */
    src->pixels = malloc(pitch * src->height);
    src->rows = malloc(sizeof *src->rows * src->height);
    if (!src->pixels || !src->rows)
        png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < src->height; y++)
        src->rows[y] = src->pixels + pitch * y;
    png_read_image(png, src->rows);
    png_read_end(png, NULL); /* up to IEND: a cut-off file is refused */
    return 0;
}

static void release_heap(frame *f)
{
    free(f->owner_data);
    f->owner_data = NULL;
    f->owner_size = 0;
}

int png_decode(const uint8_t *data, size_t len, frame *f)
{
    if (!data || !f || len < PNG_SIGNATURE_LEN || png_sig_cmp(data, 0, PNG_SIGNATURE_LEN) != 0)
        return -1;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        log_error("png: out of memory");
        return -1;
    }
    png_source src = {data, len, 0, NULL, NULL, 0, 0};
    int r = read_png(png, info, &src);
    png_destroy_read_struct(&png, &info, NULL);
    free(src.rows);
    if (r < 0) {
        free(src.pixels);
        return -1;
    }
    memset(f, 0, sizeof *f);
    f->width = (int)src.width;
    f->height = (int)src.height;
    f->pitch = (size_t)src.width * 3;
    f->pixels = src.pixels;
    f->release = release_heap;
    f->owner_data = src.pixels;
    f->owner_size = f->pitch * src.height;
    return 0;
}
