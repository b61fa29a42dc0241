"""A turn whose action server could not be reached is retried whole, not saved half-done.

Rasa's processor logs any exception of a custom action and goes on ("the actions events are lost"), then saves the
turn: a confirmation whose action server died leaves the customer with no answer and a dialogue that no longer
expects the «да». Inside a channel turn (`guarded()`), a connection failure to the action server is raised as
`ActionServerUnreachable` instead, a BaseException, so it passes the processor's `except Exception`, Rasa saves
nothing, and the channel runs the turn again once the server is back (`salesbot.channel.inbound.RetryTurn`).
Outside a channel turn (Rasa's HTTP API) Rasa behaves as before.
"""
from __future__ import annotations

import contextvars
import logging
from contextlib import contextmanager
from typing import Any, Iterator

logger = logging.getLogger(__name__)

_guarded: "contextvars.ContextVar[bool]" = contextvars.ContextVar("action_guard", default=False)


class ActionServerUnreachable(BaseException):
    """The action server refused or dropped the connection during a channel turn."""


def _unreachable(error: BaseException) -> bool:
    import aiohttp

    cause = error.__cause__ or error.__context__
    return isinstance(error, aiohttp.ClientConnectionError) or isinstance(cause, aiohttp.ClientConnectionError)


def install() -> bool:
    """Wrap RemoteAction.run once; False when it was wrapped already."""
    from rasa.core.actions.action import RemoteAction

    original = RemoteAction.run
    if getattr(original, "_action_guard", False):
        return False

    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original(self, *args, **kwargs)
        except Exception as error:
            if _guarded.get() and _unreachable(error):
                logger.warning("action %s: the action server is unreachable; the turn will be run again",
                               self.name())
                raise ActionServerUnreachable(str(error)) from error
            raise

    run._action_guard = True  # type: ignore[attr-defined]
    RemoteAction.run = run
    return True


@contextmanager
def guarded() -> Iterator[None]:
    token = _guarded.set(True)
    try:
        yield
    finally:
        _guarded.reset(token)
