#!/usr/bin/env bash
# Redraws the PNG icons from icons/courier.svg (needs rsvg-convert: Debian's librsvg2-bin).
# The PNGs are committed, so building and packaging never need this.
set -euo pipefail
cd "$(dirname "$0")/icons"
for size in 16 24 32 48 64 128 256 512; do
    rsvg-convert --width "$size" --height "$size" courier.svg --output "courier-$size.png"
done
