"""The trained model gives bit-identical NLU parses and policy predictions with connectors/speedups.py installed
(one-thread TensorFlow pools) and without it: both run in the Rasa venv, side by side."""
import json
import os
import subprocess

from tests.e2e.conftest import trained_model
from tests.e2e.stack import ROOT, VENV


def test_speedups_keep_the_models_predictions():
    model = trained_model()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore",
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "RASA_TELEMETRY_ENABLED": "false"}
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        env.pop(name, None)
    runs = {variant: subprocess.Popen([str(VENV / "rasa" / "bin" / "python"), str(ROOT / "tests" / "speedups_rasa_check.py"),
                                       "predictions", model, variant], cwd=ROOT, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for variant in ("rasa", "speedups")}
    results = {}
    for variant, proc in runs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        results[variant] = json.loads(out.strip().splitlines()[-1])
    assert len(results["rasa"]) > 40
    assert any(row[0] != "action_listen" and isinstance(row[1], list) and len(row[1]) > 10 for row in results["rasa"])
    assert results["speedups"] == results["rasa"]
