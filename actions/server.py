"""The action server launcher: rasa-sdk's endpoint app behind a shared-secret check, on 127.0.0.1.

rasa-sdk has no authentication of its own and binds 0.0.0.0; anyone who reaches it could post a made-up tracker
(a forged order to the managers' group, a paused chat, LLM spend). Rasa's action endpoint sends the secret as a
header set in `endpoints.yml` (`headers: {X-Action-Secret: ${ACTION_SERVER_SECRET}}`).

    ACTION_SERVER_SECRET=... python -m actions.server [--port 5055] [--host 127.0.0.1]
"""
from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys
from functools import partial
from typing import Optional

SECRET_ENV = "ACTION_SERVER_SECRET"
SECRET_HEADER = "X-Action-Secret"
OPEN_PATHS = frozenset({"/health"})     # the health check carries nothing and must work for run.sh and probes
MIN_SECRET_LENGTH = 16

logger = logging.getLogger("actions.server")   # not __mp_main__ in a Sanic worker


def secret_matches(expected: bytes, presented: Optional[str]) -> bool:
    """Constant-time comparison; a missing header never matches."""
    if presented is None:
        return False
    return hmac.compare_digest(expected, presented.encode("utf-8", "surrogateescape"))


def install_secret_check(app, secret: str) -> None:
    """Reject every call but the health check that does not carry the secret header: 401 and a log line."""
    from sanic import response

    expected = secret.encode("utf-8")

    @app.on_request
    async def require_secret(request):
        if request.path in OPEN_PATHS:
            return None
        if secret_matches(expected, request.headers.get(SECRET_HEADER)):
            return None
        logger.warning("action server: refused %s %s from %s: %s header %s", request.method, request.path,
                       request.ip, SECRET_HEADER, "missing" if SECRET_HEADER not in request.headers else "wrong")
        return response.json({"error": "unauthorized"}, status=401)


def configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-8s %(name)s  - %(message)s")


def build_app(action_executor, secret: str, endpoints: str):
    """The app factory (module level: Sanic's AppLoader re-creates the app in each worker)."""
    from rasa_sdk.endpoint import create_app_for_serve

    configure_logging()   # Sanic workers are fresh processes: without this the actions' INFO lines are lost
    app = create_app_for_serve(action_executor, cors_origins=None, endpoints=endpoints)
    install_secret_check(app, secret)
    return app


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="the bot's action server (rasa-sdk) behind a shared secret")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTIONS_PORT", "5055")))
    parser.add_argument("--host", default=os.environ.get("ACTION_SERVER_HOST", "127.0.0.1"))
    parser.add_argument("--actions", default="actions")
    parser.add_argument("--endpoints", default="endpoints.yml")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    secret = os.environ.get(SECRET_ENV, "")
    if len(secret) < MIN_SECRET_LENGTH:
        sys.exit(f"{SECRET_ENV} must be set to a random secret of at least {MIN_SECRET_LENGTH} characters "
                 f"(e.g. `export {SECRET_ENV}=$(openssl rand -hex 24)`); Rasa sends it from endpoints.yml. "
                 f"`make run` generates one per run.")
    from rasa_sdk import utils
    from rasa_sdk.executor import ActionExecutor
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    configure_logging()
    utils.update_sanic_log_level()
    executor = ActionExecutor()
    executor.register_package(args.actions)
    loader = AppLoader(factory=partial(build_app, executor, secret, args.endpoints))
    app = loader.load()
    app.prepare(host=args.host, port=args.port, workers=utils.number_of_sanic_workers())
    logger.info("action server on http://%s:%d (calls need the %s header)", args.host, args.port, SECRET_HEADER)
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
