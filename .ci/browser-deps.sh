#!/usr/bin/env bash
# Headless Chromium and its WebDriver for tests/test_browser.py (Debian/Ubuntu packages).
# Fonts for the chapters' Chinese, Tibetan and Burmese text, so screenshots show glyphs.
# Does nothing when both are already on PATH; needs root (or sudo) to install.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium chromium-driver \
  fonts-wqy-microhei fonts-tibetan-machine fonts-noto-core
