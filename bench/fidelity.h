/* fidelity.h: how close a decoded JPEG is to the frame it was made from.
 *
 * Both images are packed RGB of the same size. PSNR is over all three
 * channels (the mean squared error of R, G and B together). SSIM is the
 * usual one of Wang et al. (2004): an 11x11 Gaussian window (sigma 1.5),
 * K1 = 0.01, K2 = 0.03, L = 255, averaged over every pixel whose window
 * fits, computed on the JPEG's own planes (BT.601 full-range Y, Cb, Cr, as
 * JFIF defines them), so that luma, which carries text, and chroma, which
 * subsampling halves, are judged apart. */
#ifndef ECSHOT_BENCH_FIDELITY_H
#define ECSHOT_BENCH_FIDELITY_H

#include <stddef.h>
#include <stdint.h>

typedef struct fidelity {
    double psnr_db;     /* 99 when the images are identical */
    double ssim_y;
    double ssim_cb;
    double ssim_cr;
} fidelity;

/* Compares b against a (width x height, rows pitch_a / pitch_b bytes
 * apart). Returns 0, or -1 when out of memory or the image is smaller than
 * the SSIM window. */
int fidelity_measure(const uint8_t *a, size_t pitch_a, const uint8_t *b, size_t pitch_b,
                     int width, int height, fidelity *out);

#endif
