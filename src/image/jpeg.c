/* jpeg.c: frame to JPEG with TurboJPEG.
 *
 * One encoder per thread (a tjhandle is not thread-safe). The encoder owns
 * its output buffer, sized with tjBufSize for the largest frame seen so far
 * and reused, so a steady stream of same-sized screenshots allocates
 * nothing; TJFLAG_NOREALLOC then guarantees TurboJPEG never swaps the buffer
 * behind our back. Pixels are read in place with the frame's pitch. */
#include "image/image.h"

#include <limits.h>
#include <stdlib.h>
#include <turbojpeg.h>

#include "util/log.h"

struct jpeg_encoder {
    tjhandle tj;
    int quality;
    int tj_subsamp;         /* TJSAMP_* */
    unsigned char *out;     /* tjAlloc'd, cap bytes */
    unsigned long cap;
};

/* 444/422/420 as TurboJPEG names them, or -1. */
static int tj_subsampling(int subsampling)
{
    switch (subsampling) {
    case 444:
        return TJSAMP_444;
    case 422:
        return TJSAMP_422;
    case 420:
        return TJSAMP_420;
    default:
        return -1;
    }
}

jpeg_encoder *jpeg_encoder_new(const jpeg_options *opt)
{
    jpeg_options defaults = {JPEG_DEFAULT_QUALITY, JPEG_DEFAULT_SUBSAMPLING};
    if (!opt)
        opt = &defaults;
    int samp = tj_subsampling(opt->subsampling);
    if (opt->quality < 1 || opt->quality > 100 || samp < 0)
        return NULL;

    jpeg_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->tj = tjInitCompress();
    if (!e->tj) {
        log_error("jpeg: tjInitCompress: %s", tjGetErrorStr2(NULL));
        free(e);
        return NULL;
    }
    e->quality = opt->quality;
    e->tj_subsamp = samp;
    return e;
}

void jpeg_encoder_free(jpeg_encoder *e)
{
    if (!e)
        return;
    tjFree(e->out);
    tjDestroy(e->tj);
    free(e);
}

/* Makes the output buffer hold the worst case for a w x h image. */
static int reserve_output(jpeg_encoder *e, int w, int h)
{
    unsigned long need = tjBufSize(w, h, e->tj_subsamp);
    if (need == (unsigned long)-1 || need > INT_MAX)
        return -1;
    if (need <= e->cap)
        return 0;
    tjFree(e->out);
    e->out = tjAlloc((int)need);
    e->cap = e->out ? need : 0;
    return e->out ? 0 : -1;
}

int jpeg_encode(jpeg_encoder *e, const frame *f, const uint8_t **out, size_t *out_len)
{
    if (!e || !f || !f->pixels || f->width < 1 || f->height < 1 || f->width > FRAME_MAX_DIM ||
        f->height > FRAME_MAX_DIM || f->pitch < (size_t)f->width * 3 || f->pitch > INT_MAX)
        return -1;
    if (reserve_output(e, f->width, f->height) < 0) {
        log_error("jpeg: cannot allocate the output for %dx%d", f->width, f->height);
        return -1;
    }

    unsigned char *dst = e->out;
    unsigned long size = e->cap;
    if (tjCompress2(e->tj, f->pixels, f->width, (int)f->pitch, f->height, TJPF_RGB, &dst, &size,
                    e->tj_subsamp, e->quality, TJFLAG_NOREALLOC) != 0) {
        log_error("jpeg: tjCompress2: %s", tjGetErrorStr2(e->tj));
        return -1;
    }
    *out = dst;
    *out_len = size;
    return 0;
}
