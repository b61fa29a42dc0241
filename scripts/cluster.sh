#!/usr/bin/env bash
# `make cluster`: the bot as several Rasa replicas on this machine. PostgreSQL holds Rasa's tracker store and the
# app's database, Redis Rasa's lock store; REPLICAS Rasa servers (default 2), one action server each; nginx on
# the port where the single Rasa server listens (RASA_PORT, 5005) spreads GREEN-API's webhooks over the replicas;
# the sandbox (or the configured GREEN-API instance) and the desk once. Everything the run writes is under
# CLUSTER_DIR (runtime/cluster): the generated endpoints and nginx files, logs/, pids/.
source "$(dirname "$0")/common.sh"
[ -f .env ] && set -a && source .env && set +a

REPLICAS="${REPLICAS:-2}"
RASA_PORT="${RASA_PORT:-5005}"; REPLICA_BASE_PORT="${REPLICA_BASE_PORT:-5101}"
ACTIONS_PORT="${ACTIONS_PORT:-5055}"; SANDBOX_PORT="${SANDBOX_PORT:-7700}"
DESK_HOST="${DESK_HOST:-127.0.0.1}"; DESK_PORT="${DESK_PORT:-8080}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}" PGPASSWORD="${PGPASSWORD:-}"
CLUSTER_DB="${CLUSTER_DB:-salesbot_cluster}"          # the app's tables; Rasa's trackers in ${CLUSTER_DB}_tracker
REDIS_HOST="${REDIS_HOST:-127.0.0.1}"; REDIS_PORT="${REDIS_PORT:-6379}"; REDIS_LOCK_DB="${REDIS_LOCK_DB:-1}"
CLUSTER_DIR="$(mkdir -p "${CLUSTER_DIR:-runtime/cluster}" && cd "${CLUSTER_DIR:-runtime/cluster}" && pwd)"
[[ "$REPLICAS" =~ ^[1-9][0-9]*$ ]] || { echo "REPLICAS must be a positive number, not '$REPLICAS'" >&2; exit 2; }

