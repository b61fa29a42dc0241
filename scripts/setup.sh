#!/usr/bin/env bash
# Creates both venvs and installs the requirements; does nothing for a venv whose requirements did not change.
source "$(dirname "$0")/common.sh"

quiet_pip() { grep -v -E "is ignored: it is neither a file nor a directory" || true; }

make_venv() {  # make_venv DIR PYTHON_VERSION REQUIREMENTS...
  local dir="$1" version="$2" stamp want
  shift 2
  want="$(cat "$@" | sha256sum | cut -c1-16)"
  stamp="$dir/.requirements-$want"
  [ -f "$stamp" ] && return 0
  local python; python="$(find_python "$version")"
  echo "==> setting up $dir (Python $version) from $*"
  [ -x "$dir/bin/python" ] || "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --upgrade pip wheel 2>&1 | quiet_pip
  local file; for file in "$@"; do
    "$dir/bin/python" -m pip install --quiet -r "$file" 2>&1 | quiet_pip
  done
  rm -f "$dir"/.requirements-*
  touch "$stamp"
}

make_venv "$RASA_VENV" 3.10 requirements/rasa.txt
make_venv "$ACTIONS_VENV" 3.11 requirements/actions.txt requirements/dev.txt  # runtime, then test/dev tools
echo "==> venvs ready: $RASA_VENV, $ACTIONS_VENV"

# The managers' page's browser tests drive Debian's chromium (never a browser Playwright downloads itself).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium (Debian's package) for the browser tests"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "==> chromium could not be installed: the browser tests will be skipped" >&2
  else
    echo "==> /usr/bin/chromium is missing (install Debian's chromium as root): the browser tests will be skipped" >&2
  fi
fi
