# Debian's Chromium for the browser tests in tests/ui (Playwright drives /usr/bin/chromium;
# it never downloads a browser of its own). Installed with apt only when missing, so repeated
# runs stay offline; sudo is used when not root. Without apt it prints why and returns 0: the
# UI tests then skip, or fail under CI=true.

install_chromium() {
  if [ -x /usr/bin/chromium ]; then
    echo "chromium: using /usr/bin/chromium"
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium: /usr/bin/chromium missing and no apt-get; UI tests will be skipped (fail under CI=true)"
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "chromium: not root and no sudo; UI tests will be skipped (fail under CI=true)"
      return 0
    fi
    sudo="sudo"
  fi
  echo "chromium: installing Debian's chromium with apt-get"
  # Recommended packages stay: they bring the fonts pages (and screenshots) are drawn with.
  $sudo apt-get update -qq \
    && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
    || { echo "chromium: apt-get install failed"; return 1; }
  [ -x /usr/bin/chromium ] || { echo "chromium: the package did not provide /usr/bin/chromium"; return 1; }
  echo "chromium: installed $(/usr/bin/chromium --version 2>/dev/null || echo '(version unknown)')"
}
