/* fuzz_png.c: the PNG decoder for libvirt's screenshots (png_decode in
 * image/png.c).
 *
 * The input is the PNG, copied into a buffer of exactly its size.
 * Checked on every input: an accepted image is a heap frame of sane
 * dimensions whose every pixel is readable (fuzz_frame_check.h), with a
 * packed pitch and owner_size covering it, and frame_release frees it (the
 * leak checker at exit would name anything left); the input may be freed
 * before the frame is read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_frame_check.h"
#include "image/image.h"
#include "util/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);

    frame f;
    int r = png_decode(copy, size, &f);
    free(copy); /* the frame owns its pixels */
    if (r == 0) {
        fuzz_check_frame(&f);
        FUZZ_CHECK(f.pitch == (size_t)f.width * 3);
        FUZZ_CHECK(f.owner_size == f.pitch * (size_t)f.height);
        FUZZ_CHECK(f.release != NULL);
        frame_release(&f);
        FUZZ_CHECK(f.pixels == NULL && f.release == NULL);
    } else {
        FUZZ_CHECK(r == -1);
    }
    return 0;
}
