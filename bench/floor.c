/* floor.c: the capture floor, what one screenshot costs without HTTP.
 *
 *   ecshot-floor SOCKET_PATH [N]
 *
 * Connects to a VM's QMP socket with the qmp console driver and runs N
 * iterations (default 200) of what a request does after its checks:
 * capture (screendump into a memfd), JPEG encode (default options) and
 * base64. Prints one line:
 *   floor width=W height=H n=N median_ms=M p95_ms=P jpeg_bytes=J base64_bytes=B
 *         capture_median_ms=C jpeg_median_ms=E base64_median_ms=S
 * The first three stage medians say where the time goes. Exit status 1 when
 * any iteration failed. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "console/backends.h"
#include "console/console.h"
#include "image/image.h"
#include "util/buf.h"

#include "stats.h"

#define FLOOR_TIMEOUT_MS 10000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: ecshot-floor SOCKET_PATH [N]\n");
        return 2;
    }
    int n = argc == 3 ? atoi(argv[2]) : 200;
    if (n < 1)
        n = 1;

    console_conn *conn;
    int r = qmp_driver.connect(argv[1], FLOOR_TIMEOUT_MS, &conn);
    if (r != CONSOLE_OK) {
        fprintf(stderr, "ecshot-floor: cannot connect to %s (console result %d)\n", argv[1], r);
        return 1;
    }
    jpeg_encoder *enc = jpeg_encoder_new(NULL);
    double *total = calloc((size_t)n, sizeof *total);
    double *cap = calloc((size_t)n, sizeof *cap);
    double *jpg = calloc((size_t)n, sizeof *jpg);
    double *b64 = calloc((size_t)n, sizeof *b64);
    if (!enc || !total || !cap || !jpg || !b64) {
        fprintf(stderr, "ecshot-floor: out of memory\n");
        return 1;
    }

    buf text = BUF_INIT;
    int width = 0, height = 0, failures = 0;
    size_t jpeg_bytes = 0;
    for (int i = 0; i < n; i++) {
        frame f = {0};
        const uint8_t *out = NULL;
        size_t out_len = 0;
        buf_reset(&text);
        double t0 = now_ms();
        r = qmp_driver.capture(conn, FLOOR_TIMEOUT_MS, &f);
        double t1 = now_ms();
        if (r == CONSOLE_OK && jpeg_encode(enc, &f, &out, &out_len) < 0)
            r = CONSOLE_ERROR;
        double t2 = now_ms();
        if (r == CONSOLE_OK && base64_append(&text, out, out_len) < 0)
            r = CONSOLE_ERROR;
        double t3 = now_ms();
        if (r != CONSOLE_OK) {
            fprintf(stderr, "ecshot-floor: iteration %d failed (%d)\n", i, r);
            failures++;
        }
        width = f.width;
        height = f.height;
        jpeg_bytes = out_len;
        frame_release(&f);
        total[i] = t3 - t0;
        cap[i] = t1 - t0;
        jpg[i] = t2 - t1;
        b64[i] = t3 - t2;
    }

    double median = percentile(total, n, 50), p95 = percentile(total, n, 95);
    printf("floor width=%d height=%d n=%d median_ms=%.2f p95_ms=%.2f jpeg_bytes=%zu "
           "base64_bytes=%zu capture_median_ms=%.2f jpeg_median_ms=%.2f base64_median_ms=%.3f\n",
           width, height, n, median, p95, jpeg_bytes, text.len, percentile(cap, n, 50),
           percentile(jpg, n, 50), percentile(b64, n, 50));

    buf_free(&text);
    free(total);
    free(cap);
    free(jpg);
    free(b64);
    jpeg_encoder_free(enc);
    qmp_driver.disconnect(conn);
    return failures ? 1 : 0;
}
