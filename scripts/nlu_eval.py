#!/usr/bin/env python3
"""Summarise `rasa test nlu` results: intent and entity F1 plus the worst labels and errors.

Usage (from the repo root, after training and testing):
    rasa train nlu --config config.yml --nlu data/nlu --out /tmp/nlu-models --fixed-model-name nlu-dev
    rasa test nlu --model /tmp/nlu-models/nlu-dev.tar.gz --nlu tests/nlu_holdout.yml --out /tmp/nlu-results
    python scripts/nlu_eval.py /tmp/nlu-results [--min-intent-f1 0.90]

Exits with status 1 when the weighted intent F1 is below --min-intent-f1.
"""
import argparse
import json
import sys
from pathlib import Path


def _load(path: Path):
    if not path.exists():
        return None
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _print_report(title: str, report: dict) -> float:
    wa = report.get("weighted avg", {})
    f1 = float(wa.get("f1-score", 0.0))
    print(f"== {title}: weighted F1 {f1:.4f}  (precision {wa.get('precision', 0):.4f}, "
          f"recall {wa.get('recall', 0):.4f}, support {wa.get('support', 0)})")
    if "micro avg" in report:
        print(f"   micro F1 {report['micro avg'].get('f1-score', 0):.4f}")
    if "accuracy" in report:
        print(f"   accuracy {report['accuracy']:.4f}")
    rows = [
        (label, v) for label, v in report.items()
        if isinstance(v, dict) and "f1-score" in v and not label.endswith("avg")
    ]
    rows.sort(key=lambda kv: kv[1]["f1-score"])
    for label, v in rows:
        conf = v.get("confused_with") or {}
        conf_s = ", ".join(f"{k}:{n}" for k, n in conf.items())
        print(f"   {label:18s} f1 {v['f1-score']:.3f}  p {v['precision']:.3f}  r {v['recall']:.3f}  "
              f"n {v['support']:3d}  {('confused_with ' + conf_s) if conf_s else ''}")
    return f1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("results_dir", nargs="?", default="/tmp/nlu-results")
    ap.add_argument("--min-intent-f1", type=float, default=0.0)
    ap.add_argument("--show-errors", type=int, default=40)
    args = ap.parse_args()
    d = Path(args.results_dir)

    intent = _load(d / "intent_report.json")
    if intent is None:
        print(f"no intent_report.json in {d}", file=sys.stderr)
        return 2
    intent_f1 = _print_report("intent", intent)

    ent = _load(d / "DIETClassifier_report.json")
    if ent is not None:
        _print_report("entity (DIETClassifier)", ent)

    errors = _load(d / "intent_errors.json") or []
    if errors and args.show_errors:
        print(f"== intent errors ({len(errors)}):")
        for e in errors[: args.show_errors]:
            pred = e.get("intent_prediction", {})
            print(f"   {e.get('intent'):16s} -> {pred.get('name'):16s} "
                  f"{pred.get('confidence', 0):.2f}  {e.get('text')}")

    ent_errors = _load(d / "DIETClassifier_errors.json") or []
    if ent_errors and args.show_errors:
        print(f"== entity errors ({len(ent_errors)}):")
        for e in ent_errors[: args.show_errors]:
            gold = [(x["entity"], x.get("value")) for x in e.get("entities", [])]
            pred = [(x["entity"], x.get("value")) for x in e.get("predicted_entities", [])]
            print(f"   {e.get('text')}\n      gold {gold}\n      pred {pred}")

    if intent_f1 < args.min_intent_f1:
        print(f"FAIL: intent F1 {intent_f1:.4f} < {args.min_intent_f1}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
