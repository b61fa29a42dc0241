"""Kept for the tests' imports: the stub lives in devstack/ so that bench/ imports nothing from tests/."""
from devstack.llm_stub import *  # noqa: F401,F403
