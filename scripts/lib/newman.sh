# newman (Postman's command-line runner) for tests/acceptance/test_postman.py, which runs Tableau's
# webhooks Postman collection unmodified against the real server. Installed from the npm registry
# into the project-local, untracked .tools/ (never globally: no root, no PATH changes), and only
# when missing, so repeated runs stay offline. Exports TABHOOKS_NEWMAN=<absolute path to newman>.
# Without npm it prints why and exports nothing: the test then skips, or fails under CI=true.

# Pinned major: newman 6 needs Node >= 16; a new major may change the JSON report the test parses.
NEWMAN_MAJOR=6

_newman_root() {
  # The repository root, from this file's location, so any working directory works.
  (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
}

_newman_has_major() {
  local version
  [ -x "$1" ] || return 1
  version=$("$1" --version 2>/dev/null) || return 1
  [ "${version%%.*}" = "$NEWMAN_MAJOR" ]
}

install_newman() {
  local root bin
  root=$(_newman_root)
  bin="$root/.tools/node_modules/.bin/newman"
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "newman: node/npm not found; the Postman collection test will be skipped (fails under CI=true)"
    return 0
  fi
  if _newman_has_major "$bin"; then
    echo "newman: using $bin ($("$bin" --version))"
  else
    echo "newman: installing newman@$NEWMAN_MAJOR into $root/.tools"
    npm install --no-audit --no-fund --loglevel=error \
      --prefix "$root/.tools" "newman@$NEWMAN_MAJOR" || return 1
    _newman_has_major "$bin" || { echo "newman: install did not produce $bin"; return 1; }
  fi
  export TABHOOKS_NEWMAN="$bin"
}
