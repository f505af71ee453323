#!/usr/bin/env bash
# Make sure the browser tests (tests/browser) have Debian's Chromium to drive.
#
# Playwright cannot download its own browser build here, so the tests drive the distribution's
# Chromium by its path ($ADS_CHROMIUM, default /usr/bin/chromium). When it is missing and we run
# as root with apt-get, install Debian's `chromium` package. When it cannot be installed the
# browser tests skip with the reason, except with CI=true, where this script (and the tests) fail.
set -uo pipefail

chromium="${ADS_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  exit 0
fi

why=""
if [ "$(id -u)" != "0" ]; then
  why="not running as root"
elif ! command -v apt-get >/dev/null 2>&1; then
  why="no apt-get on this machine"
elif [ "$chromium" != "/usr/bin/chromium" ]; then
  why="ADS_CHROMIUM points at $chromium, which Debian's package does not provide"
else
  echo "Installing Debian's chromium for the browser tests (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no package lists yet: update once when the first attempt finds nothing.
  if ! apt-get install -y -q --no-install-recommends chromium fonts-liberation fonts-dejavu-core >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1
    apt-get install -y -q --no-install-recommends chromium fonts-liberation fonts-dejavu-core >/dev/null 2>&1 || why="apt-get install chromium failed"
  fi
  if [ -z "$why" ] && [ ! -x "$chromium" ]; then
    why="the chromium package did not provide $chromium"
  fi
fi

if [ -n "$why" ]; then
  echo "Chromium is not at $chromium and cannot be installed ($why): the browser tests will skip." >&2
  if [ "${CI:-}" = "true" ]; then
    echo "CI=true: the browser tests must run, failing." >&2
    exit 1
  fi
fi
exit 0
