/*
 * ecshot-guest.s - a tiny multiboot (v1) kernel that draws a known picture.
 *
 * ecshot's integration tests need a VM whose screen content is exactly known
 * and that boots in a fraction of a second under TCG, so they can check a
 * screenshot pixel by pixel.  QEMU loads this file with
 *   -kernel ecshot-guest.elf -append "WORDS"
 * and WORDS (space separated, any order) select what happens:
 *   text          VGA text mode 80x25 (the default)
 *   vbe=WxH       Bochs VBE (DISPI) linear framebuffer mode, 32 bpp
 *   blank         first show an all-black screen and wait for a PS/2 byte
 *                 (key or mouse move), then draw the picture
 *   suspend       after drawing, enter ACPI S3 once (a CMOS byte remembers
 *                 that it happened, so the reboot that follows the wake-up
 *                 does not suspend again)
 * Progress lines go to the debug console at port 0xE9: "BOOT <cmdline>",
 * "WOKEN" (marker found), "READY" (a picture is complete), "SUSPEND",
 * "ERROR <why>".  README.md documents the exact pictures.
 *
 * Assemble with binutils only: see build.sh.
 */

	.set MB_MAGIC,          0x1BADB002
	.set MB_FLAGS,          0
	.set MB_BOOT_MAGIC,     0x2BADB002
	.set MBI_FLAG_CMDLINE,  1 << 2
	.set MBI_CMDLINE,       16

	.set DEBUGCON,          0xE9

	.set CMOS_INDEX,        0x70
	.set CMOS_DATA,         0x71
	.set CMOS_MARKER_REG,   0x48	/* unused by QEMU and SeaBIOS */
	.set CMOS_MARKER_VAL,   0xEC

	.set PCI_ADDR,          0xCF8
	.set PCI_DATA,          0xCFC
	.set PCI_ID_BOCHS_VGA,  0x11111234	/* device << 16 | vendor */
	.set PCI_ID_PIIX4_PM,   0x71138086
	.set PCI_ID_ICH9_LPC,   0x29188086
	.set PCI_PMBASE,        0x40

	.set PM1_CNT_OFFSET,    4
	.set PM1_SLP_TYP_MASK,  7 << 10
	.set PM1_SLP_TYP_S3,    1 << 10		/* QEMU's DSDT: \_S3 = 1 */
	.set PM1_SLP_EN,        1 << 13

	.set DISPI_INDEX,       0x1CE
	.set DISPI_DATA,        0x1CF
	.set DISPI_ID,          0
	.set DISPI_XRES,        1
	.set DISPI_YRES,        2
	.set DISPI_BPP,         3
	.set DISPI_ENABLE,      4
	.set DISPI_VRAM_64K,    0x0A
	.set DISPI_ENABLED,     0x01
	.set DISPI_LFB_ENABLED, 0x40

	.set KBC_DATA,          0x60
	.set KBC_STATUS,        0x64
	.set KBC_OBF,           0x01	/* output buffer full: a byte to read */
	.set KBC_IBF,           0x02	/* input buffer full: wait before writing */

	.set PIC1_CMD,          0x20
	.set PIC1_MASK,         0x21
	.set PIC2_CMD,          0xA0
	.set PIC2_MASK,         0xA1
	.set PIC_EOI,           0x20

	.set TEXT_BUF,          0xB8000
	.set TEXT_COLS,         80
	.set TEXT_ROWS,         25
	.set STRIPE_ROWS,       64

	.set SEL_CODE,          0x08
	.set SEL_DATA,          0x10

/* ------------------------------------------------------------------ */
/* Multiboot header: must sit in the first 8 KiB; linker.ld puts it first. */

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

/* ------------------------------------------------------------------ */
	.text
	.code32
	.globl _start
_start:
	cli
	cld
	movl $stack_top, %esp
	/* Multiboot leaves GDTR undefined; interrupts need a GDT we own. */
	lgdt gdt_desc
	ljmp $SEL_CODE, $1f
