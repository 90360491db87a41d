/* peer.c: what one screenshot costs on the path ecshot's peers take, libvirt's.
 *
 *   ecshot-peer virsh URI DOMAIN [N]
 *   ecshot-peer api URI DOMAIN [N]
 *
 * KubeVirt, Incus and scripts around `virsh screenshot` all capture through
 * virDomainScreenshot, which has QEMU write a PNG; an API like ecshot's then
 * has to turn that into a base64 JPEG. Each of N iterations (default 100)
 * does the whole of it:
 *   virsh  runs `virsh -q -c URI screenshot DOMAIN FILE` (a process per
 *          shot, as a script does) and reads FILE;
 *   api    calls virDomainScreenshot on one open connection and reads the
 *          stream, in a tight loop (what a service linked to libvirt does);
 * then decodes the PNG, encodes a JPEG (ecshot's default options, with
 * ecshot's own image code, so that only the capture path differs from
 * ecshot-floor) and writes base64. Prints one line:
 *   peer mode=M width=W height=H n=N median_ms=M p95_ms=P png_bytes=B
 *        jpeg_bytes=J shot_median_ms=S decode_median_ms=D jpeg_median_ms=E
 * Exit status 1 when any iteration failed. */
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/image.h"
#include "util/buf.h"
#include "util/timeutil.h"

#include "stats.h"

extern char **environ;

/* Largest screenshot read: an 8K PNG never comes near it. */
#define PEER_SHOT_MAX ((size_t)256 * 1024 * 1024)
#define PEER_CHUNK ((size_t)256 * 1024)

typedef struct peer {
    const char *uri;
    const char *domain;
    char file[64];            /* virsh: where it writes the image */
    virConnectPtr conn;       /* api */
    virDomainPtr dom;
} peer;

static double now_ms(void)
{
    return (double)clock_monotonic_us() / 1000.0;
}

/* Reads the whole of path into data (reset first). */
static int read_file(const char *path, buf *data)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    int r = fstat(fd, &st) == 0 && (size_t)st.st_size <= PEER_SHOT_MAX ? 0 : -1;
    buf_reset(data);
    if (r == 0 && buf_reserve(data, (size_t)st.st_size) < 0)
        r = -1;
    while (r == 0 && data->len < (size_t)st.st_size) {
        ssize_t n = read(fd, data->data + data->len, (size_t)st.st_size - data->len);
        if (n <= 0)
            r = -1;
        else
            data->len += (size_t)n;
    }
    close(fd);
    return r;
}

/* One `virsh screenshot` into p->file, then the file into data. */
static int shoot_virsh(peer *p, buf *data)
{
    char *argv[] = {"virsh", "-q", "-c", (char *)p->uri, "screenshot", (char *)p->domain, p->file,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    /* virsh names the file it wrote on stdout: not part of the answer. */
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int r = posix_spawnp(&pid, "virsh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        return -1;
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return read_file(p->file, data);
}

/* One virDomainScreenshot on the open connection, its stream into data. */
static int shoot_api(peer *p, buf *data)
{
    virStreamPtr st = virStreamNew(p->conn, 0);
    if (!st)
        return -1;
    char *mime = virDomainScreenshot(p->dom, st, 0, 0);
    if (!mime) {
        virStreamFree(st);
        return -1;
    }
    free(mime);
    buf_reset(data);
    int r = 0;
    for (;;) {
        if (data->len > PEER_SHOT_MAX || buf_reserve(data, PEER_CHUNK) < 0) {
            r = -1;
            break;
        }
        int n = virStreamRecv(st, data->data + data->len, PEER_CHUNK);
        if (n <= 0) {
            r = n;
            break;
        }
        data->len += (size_t)n;
    }
    if (r == 0)
        r = virStreamFinish(st);
    else
        virStreamAbort(st);
    virStreamFree(st);
    return r < 0 ? -1 : 0;
}

static int peer_open(peer *p, int api)
{
    if (!api) {
        snprintf(p->file, sizeof p->file, "/tmp/ecshot-peer.XXXXXX");
        int fd = mkstemp(p->file);
        if (fd < 0)
            return -1;
        close(fd);
        return 0;
    }
    p->conn = virConnectOpen(p->uri);
    if (!p->conn)
        return -1;
    p->dom = virDomainLookupByName(p->conn, p->domain);
    return p->dom ? 0 : -1;
}

static void peer_close(peer *p)
{
    if (p->file[0])
        unlink(p->file);
    if (p->dom)
        virDomainFree(p->dom);
    if (p->conn)
        virConnectClose(p->conn);
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5 || (strcmp(argv[1], "virsh") != 0 && strcmp(argv[1], "api") != 0)) {
        fprintf(stderr, "usage: ecshot-peer virsh|api URI DOMAIN [N]\n");
        return 2;
    }
    int api = strcmp(argv[1], "api") == 0;
    int n = argc == 5 ? atoi(argv[4]) : 100;
    if (n < 1)
        n = 1;
    peer p = {.uri = argv[2], .domain = argv[3]};
    if (peer_open(&p, api) < 0) {
        fprintf(stderr, "ecshot-peer: cannot reach %s on %s\n", p.domain, p.uri);
        peer_close(&p);
        return 1;
    }
    jpeg_encoder *enc = jpeg_encoder_new(NULL);
    double *total = calloc((size_t)n, sizeof *total);
    double *shot = calloc((size_t)n, sizeof *shot);
    double *dec = calloc((size_t)n, sizeof *dec);
    double *jpg = calloc((size_t)n, sizeof *jpg);
    if (!enc || !total || !shot || !dec || !jpg) {
        fprintf(stderr, "ecshot-peer: out of memory\n");
        return 1;
    }

    buf data = BUF_INIT, text = BUF_INIT;
    int width = 0, height = 0, failures = 0;
    size_t png_bytes = 0, jpeg_bytes = 0;
    for (int i = 0; i < n; i++) {
        frame f = {0};
        const uint8_t *out = NULL;
        size_t out_len = 0;
        buf_reset(&text);
        double t0 = now_ms();
        int r = api ? shoot_api(&p, &data) : shoot_virsh(&p, &data);
        double t1 = now_ms();
        if (r == 0)
            r = png_decode((const uint8_t *)data.data, data.len, &f);
        double t2 = now_ms();
        if (r == 0)
            r = jpeg_encode(enc, &f, &out, &out_len);
        if (r == 0)
            r = base64_append(&text, out, out_len);
        double t3 = now_ms();
        if (r != 0) {
            fprintf(stderr, "ecshot-peer: iteration %d failed\n", i);
            failures++;
        }
        width = f.width;
        height = f.height;
        png_bytes = data.len;
        jpeg_bytes = out_len;
        frame_release(&f);
        total[i] = t3 - t0;
        shot[i] = t1 - t0;
        dec[i] = t2 - t1;
        jpg[i] = t3 - t2;
    }

    double median = percentile(total, n, 50), p95 = percentile(total, n, 95);
    printf("peer mode=%s width=%d height=%d n=%d median_ms=%.2f p95_ms=%.2f png_bytes=%zu "
           "jpeg_bytes=%zu shot_median_ms=%.2f decode_median_ms=%.2f jpeg_median_ms=%.2f\n",
           argv[1], width, height, n, median, p95, png_bytes, jpeg_bytes, percentile(shot, n, 50),
           percentile(dec, n, 50), percentile(jpg, n, 50));

    buf_free(&data);
    buf_free(&text);
    free(total);
    free(shot);
    free(dec);
    free(jpg);
    jpeg_encoder_free(enc);
    peer_close(&p);
    return failures ? 1 : 0;
}
