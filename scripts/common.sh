# Shared by the scripts: paths of the two venvs and how to find the interpreters. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV_DIR="${VENV_DIR:-$ROOT/.venv}"
RASA_VENV="$VENV_DIR/rasa"          # Python 3.10: rasa==3.6.21 (TensorFlow needs <=3.10)
ACTIONS_VENV="$VENV_DIR/actions"    # Python 3.11: rasa-sdk, pandas, the test runner
RASA="$RASA_VENV/bin/rasa"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
export SQLALCHEMY_SILENCE_UBER_WARNING=1
export RASA_TELEMETRY_ENABLED=false
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

find_python() {  # find_python 3.10 -> path of an interpreter of that version
  local want="$1" candidate
  for candidate in "${PYTHON_FOR[$want]:-}" "$(command -v pyenv >/dev/null 2>&1 && echo "$(pyenv root)/versions/$(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}\.[0-9]+$" | tail -n1)/bin/python$want")" "python$want" "/usr/bin/python$want" "/usr/local/bin/python$want"; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$want'.split('.')))" >/dev/null 2>&1; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python $want not found: install it (pyenv install $want) or set PYTHON${want//./}=/path/to/python$want" >&2
  return 1
}
declare -A PYTHON_FOR=([3.10]="${PYTHON310:-}" [3.11]="${PYTHON311:-}")

model_fingerprint() {  # hash of everything training reads
  find config.yml domain.yml data -type f -name '*.yml' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16
}
