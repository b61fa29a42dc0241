"""Kept for the tests' imports: the stack lives in devstack/ so that bench/ imports nothing from tests/."""
from devstack.stack import *  # noqa: F401,F403
from devstack.stack import ROOT, VENV, http, wait_until  # noqa: F401
