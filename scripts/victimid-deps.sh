#!/bin/sh
# Debian packages victim identification needs at run time: Tesseract OCR (+ English data).
# Installs only what is missing; uses sudo when not root. Safe to run repeatedly.
set -eu

PACKAGES="tesseract-ocr tesseract-ocr-eng"

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    echo "victimid-deps: all present ($PACKAGES)"
    exit 0
fi

# shellcheck disable=SC2086
exec "$(dirname "$0")/apt-install.sh" $missing
