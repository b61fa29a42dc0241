#!/usr/bin/env bash
# Sets everything up and runs every test: unit and action tests, data validation, held-out NLU F1,
# end-to-end Russian conversations (rasa test), and the end-to-end tests through real servers.
source "$(dirname "$0")/common.sh"
bash scripts/setup.sh
mkdir -p results
failures=0
step() { echo; echo "==> $*"; }

step "lint: ruff check . and mypy salesbot (pyproject.toml)"
if "$ACTIONS_VENV/bin/ruff" check . && "$ACTIONS_VENV/bin/mypy" salesbot; then
  echo "lint: passed"
else
  failures=$((failures+1))
fi

step "rasa data validate"
if "$RASA" data validate --domain domain.yml --data data --config config.yml >results/validate.log 2>&1; then
  echo "rasa data validate: passed"
else
  grep -E "ERROR|Error|Exception" results/validate.log | head -20
  failures=$((failures+1))
fi

step "training (skipped when the data did not change)"
model="$(bash scripts/train.sh)"

step "held-out NLU evaluation (tests/nlu_holdout.yml, never trained on)"
rm -rf results/nlu
"$RASA" test nlu --model "$model" --nlu tests/nlu_holdout.yml --out results/nlu >results/nlu.log 2>&1 \
  || { tail -20 results/nlu.log; failures=$((failures+1)); }
"$ACTIONS_VENV/bin/python" scripts/nlu_eval.py results/nlu --min-intent-f1 0.93 || failures=$((failures+1))

step "dialogue tests: rasa test --fail-on-prediction-errors (tests/test_stories.yml)"
rm -rf results/core
if "$RASA" test core --model "$model" --stories tests/test_stories.yml --out results/core \
     --fail-on-prediction-errors >results/core.log 2>&1; then
  grep -h -E "Correct:|Accuracy" results/core.log | head -4 || true
  echo "$(grep -c '^  - story:' tests/test_stories.yml) conversations passed"
else
  grep -v -E "Warning|warn" results/core.log | tail -30
  [ -f results/core/failed_test_stories.yml ] && cat results/core/failed_test_stories.yml
  failures=$((failures+1))
fi

step "pytest (actions, inventory, storage, sandbox, channel, end-to-end through real servers)"
export RASA_MODEL="$ROOT/$model"
"$ACTIONS_VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=25 "$@" || failures=$((failures+1))

echo
if [ "$failures" -ne 0 ]; then
  echo "FAILED: $failures test step(s) failed"
  exit 1
fi
echo "all test steps passed"
