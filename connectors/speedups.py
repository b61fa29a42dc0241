"""Rasa 3.6 validates every action-server response with `jsonschema.validate`, which re-checks the schema itself
against the JSON-Schema metaschema on each call (a sixth of the Rasa server's CPU under load, measured with py-spy).
`install()` swaps in a `validate` with the same semantics that checks each distinct schema once and reuses its
validator. Installed by the GREEN-API channel when Rasa creates it.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Dict

import jsonschema
from jsonschema import exceptions, validators

_original_validate = jsonschema.validate
_validators: Dict[str, Any] = {}
_lock = threading.Lock()


def cached_validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    if cls is not None or args or kwargs:
        return _original_validate(instance, schema, cls, *args, **kwargs)
    key = json.dumps(schema, sort_keys=True, default=repr)
    validator = _validators.get(key)
    if validator is None:
        klass = validators.validator_for(schema)
        klass.check_schema(schema)  # once per distinct schema, as jsonschema.validate would every time
        with _lock:
            validator = _validators.setdefault(key, klass(schema))
    error = exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def install() -> None:
    jsonschema.validate = cached_validate