1:	movw $SEL_DATA, %cx
	movw %cx, %ds
	movw %cx, %es
	movw %cx, %fs
	movw %cx, %gs
	movw %cx, %ss
	cmpl $MB_BOOT_MAGIC, %eax
	jne 2f
	testl $MBI_FLAG_CMDLINE, (%ebx)
	jz 2f
	movl MBI_CMDLINE(%ebx), %esi
	movl %esi, cmdline
	call parse_cmdline
2:	jmp main

/* main: the whole life of the guest; never returns. */
main:
	movl $msg_boot, %esi
	call puts
	movl cmdline, %esi
	testl %esi, %esi
	jz 1f
	call puts
1:	movl $msg_nl, %esi
	call puts
	call marker_is_set
	jne 2f
	movl $msg_woken, %esi
	call puts
2:	call setup_idt
	cmpb $0, opt_vbe_bad
	je 3f
	movl $err_mode, %esi
	jmp fatal
3:	call display_setup
	cmpb $0, opt_blank
	je 4f
	call draw_black
	call wait_input			/* says READY once input is armed */
4:	call draw_picture
	call say_ready
	cmpb $0, opt_suspend
	je halt_forever
	call marker_is_set
	je halt_forever
	call marker_set
	call suspend
	/* fall through: the CPU stops here until the wake-up resets it */
halt_forever:
	cli
1:	hlt
	jmp 1b

/* fatal: print "ERROR <esi>" and stop. */
fatal:
	pushl %esi
	movl $msg_error, %esi
	call puts
	popl %esi
	call puts
	movl $msg_nl, %esi
	call puts
	jmp halt_forever

say_ready:
	pushl %esi
	movl $msg_ready, %esi
	call puts
	popl %esi
	ret

/* puts: write the NUL-terminated string at esi to the debug console. */
puts:
	pushl %eax
	pushl %esi
1:	lodsb
	testb %al, %al
	jz 2f
	outb %al, $DEBUGCON
	jmp 1b
2:	popl %esi
	popl %eax
	ret

/* ------------------------------------------------------------------ */
/* Command line parsing.  QEMU passes "<kernel path> <-append words>", so
 * only whole words are matched and unknown words are ignored. */

/* parse_cmdline: esi = NUL-terminated command line. */
parse_cmdline:
	pushal
1:	movb (%esi), %al
	testb %al, %al
	jz 9f
	cmpb $' ', %al
	je 2f
	cmpb $'\t', %al
	jne 3f
2:	incl %esi
	jmp 1b
3:	movl %esi, %edi			/* edi = start of the word */
4:	movb (%esi), %al
	testb %al, %al
	jz 5f
	cmpb $' ', %al
	je 5f
	cmpb $'\t', %al
	je 5f
	incl %esi
	jmp 4b
5:	movl %esi, %ecx
	subl %edi, %ecx			/* ecx = length of the word */
	call apply_word
	jmp 1b
9:	popal
	ret

/* apply_word: edi = word, ecx = its length; sets the opt_* variables. */
apply_word:
	pushal
	movl $word_text, %ebx
	movl $4, %edx
	call word_equals
	jne 1f
	movb $0, opt_vbe
	movb $0, opt_vbe_bad		/* the last display word wins */
	jmp 9f
1:	movl $word_suspend, %ebx
	movl $7, %edx
	call word_equals
	jne 2f
	movb $1, opt_suspend
	jmp 9f
2:	movl $word_blank, %ebx
	movl $5, %edx
	call word_equals
	jne 3f
	movb $1, opt_blank
	jmp 9f
3:	cmpl $4, %ecx
	jb 9f
	cmpl $0x3D656276, (%edi)	/* "vbe=" */
	jne 9f
	leal (%edi,%ecx), %ebp		/* ebp = end of the word */
	leal 4(%edi), %esi
	call parse_size
9:	popal
	ret

