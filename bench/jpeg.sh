#!/usr/bin/env bash
# bench/jpeg.sh: which JPEG quality and chroma subsampling ecshot should use.
#
# Runs ecshot-jpegstudy (bench/jpegstudy.c) on four frames:
#   text-720x400   the test guest in VGA text mode, captured through QMP
#   vbe-1024x768   the test guest at 1024x768, captured through QMP (flat
#                  colour blocks: what compresses best)
#   fbcon-1024x768 a Linux framebuffer console full of coloured text, drawn
#                  with the VGA BIOS font from QEMU's ROM (the test guest
#                  draws no text at 1024x768, so it is synthesized)
#   desktop-1024x768  a desktop drawn in memory: gradients, a photo-like
#                  wallpaper and picture, windows, anti-aliased text
# and prints, for 4:2:0 and 4:4:4 at qualities 60..90, size, median encode
# time (ecshot's encoder) and fidelity (PSNR and SSIM after decoding), the
# size and time also as ratios to ecshot's default setting measured in the
# same run (kb_x, enc_x).
#
#   bench/jpeg.sh [--smoke] [--out DIR]
# --smoke: qualities 75 and 85 only, 3 encodes each. --out DIR: also write
# each frame and a magnified crop of its text per setting as PNG (see
# jpegstudy.c). The numbers are reported, never asserted.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

args=(--runs 50)
out=""
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) args=(--runs 3 --qualities "75,85"); shift ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: bench/jpeg.sh [--smoke] [--out DIR]" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] && { mkdir -p "$out"; args+=(--out "$out"); }

bench_setup
for mode in text vbe; do
  mkdir "$work/$mode"
  at_exit "vm_kill $work/$mode"
done
vm_start "$work/text" text "$work/text/qemu.pid" qmp.sock
vm_start "$work/vbe" vbe=1024x768 "$work/vbe/qemu.pid" qmp.sock

# The VGA font QEMU's guests see, for the drawn console (SeaBIOS's ROM).
font=""
for f in /usr/share/seabios/vgabios-stdvga.bin /usr/share/qemu/vgabios-stdvga.bin; do
  [ -f "$f" ] && { font=$f; break; }
done
# Each frame with a rectangle of its text (or of its finest detail) for
# the magnified crops: the console's is its last lines, blue and grey
# directory names over black-on-cyan function keys (the case 4:2:0 smears
# most); the desktop's a dialog's red and brown text on cream.
frames=(
  "text-720x400=qmp:$work/text/qmp.sock@0,0,240,48"
  "vbe-1024x768=qmp:$work/vbe/qmp.sock@448,32,128,64"
)
if [ -n "$font" ]; then
  args+=(--font "$font")
  frames+=("fbcon-1024x768=synth:console@0,704,256,64")
else
  echo "jpeg: no VGA BIOS ROM (seabios), so no drawn console; the desktop's text is bars"
fi
frames+=("desktop-1024x768=synth:desktop@308,592,232,48")

echo "ecshot JPEG study: TurboJPEG $(dpkg-query -W -f='${Version}' libturbojpeg0 2>/dev/null ||
  echo '?'), ${args[*]}; default quality and subsampling marked (default)"
"$build/bench/ecshot-jpegstudy" "${args[@]}" "${frames[@]}"
echo "kb: JPEG KiB (the API's base64 is 4/3 of it); kb_x, enc_x: ratio to the default setting;"
echo "enc_ms: median encode; psnr in dB (RGB); ssim_y: SSIM of luma; ssim_c: SSIM of Cb and Cr,"
echo "averaged. aim: 1024x768 console < 100 KB, console text legible (see --out's crops)"
