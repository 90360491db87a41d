#!/bin/sh
# build.sh - assemble and link the ecshot test guest with binutils only.
# Usage: build.sh [OUTPUT.elf]   (default: ecshot-guest.elf next to this script)
set -eu
src=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$src/ecshot-guest.elf"}
obj="$out.o"
trap 'rm -f "$obj"' EXIT
as --32 --fatal-warnings -o "$obj" "$src/ecshot-guest.s"
ld -m elf_i386 -nostdlib --fatal-warnings -T "$src/linker.ld" -o "$out" "$obj"
