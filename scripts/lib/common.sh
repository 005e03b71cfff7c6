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

stack_env() {
  "$ROOT/scripts/stack" up >&2
  eval "$("$ROOT/scripts/stack" env)"
}
