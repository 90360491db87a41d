/* fuzz_frame_check.h: what every decoded frame must be, for fuzz_ppm and fuzz_png.
 *
 * Sizes within 1..FRAME_MAX_DIM, a pitch that holds a row, and every pixel
 * readable: all bytes are summed, so that AddressSanitizer sees a read of
 * each one. */
#ifndef ECSHOT_FUZZ_FRAME_CHECK_H
#define ECSHOT_FUZZ_FRAME_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"
#include "image/image.h"

/* Where the sum goes, so that the compiler cannot drop the reads. */
static volatile unsigned fuzz_frame_sink;

static inline void fuzz_check_frame(const frame *f)
{
    FUZZ_CHECK(f->width >= 1 && f->width <= FRAME_MAX_DIM);
    FUZZ_CHECK(f->height >= 1 && f->height <= FRAME_MAX_DIM);
    FUZZ_CHECK(f->pitch >= (size_t)f->width * 3);
    FUZZ_CHECK(f->pixels != NULL);
    unsigned sum = 0;
    for (int y = 0; y < f->height; y++) {
        const uint8_t *row = f->pixels + f->pitch * (size_t)y;
        for (size_t x = 0; x < (size_t)f->width * 3; x++)
            sum += row[x];
    }
    fuzz_frame_sink = sum;
}

#endif
