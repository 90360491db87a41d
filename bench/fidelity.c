/* fidelity.c: PSNR and SSIM of a decoded JPEG against its source (see fidelity.h).
 *
 * SSIM needs, per pixel, the Gaussian-weighted means of x, y, x², y² and
 * xy over the window. The Gaussian is separable, so each of the five is a
 * horizontal pass then a vertical pass of an 11-tap filter: about 22
 * multiply-adds per value instead of 121. Only "valid" windows count (none
 * hanging over the edge), as in the reference implementation. */
#include "fidelity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WIN 11
#define HALF (WIN / 2)
#define SIGMA 1.5
#define C1 ((0.01 * 255) * (0.01 * 255))
#define C2 ((0.03 * 255) * (0.03 * 255))

enum { PLANE_Y, PLANE_CB, PLANE_CR };

/* JFIF's RGB to YCbCr (BT.601, full range), the conversion libjpeg applies. */
static void to_planes(const uint8_t *rgb, size_t pitch, int w, int h, float *planes[3])
{
    for (int y = 0; y < h; y++) {
        const uint8_t *p = rgb + (size_t)y * pitch;
        for (int x = 0; x < w; x++, p += 3) {
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            float r = p[0], g = p[1], b = p[2];
            planes[PLANE_Y][i] = 0.299f * r + 0.587f * g + 0.114f * b;
            planes[PLANE_CB][i] = -0.168736f * r - 0.331264f * g + 0.5f * b + 128.0f;
            planes[PLANE_CR][i] = 0.5f * r - 0.418688f * g - 0.081312f * b + 128.0f;
        }
    }
}

/* Filters src (w x h) with the window horizontally then vertically into
 * dst, which has the valid size (w - 2 HALF) x (h - 2 HALF); tmp holds
 * (w - 2 HALF) x h. */
static void blur(const float *src, int w, int h, const double *k, float *tmp, float *dst)
{
    int vw = w - 2 * HALF, vh = h - 2 * HALF;
    for (int y = 0; y < h; y++) {
        const float *row = src + (size_t)y * (size_t)w;
        float *out = tmp + (size_t)y * (size_t)vw;
        for (int x = 0; x < vw; x++) {
            double s = 0;
            for (int t = 0; t < WIN; t++)
                s += k[t] * row[x + t];
            out[x] = (float)s;
        }
    }
    for (int y = 0; y < vh; y++) {
        float *out = dst + (size_t)y * (size_t)vw;
        for (int x = 0; x < vw; x++) {
            double s = 0;
            for (int t = 0; t < WIN; t++)
                s += k[t] * tmp[(size_t)(y + t) * (size_t)vw + (size_t)x];
            out[x] = (float)s;
        }
    }
}

/* Mean SSIM of plane b against plane a; work holds 8 planes of w x h. */
static double ssim_plane(const float *a, const float *b, int w, int h, float *work)
{
    double k[WIN], sum = 0;
    for (int t = 0; t < WIN; t++)
        sum += k[t] = exp(-(double)((t - HALF) * (t - HALF)) / (2 * SIGMA * SIGMA));
    for (int t = 0; t < WIN; t++)
        k[t] /= sum;

    size_t n = (size_t)w * (size_t)h;
    float *aa = work, *bb = work + n, *ab = work + 2 * n, *tmp = work + 3 * n;
    float *mu_a = work + 4 * n, *mu_b = work + 5 * n, *s_aa = work + 6 * n, *s_bb = work + 7 * n;
    float *s_ab = aa; /* aa's room is free once s_aa is made; see the order below */
    for (size_t i = 0; i < n; i++) {
        aa[i] = a[i] * a[i];
        bb[i] = b[i] * b[i];
        ab[i] = a[i] * b[i];
    }
    blur(a, w, h, k, tmp, mu_a);
    blur(b, w, h, k, tmp, mu_b);
    blur(aa, w, h, k, tmp, s_aa);
    blur(bb, w, h, k, tmp, s_bb);
    blur(ab, w, h, k, tmp, s_ab);

    int vw = w - 2 * HALF, vh = h - 2 * HALF;
    double total = 0;
    for (size_t i = 0; i < (size_t)vw * (size_t)vh; i++) {
        double ma = mu_a[i], mb = mu_b[i];
        double va = s_aa[i] - ma * ma, vb = s_bb[i] - mb * mb, cov = s_ab[i] - ma * mb;
        total += ((2 * ma * mb + C1) * (2 * cov + C2)) /
                 ((ma * ma + mb * mb + C1) * (va + vb + C2));
    }
    return total / ((double)vw * (double)vh);
}

int fidelity_measure(const uint8_t *a, size_t pitch_a, const uint8_t *b, size_t pitch_b,
                     int width, int height, fidelity *out)
{
    if (width <= 2 * HALF || height <= 2 * HALF)
        return -1;
    size_t n = (size_t)width * (size_t)height;
    float *mem = malloc(n * 14 * sizeof *mem);
    if (!mem)
        return -1;
    float *pa[3] = {mem, mem + n, mem + 2 * n}, *pb[3] = {mem + 3 * n, mem + 4 * n, mem + 5 * n};
    float *work = mem + 6 * n;

    double se = 0;
    for (int y = 0; y < height; y++) {
        const uint8_t *ra = a + (size_t)y * pitch_a, *rb = b + (size_t)y * pitch_b;
        for (int x = 0; x < width * 3; x++) {
            double d = (double)ra[x] - (double)rb[x];
            se += d * d;
        }
    }
    double mse = se / ((double)n * 3);
    out->psnr_db = mse == 0 ? 99.0 : 10 * log10(255.0 * 255.0 / mse);

    to_planes(a, pitch_a, width, height, pa);
    to_planes(b, pitch_b, width, height, pb);
    out->ssim_y = ssim_plane(pa[PLANE_Y], pb[PLANE_Y], width, height, work);
    out->ssim_cb = ssim_plane(pa[PLANE_CB], pb[PLANE_CB], width, height, work);
    out->ssim_cr = ssim_plane(pa[PLANE_CR], pb[PLANE_CR], width, height, work);
    free(mem);
    return 0;
}
