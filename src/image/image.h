/* image.h: from a frame to the text the API returns: PPM or PNG in, JPEG, base64 out.
 *
 * ppm_parse reads QEMU's screendump (binary P6, maxval 255) without copying:
 * the frame points into the caller's bytes. png_decode reads the PNG that
 * libvirt's virDomainScreenshot returns into a heap frame of its own. The
 * JPEG encoder wraps a TurboJPEG handle, which is not thread-safe: keep one
 * per thread. */
#ifndef ECSHOT_IMAGE_IMAGE_H
#define ECSHOT_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "image/frame.h"
#include "util/buf.h"

/* Largest console ecshot accepts (QEMU's std VGA tops out at 16384x16384
 * in theory; nothing real is larger than 8K). */
#define FRAME_MAX_DIM 8192

/* Parses a P6 PPM. Returns 0 with f->pixels pointing into data, or -1 when
 * the bytes are not a complete P6 image of sane size (never reads past len). */
int ppm_parse(const uint8_t *data, size_t len, frame *f);

/* Decodes a PNG of any colour type and depth into 8-bit RGB. Returns 0 with
 * a heap frame (frame_release frees it; data may go at once), or -1 when the
 * bytes are not one complete PNG of 1..FRAME_MAX_DIM pixels a side. Never
 * reads past len; nothing is left allocated on failure. */
int png_decode(const uint8_t *data, size_t len, frame *f);

typedef struct jpeg_options {
    int quality;       /* 1..100 */
    int subsampling;   /* 444, 422 or 420 */
} jpeg_options;

/* From bench/jpeg.sh (docs/performance.md): at 75, 4:4:4 keeps coloured
 * console text clean and is a fifth smaller than 85 for the same encode
 * time; 4:2:0 would save about 1.2 ms at 1024x768 but smears colour edges. */
#define JPEG_DEFAULT_QUALITY 75
#define JPEG_DEFAULT_SUBSAMPLING 444

typedef struct jpeg_encoder jpeg_encoder;

jpeg_encoder *jpeg_encoder_new(const jpeg_options *opt);
void jpeg_encoder_free(jpeg_encoder *e);
/* Encodes f; *out points to memory owned by the encoder, valid until the
 * next call on it. Returns 0 or -1. */
int jpeg_encode(jpeg_encoder *e, const frame *f, const uint8_t **out, size_t *out_len);

/* Standard base64 (RFC 4648, with padding) appended to out. */
size_t base64_encoded_len(size_t n);
int base64_append(buf *out, const uint8_t *data, size_t n);
/* Decodes standard base64 (padding required, no whitespace); returns the
 * decoded length, or -1 on malformed input. out needs 3 * (len / 4) bytes. */
long base64_decode(const char *in, size_t len, uint8_t *out);

#endif
