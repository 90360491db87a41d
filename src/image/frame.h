/* frame.h: a captured framebuffer, packed RGB, as a console backend hands it over.
 *
 * The pixels may live in memory the backend mapped (a memfd QEMU wrote into)
 * rather than on the heap: release tells the owner to unmap or free them, so
 * the encoder can read them in place without a copy. */
#ifndef ECSHOT_IMAGE_FRAME_H
#define ECSHOT_IMAGE_FRAME_H

#include <stddef.h>
#include <stdint.h>

typedef struct frame {
    int width;
    int height;
    size_t pitch;            /* bytes per row, >= width * 3 */
    const uint8_t *pixels;   /* RGB, 8 bits per channel, top row first */
    /* Owner's release hook and its data; NULL when nothing to free. */
    void (*release)(struct frame *f);
    void *owner_data;
    size_t owner_size;
} frame;

static inline void frame_release(frame *f)
{
    if (f->release)
        f->release(f);
    f->release = NULL;
    f->pixels = NULL;
}

#endif
