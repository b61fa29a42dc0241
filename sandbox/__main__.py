"""``python -m sandbox [--host ...] [--port ...] ...``: run the GREEN-API sandbox."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional, Tuple

from aiohttp import web

from .server import SandboxConfig, create_app


def parse_args(argv: Optional[List[str]] = None) -> Tuple[SandboxConfig, str]:
    d = SandboxConfig()
    p = argparse.ArgumentParser(prog="python -m sandbox", description="Local GREEN-API-compatible sandbox")
    p.add_argument("--host", default=d.host)
    p.add_argument("--port", type=int, default=d.port)
    p.add_argument("--instance-id", type=int, default=d.instance_id)
    p.add_argument("--token", default=d.token, help="apiTokenInstance expected in the URL path")
    p.add_argument("--webhook-url", default=d.webhook_url, help="empty = polling mode (notifications are queued)")
    p.add_argument("--webhook-token", default=d.webhook_token, help="sent as 'Authorization: Bearer <token>'")
    p.add_argument("--wid", default=d.wid, help="the shop's own WhatsApp id")
    p.add_argument("--group-id", default=d.group_id, help="the managers' group chatId")
    p.add_argument("--group-name", default=d.group_name)
    p.add_argument("--shop-name", default=d.shop_name)
    p.add_argument("--public-url", default="", help="base URL put into urlFile/downloadUrl (default: as requested)")
    p.add_argument("--webhook-retry-minutes", type=float, default=d.retry_window / 60,
                   help="how long a webhook that is not accepted keeps being re-delivered")
    p.add_argument("--bot-health-url", default="", help="probed to show whether the bot is up "
                   "(default: the webhook URL's folder, e.g. .../webhooks/greenapi/)")
    p.add_argument("--log-level", default="INFO")
    a = p.parse_args(argv)
    return SandboxConfig(host=a.host, port=a.port, instance_id=a.instance_id, token=a.token,
                         webhook_url=a.webhook_url, webhook_token=a.webhook_token, wid=a.wid,
                         group_id=a.group_id, group_name=a.group_name, shop_name=a.shop_name,
                         public_url=a.public_url, retry_window=a.webhook_retry_minutes * 60,
                         bot_health_url=a.bot_health_url), a.log_level


def main(argv: Optional[List[str]] = None) -> None:
    config, level = parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    base = f"http://{config.host}:{config.port}"
    line = f"GREEN-API sandbox: {base}/ (apiUrl=mediaUrl={base})"
    web.run_app(create_app(config), host=config.host, port=config.port, access_log=None,
                print=lambda *_a, **_k: (sys.stdout.write(line + "\n"), sys.stdout.flush()))


if __name__ == "__main__":
    main()
