# Shared by scripts/start, scripts/test and scripts/bench: make sure the npm
# dependencies (and with them the pinned Node.js 24 binary) are installed, then
# expose that Node as $NODE.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NODE=$ROOT/node_modules/.bin/node

ensure_node_modules() {
  # npm ci is skipped when node_modules already matches package-lock.json.
  if [ ! -x "$NODE" ] || [ ! -f "$ROOT/node_modules/.package-lock.json" ] \
    || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    echo "commstrat: installing npm dependencies (npm ci)" >&2
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error) || {
      echo "commstrat: npm ci failed; check network access to the npm registry and rerun" >&2
      exit 1
    }
  fi
  local major
  major=$("$NODE" -p 'process.versions.node.split(".")[0]')
  if [ "$major" != 24 ]; then
    echo "commstrat: expected Node.js 24 at $NODE, found $("$NODE" --version); run npm ci" >&2
    exit 1
  fi
}

# The operator console's page (apps/console/dist, which git ignores) is built from its
# sources when it is missing or older than them, so a clean clone builds it once (about
# a second) and later runs only look at file times.
ensure_console_bundle() {
  local console=$ROOT/apps/console built=$ROOT/apps/console/dist/index.html
  if [ -f "$built" ] && [ -z "$(find "$console/src" "$console/index.html" "$console/vite.config.ts" "$ROOT/package-lock.json" -newer "$built" -print -quit)" ]; then
    return 0
  fi
  echo "commstrat: building the operator console (vite build apps/console)" >&2
  "$NODE" "$ROOT/node_modules/vite/bin/vite.js" build "$console" --logLevel warn >&2 || {
    echo "commstrat: the console did not build; run npm run build:console to see why" >&2
    exit 1
  }
}

stack_env() {
  "$ROOT/scripts/stack" up >&2
  eval "$("$ROOT/scripts/stack" env)"
}
