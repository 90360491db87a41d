/* synthframes.c: the drawn frames of the JPEG study (see synthframes.h).
 *
 * Everything here is deterministic: the "noise" comes from a fixed-seed
 * xorshift generator, so every run encodes the same pixels and the study's
 * sizes can be compared across runs and machines. */
#include "synthframes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CELL_W 8
#define CELL_H 16

typedef struct rgb {
    uint8_t r, g, b;
} rgb;

/* The 16 colours of the VGA palette, which fbcon uses too. */
static const rgb vga_colours[16] = {
    {0, 0, 0},       {0, 0, 170},    {0, 170, 0},    {0, 170, 170},
    {170, 0, 0},     {170, 0, 170},  {170, 85, 0},   {170, 170, 170},
    {85, 85, 85},    {85, 85, 255},  {85, 255, 85},  {85, 255, 255},
    {255, 85, 85},   {255, 85, 255}, {255, 255, 85}, {255, 255, 255},
};

/* 'A' and glyph 1 (a smiling face) of the IBM VGA 8x16 font. */
static const uint8_t glyph_A[16] = {0x00, 0x00, 0x10, 0x38, 0x6c, 0xc6, 0xc6, 0xfe,
                                    0xc6, 0xc6, 0xc6, 0xc6, 0x00, 0x00, 0x00, 0x00};
static const uint8_t glyph_face[16] = {0x00, 0x00, 0x7e, 0x81, 0xa5, 0x81, 0x81, 0xbd,
                                       0x99, 0x81, 0x81, 0x7e, 0x00, 0x00, 0x00, 0x00};

int vga_font_load(const char *rom_path, vga_font *font)
{
    FILE *f = fopen(rom_path, "rb");
    if (!f) {
        perror(rom_path);
        return -1;
    }
    static uint8_t rom[256 * 1024];
    size_t len = fread(rom, 1, sizeof rom, f);
    fclose(f);
    /* The font is 256 glyphs of 16 bytes: 'A' sits 0x41 glyphs in. */
    for (size_t at = 0x41 * 16; at + 16 <= len; at++) {
        size_t start = at - 0x41 * 16;
        if (start + sizeof font->glyph > len)
            break;
        if (memcmp(rom + at, glyph_A, 16) == 0 && memcmp(rom + start + 16, glyph_face, 16) == 0) {
            memcpy(font->glyph, rom + start, sizeof font->glyph);
            return 0;
        }
    }
    fprintf(stderr, "jpegstudy: no 8x16 VGA font in %s\n", rom_path);
    return -1;
}

/* xorshift32: reproducible noise. */
static uint32_t noise_state = 2463534242u;
static uint32_t next_random(void)
{
    uint32_t x = noise_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return noise_state = x;
}

/* Roughly Gaussian noise of about the given standard deviation. */
static double noise(double sd)
{
    double s = 0;
    for (int i = 0; i < 4; i++)
        s += (double)(next_random() & 0xffff) / 65535.0;
    return (s - 2.0) * sd * 1.732;
}

static uint8_t clamp8(double v)
{
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)(v + 0.5);
}

static void put(uint8_t *img, int w, int x, int y, rgb c)
{
    uint8_t *p = img + ((size_t)y * (size_t)w + (size_t)x) * 3;
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
}

/* Mixes c over the pixel at x, y with coverage a (0..1). */
static void blend(uint8_t *img, int w, int x, int y, rgb c, double a)
{
    uint8_t *p = img + ((size_t)y * (size_t)w + (size_t)x) * 3;
    p[0] = clamp8(p[0] + (c.r - p[0]) * a);
    p[1] = clamp8(p[1] + (c.g - p[1]) * a);
    p[2] = clamp8(p[2] + (c.b - p[2]) * a);
}

static void fill(uint8_t *img, int w, int h, int x0, int y0, int rw, int rh, rgb c)
{
    for (int y = y0 < 0 ? 0 : y0; y < y0 + rh && y < h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x0 + rw && x < w; x++)
            put(img, w, x, y, c);
}

