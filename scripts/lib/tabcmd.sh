# tabcmd (PyPI) in its own virtualenv: it pins an older tableauserverclient than the tests use,
# so it must not share .venv. Idempotent; the tests find it at .tools/tabcmd-venv/bin/tabcmd.

install_tabcmd() {
  local venv=.tools/tabcmd-venv
  if [ ! -x "$venv/bin/tabcmd" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'tabcmd>=2.0,<3'
  fi
  echo "tabcmd: $("$venv/bin/tabcmd" --version 2>/dev/null | tail -n 1)"
}
