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
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

RASA_PORT="${RASA_PORT:-5005}"; ACTIONS_PORT="${ACTIONS_PORT:-5055}"; SANDBOX_PORT="${SANDBOX_PORT:-7700}"
if [ -z "${GREEN_API_INSTANCE_ID:-}" ] || [ -z "${GREEN_API_TOKEN:-}" ]; then
  export GREEN_API_URL="http://127.0.0.1:$SANDBOX_PORT" GREEN_API_MEDIA_URL="http://127.0.0.1:$SANDBOX_PORT"
  export GREEN_API_INSTANCE_ID=1101000001 GREEN_API_TOKEN="sandbox-$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export GREEN_API_WEBHOOK_TOKEN="${GREEN_API_WEBHOOK_TOKEN:-$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
  export ORDER_NOTIFICATION_GROUP_ID="${ORDER_NOTIFICATION_GROUP_ID:-120363000000000001@g.us}"
  webhook_url=""
  [ "${GREEN_API_POLLING:-0}" = 1 ] || webhook_url="http://127.0.0.1:$RASA_PORT/webhooks/greenapi/webhook"
  "$ACTIONS_VENV/bin/python" -m sandbox --port "$SANDBOX_PORT" --instance-id "$GREEN_API_INSTANCE_ID" \
    --token "$GREEN_API_TOKEN" --webhook-url "$webhook_url" --webhook-token "$GREEN_API_WEBHOOK_TOKEN" \
    --group-id "$ORDER_NOTIFICATION_GROUP_ID" &
  pids+=($!)
  echo "==> no GREEN-API credentials: using the sandbox. Open http://127.0.0.1:$SANDBOX_PORT/ to chat with the bot."
else
  echo "==> using the GREEN-API instance $GREEN_API_INSTANCE_ID ($([ "${GREEN_API_POLLING:-0}" = 1 ] && echo polling || echo webhook))"
fi

"$ACTIONS_VENV/bin/python" -m rasa_sdk --actions actions --port "$ACTIONS_PORT" &
pids+=($!)
api=()  # Rasa's HTTP API only with a token (RASA_API_TOKEN); messages it triggers reach WhatsApp too
[ -n "${RASA_API_TOKEN:-}" ] && api=(--enable-api --auth-token "$RASA_API_TOKEN")
"$RASA" run --model "$model" --credentials credentials.yml --endpoints endpoints.yml --port "$RASA_PORT" \
  --interface "${RASA_INTERFACE:-127.0.0.1}" "${api[@]}" &
pids+=($!)
wait -n "${pids[@]}"