/* One console cell: the glyph of ch in fg on bg (a bar without a font). */
static void draw_cell(uint8_t *img, int w, int col, int row, unsigned char ch, rgb fg, rgb bg,
                      const vga_font *font)
{
    for (int y = 0; y < CELL_H; y++) {
        uint8_t bits = font ? font->glyph[ch][y] : (ch != ' ' && y >= 4 && y < 12 ? 0x7e : 0);
        for (int x = 0; x < CELL_W; x++)
            put(img, w, col * CELL_W + x, row * CELL_H + y, bits & (0x80 >> x) ? fg : bg);
    }
}

/* A line of the console: text in fg on bg from column col; returns the
 * column after it. */
static int console_text(uint8_t *img, int w, int row, int col, const char *s, int fg, int bg,
                        const vga_font *font)
{
    for (; *s && col < w / CELL_W; s++, col++)
        draw_cell(img, w, col, row, (unsigned char)*s, vga_colours[fg], vga_colours[bg], font);
    return col;
}

int synth_console(uint8_t *img, int w, int h, const vga_font *font)
{
    if (w != 1024 || h != 768)
        return -1;
    static const char *devices[] = {"usb 1-1", "ata1.00", "e1000 0000:00:03.0 eth0",
                                    "EXT4-fs (vda1)", "virtio_blk virtio1", "systemd[1]",
                                    "audit",
                                    ("input: AT Translated Set 2 keyboard as "
                                     "/devices/platform/i8042/serio0/input/input1")};
    static const char *events[] = {"new high-speed USB device number 2 using xhci_hcd",
                                   "ATA-8: QEMU HARDDISK, 2.5+, max UDMA/100",
                                   "link is up 1000 Mbps full duplex, flow control RX/TX",
                                   "mounted filesystem with ordered data mode. Quota mode: none.",
                                   "[vda] 41943040 512-byte logical blocks (21.5 GB/20.0 GiB)",
                                   "Detected virtualization kvm.",
                                   "type=1403 audit(1733329261.420:2): auid=4294967295 ses=4294967295",
                                   ""};
    static const char *units[] = {"Journal Service", "Load Kernel Modules",
                                  "Remount Root and Kernel File Systems", "Network Time Synchronization",
                                  "OpenBSD Secure Shell server", "Login Service", "D-Bus System Message Bus",
                                  "Getty on tty1"};
    static const char *files[] = {"bin", "boot", "dev", "etc", "home", "initrd.img", "lib",
                                  "lost+found", "media", "mnt", "opt", "proc", "root", "run",
                                  "sbin", "srv", "sys", "tmp", "usr", "var", "vmlinuz"};
    char line[160];
    noise_state = 2463534242u;
    memset(img, 0, (size_t)w * (size_t)h * 3);
    int rows = h / CELL_H;
    double t = 0.5;
    for (int row = 0; row < rows - 1; row++) {
        int kind = row < 20 ? 0 : row < 32 ? 1 : row < 36 ? 2 : 3;
        uint32_t r = next_random();
        t += (double)(r % 900) / 10000.0;
        if (kind == 0) { /* the kernel's log: grey, with the time dim */
            snprintf(line, sizeof line, "[%5d.%06d] ", (int)t, (int)(r % 1000000));
            int col = console_text(img, w, row, 0, line, 7, 0, font);
            snprintf(line, sizeof line, "%s: %s", devices[r % 8], events[(r >> 8) % 8]);
            console_text(img, w, row, col, line, 7, 0, font);
        } else if (kind == 1) { /* systemd's boot lines: [  OK  ] in green */
            int failed = r % 11 == 0;
            int col = console_text(img, w, row, 0, "[", 7, 0, font);
            col = console_text(img, w, row, col, failed ? "FAILED" : "  OK  ", failed ? 12 : 10, 0,
                               font);
            col = console_text(img, w, row, col, "] ", 7, 0, font);
            snprintf(line, sizeof line, "%s %s.", failed ? "Failed to start" : "Started",
                     units[(r >> 4) % 8]);
            col = console_text(img, w, row, col, line, 7, 0, font);
            if (failed)
                console_text(img, w, row, col, " See 'systemctl status' for details.", 7, 0, font);
        } else if (kind == 2) { /* a prompt and a command */
            int col = console_text(img, w, row, 0, "root@i-bp67acfmxazb4p:", 10, 0, font);
            col = console_text(img, w, row, col, "~", 9, 0, font);
            col = console_text(img, w, row, col, "# ", 7, 0, font);
            console_text(img, w, row, col, row % 2 ? "ls --color /" : "dmesg | tail -n 5", 7, 0,
                         font);
        } else { /* ls --color: directories blue, links cyan, files grey */
            int col = 0;
            for (int k = 0; k < 8; k++) {
                const char *f = files[(row * 8 + k) % 21];
                int colour = strchr(f, '.') || f[0] == 'v' ? 11 : (k + row) % 5 == 0 ? 7 : 9;
                snprintf(line, sizeof line, "%-15s ", f);
                col = console_text(img, w, row, col, line, colour, 0, font);
            }
        }
    }
    /* A status line in colours on colour, as htop or mc draw them: the case
     * where chroma subsampling smears letters most. */
    int col = 0;
    static const char *keys[] = {"Help", "Setup", "Search", "Filter", "Tree", "SortBy", "Nice -",
                                 "Nice +", "Kill", "Quit"};
    for (int k = 0; k < 10; k++) {
        snprintf(line, sizeof line, "F%d", k + 1);
        col = console_text(img, w, rows - 1, col, line, 7, 0, font);
        snprintf(line, sizeof line, "%-8s", keys[k]);
        col = console_text(img, w, rows - 1, col, line, 0, 3, font);
    }
    while (col < w / CELL_W)
        col = console_text(img, w, rows - 1, col, " ", 0, 3, font);
    return 0;
}

