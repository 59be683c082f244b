#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (tests/service/test_web_browser.py), only
# when /usr/bin/chromium is missing. Playwright's own browser download is never used.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
exec "$(dirname "$0")/apt-install.sh" chromium
