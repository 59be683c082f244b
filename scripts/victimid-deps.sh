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

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "victimid-deps: need root (or sudo) to install:$missing" >&2
    exit 1
fi

echo "victimid-deps: installing$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
