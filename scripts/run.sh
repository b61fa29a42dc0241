#!/usr/bin/env bash
# Sets up, trains when the data changed, and runs the bot. Without GREEN-API credentials it starts the
# embedded sandbox (a local GREEN-API with a chat page) and points the channel at it.
source "$(dirname "$0")/common.sh"
bash scripts/setup.sh
model="$(bash scripts/train.sh)"
[ -f .env ] && set -a && source .env && set +a
mkdir -p runtime
# The knowledge base for the LLM fallback: only documents changed since the last run are re-embedded.
"$ACTIONS_VENV/bin/python" -m salesbot.knowledge build \
  || echo "==> WARNING: the knowledge base was not updated; the LLM fallback uses the last one built" >&2
mkdir -p runtime/logs
declare -A pid_of=() log_of=()
cleanup() { for pid in "${pid_of[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

launch() {  # launch NAME command...: run in the background, output to runtime/logs/NAME.log
  local name="$1"; shift
  log_of[$name]="runtime/logs/$name.log"
  : >"${log_of[$name]}"
  "$@" >>"${log_of[$name]}" 2>&1 &
  pid_of[$name]=$!
}

stopped() {  # stopped NAME WHEN: say that a server died, with the end of its log, and stop everything
  local code=0
  wait "${pid_of[$1]}" || code=$?
  echo "==> the $1 server stopped $2 (exit code $code). The end of ${log_of[$1]}:" >&2
  tail -n 40 "${log_of[$1]}" >&2
  unset "pid_of[$1]"
  exit 1
}

answers() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

RASA_PORT="${RASA_PORT:-5005}"; ACTIONS_PORT="${ACTIONS_PORT:-5055}"; SANDBOX_PORT="${SANDBOX_PORT:-7700}"
DESK_HOST="${DESK_HOST:-127.0.0.1}"; DESK_PORT="${DESK_PORT:-8080}"
declare -A health_of=(
  [actions]="http://127.0.0.1:$ACTIONS_PORT/health"
  [rasa]="http://127.0.0.1:$RASA_PORT/webhooks/greenapi/"
  [desk]="http://$DESK_HOST:$DESK_PORT/health"
)
use_sandbox_unless_configured "the bot" ""

# The action server accepts only calls carrying this secret (Rasa sends it from endpoints.yml); a new one per run.
export ACTION_SERVER_SECRET="${ACTION_SERVER_SECRET:-$(head -c24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
launch actions "$ACTIONS_VENV/bin/python" -m actions.server --port "$ACTIONS_PORT"
# The desk: the managers' page, the notifications API (on when NOTIFY_API_TOKEN is set) and its outbox relay. It
# reads the order in progress from Rasa's HTTP API when RASA_API_TOKEN enables it.
export DESK_HOST DESK_PORT RASA_URL="${RASA_URL:-http://127.0.0.1:$RASA_PORT}"
launch desk "$ACTIONS_VENV/bin/python" -m salesbot.desk
credentials=credentials.yml  # Rasa's unauthenticated `rest` channel only on request
if [ "${RASA_REST_CHANNEL:-0}" = 1 ]; then
  credentials=runtime/credentials.rest.yml
  { cat credentials.yml; printf '\nrest: {}\n'; } >"$credentials"
  echo "==> RASA_REST_CHANNEL=1: Rasa's unauthenticated rest channel is on (POST /webhooks/rest/webhook)" >&2
fi
api=()  # Rasa's HTTP API only with a token (RASA_API_TOKEN); messages it triggers reach WhatsApp too
[ -n "${RASA_API_TOKEN:-}" ] && api=(--enable-api --auth-token "$RASA_API_TOKEN")
launch rasa "$RASA" run --model "$model" --credentials "$credentials" --endpoints endpoints.yml --port "$RASA_PORT" \
  --interface "${RASA_INTERFACE:-127.0.0.1}" "${api[@]}"

# Offer the bot only when every server answers its health check; a server that dies meanwhile is named.
names="${!pid_of[*]}"
echo "==> starting: the Rasa server loads the model (about a minute); logs in runtime/logs/{${names// /,}}.log"
started=$SECONDS; next_report=$((SECONDS + 15)); waiting=("${!health_of[@]}")
while [ "${#waiting[@]}" -gt 0 ]; do
  for name in "${!pid_of[@]}"; do kill -0 "${pid_of[$name]}" 2>/dev/null || stopped "$name" "during start-up"; done
  still=()
  for name in "${waiting[@]}"; do answers "${health_of[$name]}" || still+=("$name"); done
  waiting=("${still[@]}")
  if [ "${#waiting[@]}" -gt 0 ]; then
    if [ "$SECONDS" -ge "$next_report" ]; then
      echo "==> still starting ($((SECONDS - started)) s): waiting for ${waiting[*]}"
      next_report=$((SECONDS + 15))
    fi
    sleep 1
  fi
done
if [ "$sandbox" = 1 ]; then
  echo "==> the bot is up. Open http://127.0.0.1:$SANDBOX_PORT/ to chat with it."
  echo "==> the managers' page is on http://$DESK_HOST:$DESK_PORT/ (notifications API $([ -n "${NOTIFY_API_TOKEN:-}" ] && echo on || echo "off: set NOTIFY_API_TOKEN"))"
else
  echo "==> the bot is up: Rasa on :$RASA_PORT, actions on :$ACTIONS_PORT, managers' page on http://$DESK_HOST:$DESK_PORT/"
fi
# The desk's first start made an admin with a one-time password: shown here once, then the file is deleted.
admin_file="${RUNTIME_DIR:-runtime}/desk-admin-password.txt"
if [ -f "$admin_file" ]; then
  read -r admin_name admin_password <"$admin_file"
  echo "==> managers' page, first start: log in as '$admin_name' with the one-time password  $admin_password"
  echo "    (you will set your own at the first login; more users: python -m salesbot.desk users add NAME --role manager)"
  rm -f "$admin_file"
fi

# Running: if any server stops, say which and stop the rest.
while true; do
  for name in "${!pid_of[@]}"; do kill -0 "${pid_of[$name]}" 2>/dev/null || stopped "$name" "while running"; done
  sleep 2
done
