#!/bin/sh
# Debian packages some benches need (never haven itself): ImageMagick (bench/recall_variants2.py
# makes its second, independent set of query variants with ImageMagick's `convert` and with
# OpenCV) and the Liberation fonts (captions in fonts other than DejaVu). Installs only what is
# missing; uses sudo when not root. Safe to run repeatedly. Without them that bench still runs:
# it makes every variant with OpenCV and says so.
set -eu

PACKAGES="imagemagick fonts-liberation"

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    echo "bench-deps: all present ($PACKAGES)"
    exit 0
fi

# shellcheck disable=SC2086
exec "$(dirname "$0")/apt-install.sh" $missing
