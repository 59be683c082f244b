#!/bin/sh
# Installs the Debian packages named on the command line (the callers pass only the missing
# ones): root runs apt-get itself, others go through sudo. One place for the apt-get tail the
# *-deps.sh scripts share.
#   scripts/apt-install.sh PACKAGE...
set -eu
[ "$#" -gt 0 ] || exit 0
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "apt-install: need root (or sudo) to install: $*" >&2
    exit 1
fi
command -v apt-get >/dev/null 2>&1 || { echo "apt-install: no apt-get here; install by hand: $*" >&2; exit 1; }
echo "installing Debian packages: $*" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