/* word_equals: ZF=1 when the word (edi, ecx) equals the literal (ebx, edx). */
word_equals:
	cmpl %edx, %ecx
	jne 1f
	pushl %ecx
	pushl %esi
	pushl %edi
	movl %ebx, %esi
	repe cmpsb
	popl %edi
	popl %esi
	popl %ecx
1:	ret

/* parse_size: esi..ebp holds "WIDTHxHEIGHT"; selects VBE or flags bad. */
parse_size:
	movb $1, opt_vbe
	call parse_dec
	jc 8f
	movl %eax, opt_width
	cmpl %ebp, %esi
	jae 8f
	cmpb $'x', (%esi)
	jne 8f
	incl %esi
	call parse_dec
	jc 8f
	cmpl %ebp, %esi
	jne 8f
	movl %eax, opt_height
	movb $0, opt_vbe_bad
	ret
8:	movb $1, opt_vbe_bad
	ret

/* parse_dec: decimal digits at esi (before ebp) -> eax, esi moves past them.
 * CF=1 when there is no digit or the value exceeds 65535. */
parse_dec:
	pushl %ebx
	pushl %edx
	xorl %eax, %eax
	xorl %edx, %edx
1:	cmpl %ebp, %esi
	jae 2f
	movzbl (%esi), %ebx
	subl $'0', %ebx
	cmpl $9, %ebx
	ja 2f
	imull $10, %eax, %eax
	addl %ebx, %eax
	cmpl $65535, %eax
	ja 3f
	incl %esi
	incl %edx
	jmp 1b
2:	testl %edx, %edx
	jz 3f
	popl %edx
	popl %ebx
	clc
	ret
3:	popl %edx
	popl %ebx
	stc
	ret

/* ------------------------------------------------------------------ */
/* Display: dispatch between text and VBE. */

display_setup:
	cmpb $0, opt_vbe
	jne vbe_setup
	jmp text_setup

draw_black:
	cmpb $0, opt_vbe
	jne vbe_black
	jmp text_black

draw_picture:
	cmpb $0, opt_vbe
	jne vbe_picture
	jmp text_picture

/* ------------------------------------------------------------------ */
/* VGA text mode.  SeaBIOS's VGA BIOS leaves mode 3 (80x25) set up. */

/* text_setup: hide the cursor, turn blinking off (16 background colours)
 * and load pure colours into the palette, so every pixel is predictable. */
text_setup:
	pushal
	movw $0x3D4, %dx		/* CRTC: cursor start, bit 5 = off */
	movb $0x0A, %al
	outb %al, %dx
	incw %dx
	inb %dx, %al
	orb $0x20, %al
	outb %al, %dx

	movw $0x3DA, %dx		/* reset the attribute flip-flop */
	inb %dx, %al
	movw $0x3C0, %dx
	xorl %ecx, %ecx
1:	movb %cl, %al			/* palette register i -> DAC entry i */
	outb %al, %dx
	outb %al, %dx
	incl %ecx
	cmpl $16, %ecx
	jb 1b
	movb $0x10, %al			/* mode control: text, 9th column, no blink */
	outb %al, %dx
	movb $0x04, %al
	outb %al, %dx
	movb $0x14, %al			/* colour select: page 0 */
	outb %al, %dx
	xorb %al, %al
	outb %al, %dx
	movb $0x20, %al			/* palette access done: display on */
	outb %al, %dx

	/* DAC 0..15: bit 2 red, bit 1 green, bit 0 blue; a set bit is 63
	 * (255 on screen); for 8..15 a clear bit is 21 (85), else 0. */
	movw $0x3C8, %dx
	xorb %al, %al
	outb %al, %dx
	movw $0x3C9, %dx
	xorl %ecx, %ecx
2:	xorb %bl, %bl
	cmpl $8, %ecx
	jb 3f
	movb $21, %bl
3:	movl $4, %esi
4:	movb %bl, %al
	testl %esi, %ecx
	jz 5f
	movb $63, %al
5:	outb %al, %dx
	shrl $1, %esi
	jnz 4b
	incl %ecx
	cmpl $16, %ecx
	jb 2b
	popal
	ret

