#!/usr/bin/env bash
# Prints the path of Schemathesis's `st`, installing it first if missing: a virtualenv
# per pinned version under ~/.cache/commstrat, from PyPI, so a fresh clone (CI) gets it
# once and every later run reuses it. Needs Python 3.10 or newer.
set -euo pipefail
VERSION=4.32.5
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/commstrat/schemathesis-$VERSION
if [ ! -x "$VENV/bin/st" ] || [ ! -f "$VENV/.installed" ]; then
  PYTHON=$(command -v python3 || true)
  if [ -z "$PYTHON" ] || ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "schemathesis: needs python3 >= 3.10 (Debian: apt-get install python3 python3-venv)" >&2
    exit 1
  fi
  echo "schemathesis: installing $VERSION into $VENV" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
  touch "$VENV/.installed"
fi
echo "$VENV/bin/st"