/* A photo-like picture in the rectangle: sky, a soft sun, hills, a field
 * of "foliage" texture, and sensor noise; scale stretches the scene. */
static void photo(uint8_t *img, int w, int x0, int y0, int pw, int ph, double scale)
{
    for (int y = 0; y < ph; y++) {
        for (int x = 0; x < pw; x++) {
            double u = x / (pw * scale), v = (double)y / ph;
            double horizon = 0.55 + 0.08 * sin(u * 9.0) + 0.04 * sin(u * 23.0 + 1.0);
            double r, g, b;
            if (v < horizon) { /* sky, brighter at the horizon, and the sun */
                r = 70 + 140 * v;
                g = 120 + 100 * v;
                b = 200 + 40 * v;
                double dx = u - 0.7, dy = v - 0.25, d = sqrt(dx * dx + dy * dy);
                double sun = d < 0.06 ? 1 : d < 0.2 ? (0.2 - d) / 0.14 : 0;
                r += (255 - r) * sun;
                g += (235 - g) * sun;
                b += (170 - b) * sun * 0.8;
            } else { /* hills and leaves: texture at several scales */
                double tex = sin(x * 0.9) * sin(y * 1.3) * 14 + sin(x * 0.21 + y * 0.17) * 22 +
                             sin(u * 40 + v * 30) * 18;
                double depth = (v - horizon) / (1 - horizon);
                r = 40 + 60 * depth + tex;
                g = 90 + 50 * depth + tex * 1.2;
                b = 30 + 20 * depth + tex * 0.5;
            }
            double n = noise(5);
            put(img, w, x0 + x, y0 + y, (rgb){clamp8(r + n), clamp8(g + n), clamp8(b + n * 1.5)});
        }
    }
}