/* text_rect: fill rows ebx.. (ecx of them), columns edx.. (esi of them)
 * with the cell ax (attribute << 8 | character). */
text_rect:
	pushal
1:	testl %ecx, %ecx
	jz 2f
	imull $TEXT_COLS * 2, %ebx, %edi
	leal TEXT_BUF(%edi,%edx,2), %edi
	pushl %ecx
	movl %esi, %ecx
	rep stosw
	popl %ecx
	incl %ebx
	decl %ecx
	jmp 1b
2:	popal
	ret

text_black:
	pushal
	movw $0x0020, %ax
	xorl %ebx, %ebx
	movl $TEXT_ROWS, %ecx
	xorl %edx, %edx
	movl $TEXT_COLS, %esi
	call text_rect
	popal
	ret

/* text_picture: row 0 white on blue with the banner at column 0; rows 1-12
 * red (columns 0-39) and green (40-79); rows 13-24 blue and white. */
text_picture:
	pushal
	movw $0x1F20, %ax		/* banner row */
	xorl %ebx, %ebx
	movl $1, %ecx
	xorl %edx, %edx
	movl $TEXT_COLS, %esi
	call text_rect
	movw $0x4020, %ax		/* top left: red */
	movl $1, %ebx
	movl $12, %ecx
	xorl %edx, %edx
	movl $40, %esi
	call text_rect
	movw $0x2020, %ax		/* top right: green */
	movl $40, %edx
	call text_rect
	movw $0x1020, %ax		/* bottom left: blue */
	movl $13, %ebx
	xorl %edx, %edx
	call text_rect
	movw $0xF020, %ax		/* bottom right: white */
	movl $40, %edx
	call text_rect
	movl $banner, %esi		/* the banner text itself */
	movl $TEXT_BUF, %edi
	movb $0x1F, %ah
1:	lodsb
	testb %al, %al
	jz 2f
	stosw
	jmp 1b
2:	popal
	ret

/* ------------------------------------------------------------------ */
/* Bochs VBE (DISPI) linear framebuffer, 32 bpp (0x00RRGGBB per pixel). */

/* dispi_write: register ebx := ax */
dispi_write:
	pushl %edx
	xchgl %eax, %ebx
	movw $DISPI_INDEX, %dx
	outw %ax, %dx
	xchgl %eax, %ebx
	movw $DISPI_DATA, %dx
	outw %ax, %dx
	popl %edx
	ret

/* dispi_read: eax := register ebx (zero-extended) */
dispi_read:
	pushl %edx
	movl %ebx, %eax
	movw $DISPI_INDEX, %dx
	outw %ax, %dx
	movw $DISPI_DATA, %dx
	xorl %eax, %eax
	inw %dx, %ax
	popl %edx
	ret

/* vbe_setup: set opt_width x opt_height x 32 and find the framebuffer. */
vbe_setup:
	pushal
	movl $DISPI_ID, %ebx
	call dispi_read
	cmpl $0xB0C0, %eax
	jb 8f
	cmpl $0xB0C5, %eax
	ja 8f
	movl opt_width, %eax		/* sanity: room for the stripes */
	cmpl $64, %eax
	jb 7f
	cmpl $STRIPE_ROWS * 2, opt_height
	jb 7f
	imull opt_height, %eax		/* both <= 65535: no overflow */
	addl $0x3FFF, %eax		/* 64 KiB units, rounded up: */
	shrl $14, %eax			/* (w * h * 4 + 0xFFFF) >> 16 */
	movl %eax, %ecx
	movl $DISPI_VRAM_64K, %ebx
	call dispi_read
	cmpl %eax, %ecx
	ja 7f
	xorl %eax, %eax
	movl $DISPI_ENABLE, %ebx
	call dispi_write
	movl opt_width, %eax
	movl $DISPI_XRES, %ebx
	call dispi_write
	movl opt_height, %eax
	movl $DISPI_YRES, %ebx
	call dispi_write
	movl $32, %eax
	movl $DISPI_BPP, %ebx
	call dispi_write
	movl $DISPI_ENABLED | DISPI_LFB_ENABLED, %eax
	movl $DISPI_ENABLE, %ebx
	call dispi_write
	movl $DISPI_XRES, %ebx		/* QEMU silently adjusts what it dislikes */
	call dispi_read
	cmpl opt_width, %eax
	jne 7f
	movl $DISPI_YRES, %ebx
	call dispi_read
	cmpl opt_height, %eax
	jne 7f
	movl $DISPI_BPP, %ebx
	call dispi_read
	cmpl $32, %eax
	jne 7f
	movl $PCI_ID_BOCHS_VGA, %eax
	call pci_find
	jc 6f
	addl $0x10, %eax		/* BAR0 */
	call pci_read
	andl $0xFFFFFFF0, %eax
	jz 6f
	movl %eax, lfb
	popal
	ret
