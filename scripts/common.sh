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

# Without GREEN-API credentials, start the sandbox (via the caller's `launch`) as the instance and point the bot at
# it; sets `sandbox` (1/0) and `health_of[sandbox]`. $1: who uses it, for the message; $2: the polling note.
# The sandbox starts first and keeps re-delivering what is typed before the bot is up.
use_sandbox_unless_configured() {
  sandbox=0
  if [ -z "${GREEN_API_INSTANCE_ID:-}" ] || [ -z "${GREEN_API_TOKEN:-}" ]; then
    sandbox=1
    export GREEN_API_URL="http://127.0.0.1:$SANDBOX_PORT" GREEN_API_MEDIA_URL="http://127.0.0.1:$SANDBOX_PORT"
    export GREEN_API_INSTANCE_ID=1101000001 GREEN_API_TOKEN="sandbox-$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    export GREEN_API_WEBHOOK_TOKEN="${GREEN_API_WEBHOOK_TOKEN:-$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
    export ORDER_NOTIFICATION_GROUP_ID="${ORDER_NOTIFICATION_GROUP_ID:-120363000000000001@g.us}"
    local webhook_url=""
    [ "${GREEN_API_POLLING:-0}" = 1 ] || webhook_url="http://127.0.0.1:$RASA_PORT/webhooks/greenapi/webhook"
    launch sandbox "$ACTIONS_VENV/bin/python" -m sandbox --port "$SANDBOX_PORT" --instance-id "$GREEN_API_INSTANCE_ID" \
      --token "$GREEN_API_TOKEN" --webhook-url "$webhook_url" --webhook-token "$GREEN_API_WEBHOOK_TOKEN" \
      --group-id "$ORDER_NOTIFICATION_GROUP_ID" --bot-health-url "http://127.0.0.1:$RASA_PORT/webhooks/greenapi/"
    health_of[sandbox]="http://127.0.0.1:$SANDBOX_PORT/sandbox/health"
    echo "==> no GREEN-API credentials: $1 uses the sandbox"
  else
    echo "==> using the GREEN-API instance $GREEN_API_INSTANCE_ID ($([ "${GREEN_API_POLLING:-0}" = 1 ] && echo "polling$2" || echo webhook))"
  fi
}
