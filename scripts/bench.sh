#!/usr/bin/env bash
# Benchmarks (figures printed, never asserted): full training time, per-message model latency, and the
# end-to-end WhatsApp path (webhook in -> last reply at the sandbox) with 50 concurrent chats.
source "$(dirname "$0")/common.sh"
bash scripts/setup.sh
out="$(mktemp -d)"
echo "==> full training from scratch (2 cores; Rasa's component cache pointed at an empty folder)"
start=$(date +%s%N)
RASA_CACHE_DIRECTORY="$out/cache" "$RASA" train --config config.yml --domain domain.yml --data data --out "$out" --fixed-model-name bench --quiet \
  >"$out/train.log" 2>&1
echo "training time: $(( ($(date +%s%N) - start) / 1000000 )) ms"
echo "==> loaded model latency"
LOG_LEVEL=WARNING "$RASA_VENV/bin/python" bench/bench_model.py "$out/bench.tar.gz" 300 2>/dev/null \
  | grep -E "^(model load|NLU)"
if [ -f bench/bench_e2e.py ]; then
  echo "==> end-to-end through the sandbox, the action server and the Rasa server"
  RASA_MODEL="$out/bench.tar.gz" "$ACTIONS_VENV/bin/python" bench/bench_e2e.py
fi
echo "==> share of customer turns that needed the LLM (tests/test_stories.yml through the real servers)"
RASA_MODEL="$out/bench.tar.gz" "$ACTIONS_VENV/bin/python" bench/bench_llm_share.py
echo "==> scripted customers on the second demo shop (shops/sport): orders posted vs expected"
RASA_MODEL="$out/bench.tar.gz" "$ACTIONS_VENV/bin/python" bench/bench_simulator.py
echo "==> retrieval check (recall@3)"
"$ACTIONS_VENV/bin/python" -m salesbot.knowledge eval
rm -rf "$out"
