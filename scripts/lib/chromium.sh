#!/usr/bin/env bash
# Prints the path of Debian's Chromium (the `chromium` package), installing it first if
# it is missing. The console's browser tests drive it with playwright-core, which never
# downloads a browser of its own. Installing needs root (CI runs as root on a clean
# machine); anyone else is told the command.
set -euo pipefail
BIN=/usr/bin/chromium
if [ ! -x "$BIN" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "chromium: missing; install it with: sudo apt-get install -y chromium" >&2
    exit 1
  fi
  echo "chromium: installing Debian's chromium package (once)" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } >&2 || {
    echo "chromium: apt-get install chromium failed" >&2
    exit 1
  }
fi
echo "$BIN"
