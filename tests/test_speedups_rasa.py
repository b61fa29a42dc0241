"""The cached jsonschema validation accepts and rejects exactly what jsonschema.validate does (Rasa's venv
has the jsonschema that Rasa uses; this test runs wherever jsonschema is installed), and the speedups of Rasa's
own code give Rasa's results (checked in the Rasa venv by tests/speedups_rasa_check.py)."""
import os
import subprocess
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

from connectors.speedups import _original_validate, cached_validate, should_install  # noqa: E402
from tests.db_helpers import scratch_postgres  # noqa: E402

SCHEMA = {"type": "object", "properties": {"events": {"type": "array", "items": {"type": "object"}},
                                           "responses": {"type": "array"}}, "required": ["events"]}


@pytest.mark.parametrize("instance, valid", [
    ({"events": [], "responses": []}, True), ({"events": [{"event": "slot"}]}, True),
    ({"responses": []}, False), ({"events": "x"}, False), ({"events": [1]}, False),
])
def test_same_verdicts_as_jsonschema(instance, valid):
    for validate in (_original_validate, cached_validate):
        if valid:
            validate(instance, SCHEMA)
        else:
            with pytest.raises(jsonschema.ValidationError):
                validate(instance, SCHEMA)


def test_invalid_schema_is_still_reported():
    with pytest.raises(jsonschema.SchemaError):
        cached_validate({}, {"type": 12})


# The speedups of Rasa itself are checked inside the Rasa venv (this test runner's venv has no rasa): each check
# computes the results with Rasa's own code and with the speedup installed and compares them.
ROOT = Path(__file__).resolve().parents[1]
RASA_PYTHON = Path(os.environ.get("VENV_DIR", ROOT / ".venv")) / "rasa" / "bin" / "python"


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="the Rasa venv is not set up")
@pytest.mark.parametrize("check", ["install_guard", "event_types", "tracker_store", "tracker_store_postgresql",
                                   "saved_tracker", "action_response"])
def test_rasa_speedup_gives_rasas_results(check):
    if check.endswith("_postgresql"):
        with scratch_postgres():   # skips when PostgreSQL is not reachable (outside CI)
            pass
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore",
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "RASA_TELEMETRY_ENABLED": "false"}
    result = subprocess.run([str(RASA_PYTHON), str(ROOT / "tests" / "speedups_rasa_check.py"), check], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and f"{check}: ok" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]


def test_speedups_are_only_for_the_rasa_they_were_written_for_and_can_be_switched_off(caplog):
    assert should_install("3.6.21", environ={})
    with caplog.at_level("WARNING", logger="connectors.speedups"):
        assert not should_install("3.7.0", environ={})
    assert "written for Rasa 3.6.x, this is Rasa 3.7.0" in caplog.text
    assert not should_install("3.6.21", environ={"SALESBOT_SPEEDUPS": "0"})