6:	movl $err_lfb, %esi
	jmp fatal
7:	movl $err_size, %esi
	jmp fatal
8:	movl $err_dispi, %esi
	jmp fatal

/* vbe_rect: fill x=ebx, y=ecx, width edx, height esi with colour eax. */
vbe_rect:
	pushal
1:	testl %esi, %esi
	jz 2f
	movl %ecx, %edi
	imull opt_width, %edi
	addl %ebx, %edi
	shll $2, %edi
	addl lfb, %edi
	pushl %ecx
	movl %edx, %ecx
	rep stosl
	popl %ecx
	incl %ecx
	decl %esi
	jmp 1b
2:	popal
	ret

vbe_black:
	pushal
	xorl %eax, %eax
	xorl %ebx, %ebx
	xorl %ecx, %ecx
	movl opt_width, %edx
	movl opt_height, %esi
	call vbe_rect
	popal
	ret

/* vbe_picture: quadrants split at (W/2, H/2): red, green / blue, white;
 * then rows 0-63 get 8 stripes of W/8 pixels (the last takes the rest). */
vbe_picture:
	pushal
	movl opt_width, %ebp
	shrl $1, %ebp			/* ebp = W/2 */
	movl opt_height, %edi
	shrl $1, %edi			/* edi = H/2 */

	movl $0xFF0000, %eax		/* top left: red */
	xorl %ebx, %ebx
	xorl %ecx, %ecx
	movl %ebp, %edx
	movl %edi, %esi
	call vbe_rect
	movl $0x00FF00, %eax		/* top right: green */
	movl %ebp, %ebx
	movl opt_width, %edx
	subl %ebp, %edx
	call vbe_rect
	movl $0x0000FF, %eax		/* bottom left: blue */
	xorl %ebx, %ebx
	movl %edi, %ecx
	movl %ebp, %edx
	movl opt_height, %esi
	subl %edi, %esi
	call vbe_rect
	movl $0xFFFFFF, %eax		/* bottom right: white */
	movl %ebp, %ebx
	movl opt_width, %edx
	subl %ebp, %edx
	call vbe_rect

	movl opt_width, %edx
	shrl $3, %edx			/* edx = stripe width */
	xorl %ebx, %ebx			/* ebx = stripe x */
	xorl %ecx, %ecx			/* y = 0 */
	movl $STRIPE_ROWS, %esi
	xorl %edi, %edi			/* edi = stripe index */
1:	cmpl $7, %edi
	jne 2f
	movl opt_width, %edx		/* the last stripe takes the rest */
	subl %ebx, %edx
2:	movl stripe_colours(,%edi,4), %eax
	call vbe_rect
	addl %edx, %ebx
	incl %edi
	cmpl $8, %edi
	jb 1b
	popal
	ret

/* ------------------------------------------------------------------ */
/* PCI configuration space (mechanism #1), bus 0 only: enough for QEMU. */

