"""Print held-out intent and entity F1 from `rasa test nlu` results; exit 1 below the intent F1 target."""
import json
import sys
from pathlib import Path

results = Path(sys.argv[1])
target = float(sys.argv[2]) if len(sys.argv) > 2 else 0.90
intent = json.loads((results / "intent_report.json").read_text())["weighted avg"]
entity_file = results / "DIETClassifier_report.json"
entity = json.loads(entity_file.read_text())["weighted avg"] if entity_file.exists() else None
print(f"held-out intent F1: {intent['f1-score']:.3f} (precision {intent['precision']:.3f}, "
      f"recall {intent['recall']:.3f}, n={intent['support']})")
if entity:
    print(f"held-out entity F1: {entity['f1-score']:.3f} (precision {entity['precision']:.3f}, "
          f"recall {entity['recall']:.3f}, n={entity['support']})")
if intent["f1-score"] < target:
    print(f"intent F1 below the target {target}", file=sys.stderr)
    sys.exit(1)
