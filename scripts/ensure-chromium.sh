#!/usr/bin/env bash
# Make sure Debian's headless-capable Chromium is installed at /usr/bin/chromium, for the browser
# tests of the HTML report (tests/test_report_html.py). Does nothing when it is already there.
# CI calls it before the tests (and sets FBSYNC_REQUIRE_BROWSER_TESTS=1 so a missing browser fails).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-chromium: /usr/bin/chromium is missing and this user cannot install it (not root, no sudo)." >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium

if [ ! -x /usr/bin/chromium ]; then
    echo "ensure-chromium: apt-get installed chromium but /usr/bin/chromium is still missing." >&2
    exit 1
fi
/usr/bin/chromium --version || true