/* pci_read: eax = config address (0x80000000 | devfn << 8 | reg) -> eax */
pci_read:
	pushl %edx
	movw $PCI_ADDR, %dx
	outl %eax, %dx
	movw $PCI_DATA, %dx
	inl %dx, %eax
	popl %edx
	ret

/* pci_find: eax = device << 16 | vendor.  Returns CF=0 and eax = config
 * address of register 0 of the first such function, or CF=1. */
pci_find:
	pushl %ebx
	pushl %ecx
	movl %eax, %ebx
	movl $0x80000000, %ecx
1:	movl %ecx, %eax
	call pci_read
	cmpl %ebx, %eax
	je 2f
	addl $0x100, %ecx
	cmpl $0x80010000, %ecx
	jb 1b
	popl %ecx
	popl %ebx
	stc
	ret
2:	movl %ecx, %eax
	popl %ecx
	popl %ebx
	clc
	ret

/* ------------------------------------------------------------------ */
/* ACPI S3 and the CMOS marker that survives the wake-up reboot. */

/* marker_is_set: ZF=1 when the CMOS marker byte holds CMOS_MARKER_VAL. */
marker_is_set:
	pushl %eax
	movb $CMOS_MARKER_REG, %al
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	cmpb $CMOS_MARKER_VAL, %al
	popl %eax
	ret

marker_set:
	pushl %eax
	movb $CMOS_MARKER_REG, %al
	outb %al, $CMOS_INDEX
	movb $CMOS_MARKER_VAL, %al
	outb %al, $CMOS_DATA
	popl %eax
	ret

/* suspend: SLP_TYP=S3 | SLP_EN into PM1a_CNT.  The PM I/O base comes from
 * the chipset (PIIX4 PM or ICH9 LPC, register 0x40); SeaBIOS sets 0x600. */
suspend:
	pushal
	movl $msg_suspend, %esi
	call puts
	movl $PCI_ID_PIIX4_PM, %eax
	call pci_find
	jnc 1f
	movl $PCI_ID_ICH9_LPC, %eax
	call pci_find
	jc 8f
1:	addl $PCI_PMBASE, %eax
	call pci_read
	andl $0xFFC0, %eax		/* PIIX4 bits 15:6, ICH9 15:7 */
	jz 8f
	leal PM1_CNT_OFFSET(%eax), %edx
	inw %dx, %ax
	andw $0xFFFF & ~PM1_SLP_TYP_MASK, %ax
	orw $PM1_SLP_TYP_S3 | PM1_SLP_EN, %ax
	outw %ax, %dx
	popal
	ret
8:	movl $err_pm, %esi
	jmp fatal

/* ------------------------------------------------------------------ */
/* Input: wait for one byte from the PS/2 controller (key or mouse). */

kbc_wait_write:
	inb $KBC_STATUS, %al
	testb $KBC_IBF, %al
	jnz kbc_wait_write
	ret

/* kbc_cmd: send command bl to the controller. */
kbc_cmd:
	call kbc_wait_write
	movb %bl, %al
	outb %al, $KBC_STATUS
	ret

/* kbc_write: send data bl to the controller. */
kbc_write:
	call kbc_wait_write
	movb %bl, %al
	outb %al, $KBC_DATA
	ret

/* kbc_read: wait for and return (al) the next byte. */
kbc_read:
	inb $KBC_STATUS, %al
	testb $KBC_OBF, %al
	jz kbc_read
	inb $KBC_DATA, %al
	ret

/* kbc_drain: throw away whatever bytes are queued. */
kbc_drain:
	inb $KBC_STATUS, %al
	testb $KBC_OBF, %al
	jz 1f
	inb $KBC_DATA, %al
	jmp kbc_drain
1:	ret

/* wait_input: enable keyboard and mouse (a QMP mouse move must count too)
 * with interrupts, forget stale bytes, say READY (only now: an event sent
 * before the mouse reports would be lost), then sleep in hlt until a byte
 * comes. The timer interrupt also ends hlt, so a lost IRQ costs at most 55 ms. */
