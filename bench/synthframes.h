/* synthframes.h: frames drawn in memory for the JPEG study.
 *
 * The test guest draws flat colour blocks at 1024x768 and no text, which is
 * the easiest picture there is for JPEG. What people actually look at in a
 * screenshot is text: a Linux framebuffer console, or a desktop. Both are
 * drawn here, deterministically (the same pixels on every run):
 *   console  a 1024x768 framebuffer console, 128x48 cells of the VGA BIOS's
 *            8x16 font, full of kernel-log and shell lines in the 16 VGA
 *            colours (fbcon's look);
 *   desktop  1024x768: a gradient wallpaper with a photo-like area (smooth
 *            shapes and sensor-like noise), a panel, icons, and windows with
 *            gradient title bars and anti-aliased text (the VGA font
 *            rendered at 3/4 size with coverage as grey levels), one of
 *            them holding a photo-like picture.
 * Without a font, text is drawn as bars of the same size. */
#ifndef ECSHOT_BENCH_SYNTHFRAMES_H
#define ECSHOT_BENCH_SYNTHFRAMES_H

#include <stdint.h>

/* The VGA BIOS's 8x16 font: 256 glyphs of 16 rows, one byte a row, the
 * leftmost pixel in the top bit. */
typedef struct vga_font {
    uint8_t glyph[256][16];
} vga_font;

/* Finds the 8x16 font inside a VGA BIOS ROM (SeaBIOS's vgabios-*.bin) by
 * the shapes of 'A' and of glyph 1 (the smiling face). Returns 0, or -1
 * with a message on stderr. */
int vga_font_load(const char *rom_path, vga_font *font);

/* Draws into rgb (w x h, packed, w * 3 bytes a row). font may be NULL.
 * Return 0, or -1 when the size is not 1024x768. */
int synth_console(uint8_t *rgb, int w, int h, const vga_font *font);
int synth_desktop(uint8_t *rgb, int w, int h, const vga_font *font);

#endif