/* Text with grey-level edges: the 8x16 glyphs drawn at 6x12 (3/4), each
 * pixel's coverage from 4x4 samples of the glyph, blended over what is
 * there. Returns the x after the text. */
static int aa_text(uint8_t *img, int w, int x0, int y0, const char *s, rgb c, const vga_font *font)
{
    for (; *s; s++, x0 += 6) {
        unsigned char ch = (unsigned char)*s;
        for (int y = 0; y < 12; y++) {
            for (int x = 0; x < 6; x++) {
                int hits = 0;
                for (int sy = 0; sy < 4; sy++) {
                    for (int sx = 0; sx < 4; sx++) {
                        int gx = (int)((x + (sx + 0.5) / 4) * 8 / 6);
                        int gy = (int)((y + (sy + 0.5) / 4) * 16 / 12);
                        uint8_t bits = font ? font->glyph[ch][gy]
                                            : (ch != ' ' && gy >= 5 && gy < 12 ? 0x7e : 0);
                        hits += (bits & (0x80 >> gx)) != 0;
                    }
                }
                if (hits)
                    blend(img, w, x0 + x, y0 + y, c, hits / 16.0);
            }
        }
    }
    return x0;
}

/* A window: soft shadow, gradient title bar with its title, frame, body. */
static void window(uint8_t *img, int w, int h, int x0, int y0, int ww, int wh, const char *title,
                   rgb top, rgb bottom, const vga_font *font)
{
    for (int s = 12; s > 0; s--) /* shadow: darker towards the window */
        for (int y = y0 + 4 + 12 - s; y < y0 + wh + s && y < h; y++)
            for (int x = x0 + 4 + 12 - s; x < x0 + ww + s && x < w; x++)
                blend(img, w, x, y, (rgb){0, 0, 0}, 0.025);
    for (int y = 0; y < 26; y++) {
        double a = y / 25.0;
        rgb c = {clamp8(top.r + (bottom.r - top.r) * a), clamp8(top.g + (bottom.g - top.g) * a),
                 clamp8(top.b + (bottom.b - top.b) * a)};
        fill(img, w, h, x0, y0 + y, ww, 1, c);
    }
    aa_text(img, w, x0 + 10, y0 + 7, title, (rgb){255, 255, 255}, font);
    static const rgb buttons[3] = {{237, 106, 94}, {245, 191, 79}, {98, 197, 84}};
    for (int k = 0; k < 3; k++) /* round-ish buttons */
        for (int y = -6; y <= 6; y++)
            for (int x = -6; x <= 6; x++) {
                double d = sqrt(x * x + y * y);
                if (d < 6.5)
                    blend(img, w, x0 + ww - 20 - 18 * k + x, y0 + 13 + y, buttons[k],
                          d < 5.5 ? 1 : 6.5 - d);
            }
    fill(img, w, h, x0, y0 + 26, ww, wh - 26, (rgb){250, 250, 248});
    fill(img, w, h, x0, y0 + 26, ww, 1, (rgb){200, 200, 200});
}

