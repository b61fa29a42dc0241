import os
from pathlib import Path

import pytest

from tests.e2e.stack import ROOT, Stack
from tests.knowledge_helpers import build_shop_knowledge
from tests.llm_stub import API_KEY, LLMStub


def trained_model() -> str:
    model = os.environ.get("RASA_MODEL") or str(ROOT / "models" / "current.tar.gz")
    if not Path(model).exists():
        pytest.skip("no trained model: run `make test` (it trains and sets RASA_MODEL)")
    return model


@pytest.fixture(scope="session")
def llm_stub():
    with LLMStub() as server:
        yield server


@pytest.fixture(scope="session")
def knowledge_dir(tmp_path_factory):
    """The shop's documents built into a knowledge base by the real builder, once per run."""
    folder = tmp_path_factory.mktemp("knowledge")
    return build_shop_knowledge(folder)


@pytest.fixture(scope="session")
def stack(tmp_path_factory, llm_stub, knowledge_dir):
    """The main stack has an LLM (the local stub); the polling stack has none."""
    env = {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": llm_stub.base_url, "OPENAI_MODEL": "stub-model",
           "KNOWLEDGE_DIR": str(knowledge_dir), "LLM_TIMEOUT_SECONDS": "2"}
    running = Stack(tmp_path_factory.mktemp("stack"), trained_model(), env=env).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def polling_stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("polling"), trained_model(), polling=True).start()
    yield running
    running.stop()