# -- the machine's services: nginx (Debian's package), PostgreSQL, Redis -------------------------------------------
apt_install() {  # apt_install PACKAGE...: only as root on a Debian-like machine
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing $* (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >"$CLUSTER_DIR/apt.log" 2>&1 \
      || { apt-get update -q >>"$CLUSTER_DIR/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$CLUSTER_DIR/apt.log" 2>&1; }
  else
    echo "==> $* missing: install it (as root: apt-get install $*)" >&2; exit 1
  fi
}
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$NGINX" ] || { apt_install nginx; NGINX="$(command -v nginx || echo /usr/sbin/nginx)"; }
if ! pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; then
  command -v pg_isready >/dev/null || apt_install postgresql
  [ "$(id -u)" = 0 ] && (service postgresql start >/dev/null 2>&1 || true)
  for _ in $(seq 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 1; done
  pg_isready -q -h "$PGHOST" -p "$PGPORT" || { echo "==> PostgreSQL does not answer on $PGHOST:$PGPORT" >&2; exit 1; }
fi
if ! (exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT") 2>/dev/null; then
  command -v redis-server >/dev/null || apt_install redis-server
  redis-server --port "$REDIS_PORT" --bind "$REDIS_HOST" --daemonize yes --save "" >/dev/null
  sleep 1
fi
for db in "$CLUSTER_DB" "${CLUSTER_DB}_tracker"; do
  psql -qtAc "SELECT 1 FROM pg_database WHERE datname = '$db'" postgres | grep -q 1 || createdb "$db"
done

# -- venvs, model, knowledge base (as `make run`) ---------------------------------------------------------------------
bash scripts/setup.sh
model="${RASA_MODEL:-$(bash scripts/train.sh)}"   # RASA_MODEL: a trained model to use as is
"$ACTIONS_VENV/bin/python" -m salesbot.knowledge build \
  || echo "==> WARNING: the knowledge base was not updated; the LLM fallback uses the last one built" >&2

mkdir -p "$CLUSTER_DIR/logs" "$CLUSTER_DIR/pids" "$CLUSTER_DIR/nginx"
rm -f "$CLUSTER_DIR"/pids/*
declare -A pid_of=() log_of=()
cleanup() {
  for pid in "${pid_of[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$CLUSTER_DIR"/pids/*
}
trap cleanup EXIT INT TERM
launch() {  # launch NAME command...: in the background, output to logs/NAME.log, pid in pids/NAME.pid
  local name="$1"; shift
  log_of[$name]="$CLUSTER_DIR/logs/$name.log"
  : >"${log_of[$name]}"
  "$@" >>"${log_of[$name]}" 2>&1 &
  pid_of[$name]=$!
  echo "$!" >"$CLUSTER_DIR/pids/$name.pid"
}
answers() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

export DATABASE_URL="postgresql://$PGUSER${PGPASSWORD:+:$PGPASSWORD}@$PGHOST:$PGPORT/$CLUSTER_DB"
# A replica killed in a turn holds that conversation's Redis lock until it runs out (Rasa's default: 60 s).
export TICKET_LOCK_LIFETIME="${TICKET_LOCK_LIFETIME:-30}"
declare -A health_of=([desk]="http://$DESK_HOST:$DESK_PORT/health")

use_sandbox_unless_configured "the cluster" ", one replica at a time"

export ACTION_SERVER_SECRET="${ACTION_SERVER_SECRET:-$(head -c24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export DESK_HOST DESK_PORT
launch desk "$ACTIONS_VENV/bin/python" -m salesbot.desk

# Rasa's tracker tables are created once here: replicas starting together would race to create them.
"$RASA_VENV/bin/python" - "$PGHOST" "$PGPORT" "${CLUSTER_DB}_tracker" "$PGUSER" <<'PY' >"$CLUSTER_DIR/logs/tracker-tables.log" 2>&1
import os, sys
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
host, port, db, user = sys.argv[1:5]
SQLTrackerStore(Domain.empty(), dialect="postgresql", host=host, port=int(port), db=db, username=user,
                password=os.environ.get("PGPASSWORD") or None)
PY

upstreams=""
for i in $(seq "$REPLICAS"); do
  port=$((REPLICA_BASE_PORT + i - 1)); actions_port=$((ACTIONS_PORT + i - 1))
  endpoints="$CLUSTER_DIR/endpoints-$i.yml"
  cat >"$endpoints" <<EOF
# generated by scripts/cluster.sh for replica $i: PostgreSQL tracker store, Redis lock store, its action server
action_endpoint:
  url: "http://127.0.0.1:$actions_port/webhook"
  headers:
    X-Action-Secret: \${ACTION_SERVER_SECRET}
tracker_store:
  type: SQL
  dialect: postgresql
  url: $PGHOST
  port: $PGPORT
  db: ${CLUSTER_DB}_tracker
  username: $PGUSER
  password: \${PGPASSWORD}
lock_store:
  type: redis
  url: $REDIS_HOST
  port: $REDIS_PORT
  db: $REDIS_LOCK_DB
EOF
  launch "actions-$i" "$ACTIONS_VENV/bin/python" -m actions.server --port "$actions_port"
  REPLICA_ID="replica-$i" launch "rasa-$i" "$RASA" run --model "$model" --credentials credentials.yml \
    --endpoints "$endpoints" --port "$port" --interface 127.0.0.1
  health_of[actions-$i]="http://127.0.0.1:$actions_port/health"
  health_of[rasa-$i]="http://127.0.0.1:$port/webhooks/greenapi/"
  upstreams+="        server 127.0.0.1:$port max_fails=1 fail_timeout=5s;"$'\n'
done

user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"   # a root master would otherwise hand its workers to 'nobody'
template="$(cat deploy/nginx.conf.template)"
template="${template//@USER@/$user_line}"; template="${template//@DIR@/$CLUSTER_DIR}"
template="${template//@HOST@/${RASA_INTERFACE:-127.0.0.1}}"; template="${template//@PORT@/$RASA_PORT}"
printf '%s\n' "${template//@UPSTREAMS@/${upstreams%$'\n'}}" >"$CLUSTER_DIR/nginx.conf"
"$NGINX" -t -q -p "$CLUSTER_DIR" -e "$CLUSTER_DIR/logs/nginx.log" -c "$CLUSTER_DIR/nginx.conf"
launch nginx "$NGINX" -p "$CLUSTER_DIR" -e "$CLUSTER_DIR/logs/nginx.log" -c "$CLUSTER_DIR/nginx.conf"
health_of[nginx]="http://127.0.0.1:$RASA_PORT/webhooks/greenapi/"

echo "==> starting $REPLICAS Rasa replicas (each loads the model, about a minute); logs in $CLUSTER_DIR/logs/"
started=$SECONDS; next_report=$((SECONDS + 15)); waiting=("${!health_of[@]}")
while [ "${#waiting[@]}" -gt 0 ]; do
  for name in "${!pid_of[@]}"; do
    kill -0 "${pid_of[$name]}" 2>/dev/null && continue
    echo "==> $name stopped during start-up; the end of ${log_of[$name]}:" >&2; tail -n 40 "${log_of[$name]}" >&2; exit 1
  done
  still=()
  for name in "${waiting[@]}"; do answers "${health_of[$name]}" || still+=("$name"); done
  waiting=("${still[@]}")
  if [ "${#waiting[@]}" -gt 0 ]; then
    [ "$SECONDS" -ge "$next_report" ] && echo "==> still starting ($((SECONDS - started)) s): waiting for ${waiting[*]}" \
      && next_report=$((SECONDS + 15))
    sleep 1
  fi
done
touch "$CLUSTER_DIR/pids/ready"
echo "==> the cluster is up: nginx on :$RASA_PORT over $REPLICAS replicas (:$REPLICA_BASE_PORT..), desk on $DESK_HOST:$DESK_PORT"
[ "$sandbox" = 1 ] && echo "==> open http://127.0.0.1:$SANDBOX_PORT/ to chat with it"

# Running: a replica that dies is reported and the rest go on (nginx skips it, the others take its chats over
# once its leases run out); the sandbox, the desk, nginx or the last replica dying stops everything.
while true; do
  for name in "${!pid_of[@]}"; do
    kill -0 "${pid_of[$name]}" 2>/dev/null && continue
    echo "==> $name stopped; the end of ${log_of[$name]}:" >&2; tail -n 10 "${log_of[$name]}" >&2
    unset "pid_of[$name]"; rm -f "$CLUSTER_DIR/pids/$name.pid"
    alive=0; for other in "${!pid_of[@]}"; do [[ "$other" == rasa-* ]] && alive=1; done
    if [[ "$name" != rasa-* && "$name" != actions-* ]] || [ "$alive" = 0 ]; then exit 1; fi
    echo "==> the other replicas go on" >&2
  done
  sleep 1
done
