"""The cached jsonschema validation accepts and rejects exactly what jsonschema.validate does (Rasa's venv
has the jsonschema that Rasa uses; this test runs wherever jsonschema is installed)."""
import pytest

jsonschema = pytest.importorskip("jsonschema")

from connectors.speedups import _original_validate, cached_validate  # noqa: E402

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
