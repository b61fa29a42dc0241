import os
from pathlib import Path

import pytest

from tests.e2e.stack import ROOT, Stack


def trained_model() -> str:
    model = os.environ.get("RASA_MODEL") or str(ROOT / "models" / "current.tar.gz")
    if not Path(model).exists():
        pytest.skip("no trained model: run `make test` (it trains and sets RASA_MODEL)")
    return model


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("stack"), trained_model()).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def polling_stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("polling"), trained_model(), polling=True).start()
    yield running
    running.stop()
