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
  mkdir -p models
  "$RASA" train --config config.yml --domain domain.yml --data data --out models \
    --fixed-model-name "model-$fingerprint" >models/train.log 2>&1 \
    || { grep -v -i warn models/train.log | tail -30 >&2; echo "training failed (models/train.log)" >&2; exit 1; }
  ls -t models/model-*.tar.gz 2>/dev/null | tail -n +4 | xargs -r rm -f  # keep the three newest models
  echo "==> trained in $(( $(date +%s) - start )) s" >&2
fi
ln -sfn "model-$fingerprint.tar.gz" models/current.tar.gz
echo "$model"