int synth_desktop(uint8_t *img, int w, int h, const vga_font *font)
{
    if (w != 1024 || h != 768)
        return -1;
    noise_state = 88675123u;
    /* Wallpaper: a diagonal gradient, with a photo over its lower part. */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double a = (x + y) / (double)(w + h);
            put(img, w, x, y, (rgb){clamp8(30 + 90 * a), clamp8(40 + 30 * a), clamp8(90 + 70 * a)});
        }
    photo(img, w, 0, 400, w, h - 400, 1.0);

    /* Panel with a menu, a clock and tray icons. */
    for (int y = 0; y < 28; y++)
        fill(img, w, h, 0, y, w, 1, (rgb){clamp8(48 - y), clamp8(48 - y), clamp8(52 - y)});
    aa_text(img, w, 12, 8, "Activities   Files   Terminal", (rgb){235, 235, 235}, font);
    aa_text(img, w, w / 2 - 45, 8, "Fri 4 Dec  16:42", (rgb){255, 255, 255}, font);
    for (int k = 0; k < 4; k++)
        fill(img, w, h, w - 100 + k * 22, 8, 14, 12, vga_colours[9 + k]);

    /* Desktop icons with labels. */
    static const char *icons[] = {"Home", "Trash", "Notes.txt", "report.pdf"};
    for (int k = 0; k < 4; k++) {
        int y = 60 + k * 86;
        for (int yy = 0; yy < 48; yy++)
            fill(img, w, h, w - 80, y + yy, 48, 1,
                 (rgb){clamp8(vga_colours[9 + k].r * (1 - yy / 96.0)),
                       clamp8(vga_colours[9 + k].g * (1 - yy / 96.0)),
                       clamp8(vga_colours[9 + k].b * (1 - yy / 96.0))});
        aa_text(img, w, w - 56 - (int)strlen(icons[k]) * 3, y + 54, icons[k],
                (rgb){255, 255, 255}, font);
    }

    /* A text editor: dark text on white, a heading in colour. */
    window(img, w, h, 40, 120, 540, 420, "report.md - Text Editor", (rgb){70, 110, 190},
           (rgb){40, 70, 140}, font);
    static const char *prose[] = {
        "Quarterly operations report",
        "",
        "Screenshots of 1,204 instances were taken this week; the",
        "median answer took 11.8 ms and the slowest 34.9 ms. Two",
        "consoles did not answer within the 3 s deadline (QMP was",
        "busy migrating) and were retried by their owners.",
        "",
        "  - throttle window: 10 s per instance",
        "  - JPEG quality 85, 4:4:4 chroma (no colour smear on text)",
        "  - region cn-hangzhou, zones h, i and j",
        "",
        "Next steps: compare the 4:2:0 and 4:4:4 outputs on real",
        "desktops, and keep a 1024x768 console under 100 KB.",
        "",
        "Instance           Status    Type           Zone",
        "i-bp67acfmxazb4p   Running   ecs.g7.large   cn-hangzhou-h",
        "i-bp1hx0k3l9mnd2   Stopped   ecs.c7.xlarge  cn-hangzhou-i",
        "i-bp5t2cqdt0w8vz   Running   ecs.r7.large   cn-hangzhou-j",
        "",
        "Contact: ops@example.com   Updated 2026-12-04 16:42 UTC",
    };
    for (size_t k = 0; k < sizeof prose / sizeof *prose; k++)
        aa_text(img, w, 56, 162 + (int)k * 16, prose[k],
                k == 0 ? (rgb){40, 90, 170} : k >= 14 && k <= 17 ? (rgb){20, 110, 60}
                                                                : (rgb){30, 30, 30},
                font);

    /* An image viewer with a photo, and a caption. */
    window(img, w, h, 560, 300, 400, 330, "IMG_0417.jpg - Image Viewer", (rgb){90, 90, 96},
           (rgb){60, 60, 64}, font);
    photo(img, w, 570, 336, 380, 250, 0.6);
    aa_text(img, w, 570, 600, "4032 x 3024   2.4 MB   f/1.8   1/250 s", (rgb){60, 60, 60}, font);

    /* A small dialog in front: coloured text on a coloured background. */
    window(img, w, h, 300, 560, 300, 130, "Updates", (rgb){200, 120, 40}, (rgb){170, 90, 20}, font);
    fill(img, w, h, 301, 587, 298, 102, (rgb){255, 244, 214});
    aa_text(img, w, 316, 600, "12 updates are available.", (rgb){150, 60, 0}, font);
    aa_text(img, w, 316, 620, "Security: openssl, qemu", (rgb){190, 30, 30}, font);
    fill(img, w, h, 480, 650, 100, 26, (rgb){40, 120, 220});
    aa_text(img, w, 500, 657, "Install", (rgb){255, 255, 255}, font);
    return 0;
}
