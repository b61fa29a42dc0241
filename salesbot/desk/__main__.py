"""`python -m salesbot.desk` serves the desk on DESK_HOST:DESK_PORT (default 127.0.0.1:8080)."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m salesbot.desk", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.add_argument("--host", default=None, help="default DESK_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default DESK_PORT or 8080")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("twilio").setLevel(logging.WARNING)  # it logs every request and its headers at INFO
    import uvicorn

    from salesbot.desk.app import create_app
    from salesbot.desk.config import load_desk_config

    config = load_desk_config()
    uvicorn.run(create_app(config), host=args.host or config.host, port=args.port or config.port,
                log_level="info", access_log=False, proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
