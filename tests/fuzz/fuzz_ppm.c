/* fuzz_ppm.c: the screendump reader (ppm_parse in image/ppm.c).
 *
 * The input is the file QEMU wrote. It is copied into a buffer of exactly
 * its size, so AddressSanitizer catches a read one byte past the end.
 * Checked on every input: an accepted frame lies inside the input, starts
 * after a "P6" header, and has sane dimensions (fuzz_frame_check.h); a
 * refused one is just -1. The accepted frame is then
 * encoded to JPEG now and then (cheap sizes only), as the capture path
 * does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_frame_check.h"
#include "image/image.h"

static jpeg_encoder *encoder;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);

    frame f;
    if (ppm_parse(copy, size, &f) == 0) {
        fuzz_check_frame(&f);
        FUZZ_CHECK(f.pitch == (size_t)f.width * 3);
        FUZZ_CHECK(f.pixels > copy + 2);
        FUZZ_CHECK(f.pixels + f.pitch * (size_t)f.height <= copy + size);
        FUZZ_CHECK(f.release == NULL);
        if ((size_t)f.width * (size_t)f.height <= 64 * 64) {
            if (!encoder) {
                jpeg_options opt = {JPEG_DEFAULT_QUALITY, JPEG_DEFAULT_SUBSAMPLING};
                encoder = jpeg_encoder_new(&opt);
                FUZZ_CHECK(encoder != NULL);
            }
            const uint8_t *jpg;
            size_t jpg_len;
            FUZZ_CHECK(jpeg_encode(encoder, &f, &jpg, &jpg_len) == 0);
            FUZZ_CHECK(jpg_len > 4 && jpg[0] == 0xff && jpg[1] == 0xd8);
        }
    }
    free(copy);
    return 0;
}
