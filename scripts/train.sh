#!/usr/bin/env bash
# Trains the model only when config.yml, domain.yml or data/ changed; prints the model's path last.
source "$(dirname "$0")/common.sh"
fingerprint="$(model_fingerprint)"
model="models/model-$fingerprint.tar.gz"
if [ -f "$model" ] && [ "${FORCE_TRAIN:-0}" != 1 ]; then
  echo "==> training data unchanged, using $model" >&2
else
  echo "==> training $model" >&2
  start=$(date +%s)
  "$RASA" train --config config.yml --domain domain.yml --data data --out models \
    --fixed-model-name "model-$fingerprint" --quiet >&2
  echo "==> trained in $(( $(date +%s) - start )) s" >&2
fi
ln -sfn "model-$fingerprint.tar.gz" models/current.tar.gz
echo "$model"
