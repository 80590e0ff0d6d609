#!/usr/bin/env bash
# Installs what the tests need beyond deploy/install-deps.sh: Debian's chromium, which the dashboard specs
# (Hive.Tests/Dashboard) drive headless through Microsoft.Playwright at /usr/bin/chromium. Idempotent.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-test-deps: installing chromium (for the dashboard specs)" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
fi