wait_input:
	pushal
	call kbc_drain
	movb $0x20, %bl			/* read the configuration byte */
	call kbc_cmd
	call kbc_read
	orb $0x03, %al			/* keyboard and mouse interrupts on */
	andb $~0x30, %al		/* keyboard and mouse clocks on */
	movb %al, %cl
	movb $0x60, %bl			/* write it back */
	call kbc_cmd
	movb %cl, %bl
	call kbc_write
	movb $0xA8, %bl			/* enable the mouse port */
	call kbc_cmd
	movb $0xD4, %bl			/* to the mouse: enable data reporting */
	call kbc_cmd
	movb $0xF4, %bl
	call kbc_write
	call kbc_drain			/* the mouse's acknowledgement */
	inb $PIC1_MASK, %al		/* unmask timer, keyboard, cascade */
	andb $~0x07, %al
	outb %al, $PIC1_MASK
	inb $PIC2_MASK, %al		/* and the mouse */
	andb $~0x10, %al
	outb %al, $PIC2_MASK
	call say_ready
1:	cli
	inb $KBC_STATUS, %al
	testb $KBC_OBF, %al
	jnz 2f
	sti				/* sti;hlt: no wake-up is lost between */
	hlt
	jmp 1b
2:	inb $KBC_DATA, %al
	popal
	ret

/* ------------------------------------------------------------------ */
/* Interrupts: every vector acknowledges the PICs and returns; they only
 * serve to end hlt in wait_input. */

setup_idt:
	pushal
	movl $idt, %edi
	movl $irq_stub, %eax
	movl %eax, %edx
	shrl $16, %edx
	xorl %ecx, %ecx
1:	movw %ax, (%edi)
	movw $SEL_CODE, 2(%edi)
	movw $0x8E00, 4(%edi)		/* present, ring 0, 32-bit interrupt gate */
	movw %dx, 6(%edi)
	addl $8, %edi
	incl %ecx
	cmpl $256, %ecx
	jb 1b
	lidt idt_desc
	popal
	ret

irq_stub:
	pushl %eax
	movb $PIC_EOI, %al
	outb %al, $PIC2_CMD
	outb %al, $PIC1_CMD
	popl %eax
	iret

/* ------------------------------------------------------------------ */
	.section .rodata
msg_boot:	.asciz "BOOT "
msg_nl:		.asciz "\n"
msg_woken:	.asciz "WOKEN\n"
msg_ready:	.asciz "READY\n"
msg_suspend:	.asciz "SUSPEND\n"
msg_error:	.asciz "ERROR "
err_mode:	.asciz "bad vbe=WIDTHxHEIGHT"
err_dispi:	.asciz "no Bochs VBE (DISPI) interface"
err_size:	.asciz "VBE mode refused or too large"
err_lfb:	.asciz "no Bochs VGA PCI device"
err_pm:		.asciz "no ACPI PM I/O base"
word_text:	.ascii "text"
word_suspend:	.ascii "suspend"
word_blank:	.ascii "blank"
banner:		.asciz "ECSHOT TEST GUEST"

	.align 4
stripe_colours:
	.long 0x000000, 0x0000FF, 0x00FF00, 0x00FFFF
	.long 0xFF0000, 0xFF00FF, 0xFFFF00, 0xFFFFFF

	.align 8
gdt:
	.quad 0
	.quad 0x00CF9A000000FFFF	/* 0x08: code, flat 4 GiB, 32-bit */
	.quad 0x00CF92000000FFFF	/* 0x10: data, flat 4 GiB */
gdt_end:
	.align 4
	.word 0
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
	.word 0
idt_desc:
	.word 256 * 8 - 1
	.long idt

	.data
	.align 4
cmdline:	.long 0
opt_width:	.long 0
opt_height:	.long 0
lfb:		.long 0
opt_vbe:	.byte 0
opt_vbe_bad:	.byte 0
opt_suspend:	.byte 0
opt_blank:	.byte 0

	.bss
	.align 16
idt:		.space 256 * 8
stack:		.space 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
