/* ppm.c: reads QEMU's screendump, a binary P6 PPM, without copying it.
 *
 * The header follows netpbm: "P6", width, height and maxval as decimal
 * numbers separated by whitespace, where a '#' starts a comment that runs to
 * the end of its line and counts as that line end. Exactly one whitespace
 * byte follows maxval; the raster starts right after it. Only maxval 255
 * (one byte per channel) is accepted: that is what QEMU writes and what the
 * encoder reads. The bytes come from a hypervisor, so every step checks the
 * length before it reads and no size is computed that could overflow. */
#include "image/image.h"

#include <string.h>

/* Header cursor over the caller's bytes. */
typedef struct ppm_reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
} ppm_reader;

static int is_pnm_space(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Next header byte, with a comment collapsed into the line end that closes
 * it (as netpbm's pm_getc does). Returns -1 at the end of the data. */
static int ppm_getc(ppm_reader *r)
{
    if (r->pos >= r->len)
        return -1;
    int ch = r->p[r->pos++];
    if (ch != '#')
        return ch;
    while (r->pos < r->len) {
        ch = r->p[r->pos++];
        if (ch == '\n' || ch == '\r')
            return ch;
    }
    return -1; /* a comment that never ends leaves no room for a raster */
}

/* Reads one unsigned decimal after optional whitespace and consumes the
 * byte that ends it, which must be whitespace. Values above limit fail. */
static int ppm_number(ppm_reader *r, unsigned limit, unsigned *out)
{
    int ch;
    do {
        ch = ppm_getc(r);
    } while (ch >= 0 && is_pnm_space(ch));

    unsigned v = 0;
    int digits = 0;
    while (ch >= '0' && ch <= '9') {
        v = v * 10 + (unsigned)(ch - '0');
        if (v > limit)
            return -1; /* stops before v * 10 could wrap */
        digits++;
        ch = ppm_getc(r);
    }
    if (digits == 0 || ch < 0 || !is_pnm_space(ch))
        return -1;
    *out = v;
    return 0;
}

int ppm_parse(const uint8_t *data, size_t len, frame *f)
{
    if (!data || len < 3 || data[0] != 'P' || data[1] != '6')
        return -1;
    ppm_reader r = {data, len, 2};

    /* The magic must be separated from the width by whitespace or a comment. */
    if (!is_pnm_space(data[2]) && data[2] != '#')
        return -1;

    unsigned width, height, maxval;
    if (ppm_number(&r, FRAME_MAX_DIM, &width) < 0 || ppm_number(&r, FRAME_MAX_DIM, &height) < 0 ||
        ppm_number(&r, 65535, &maxval) < 0)
        return -1;
    if (width == 0 || height == 0 || maxval != 255)
        return -1;

    /* Both are at most FRAME_MAX_DIM, so this cannot overflow a size_t. */
    size_t pitch = (size_t)width * 3;
    size_t need = pitch * height;
    if (len - r.pos < need)
        return -1;

    memset(f, 0, sizeof *f);
    f->width = (int)width;
    f->height = (int)height;
    f->pitch = pitch;
    f->pixels = data + r.pos;
    return 0;
}
