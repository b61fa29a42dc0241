"""`python -m salesbot.desk` serves the desk on DESK_HOST:DESK_PORT (default 127.0.0.1:8080).
`python -m salesbot.desk users add NAME --role manager` adds a user of the managers' page (prints a generated
one-time password, or reads one from standard input with --password-stdin); `users list` lists them."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional


def users_command(args: argparse.Namespace) -> int:
    from salesbot.db import open_database
    from salesbot.db.desk import DeskUserRepository
    from salesbot.desk.auth import add_user
    from salesbot.desk.config import load_desk_config

    config = load_desk_config()
    db = open_database(config.settings.database_url)
    try:
        users = DeskUserRepository(db)
        if args.action == "list":
            for user in users.list():
                print(f"{user['name']}\t{user['role']}\t{'active' if user['active'] else 'disabled'}")
            return 0
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
        try:
            user_id, password = add_user(users, args.name.strip().lower(), args.role, password,
                                         must_change=not args.password_stdin)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if user_id is None:
            print(f"error: the user {args.name} exists already", file=sys.stderr)
            return 1
        if args.password_stdin:
            print(f"added {args.name} ({args.role})")
        else:
            print(f"added {args.name} ({args.role}); one-time password: {password}")
        return 0
    finally:
        db.dispose()


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["users"]:
        parser = argparse.ArgumentParser(prog="python -m salesbot.desk users")
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="add a user of the managers' page")
        add.add_argument("name")
        add.add_argument("--role", choices=["manager", "admin"], default="manager")
        add.add_argument("--password-stdin", action="store_true",
                         help="read the password from standard input (else one is generated and printed)")
        actions.add_parser("list", help="list the users")
        return users_command(parser.parse_args(argv[1:]))
    parser = argparse.ArgumentParser(prog="python -m salesbot.desk", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.add_argument("--host", default=None, help="default DESK_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default DESK_PORT or 8080")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("twilio").setLevel(logging.WARNING)  # it logs every request and its headers at INFO
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines carry Rasa's token in the query
    import uvicorn

    from salesbot.desk.app import create_app
    from salesbot.desk.config import load_desk_config

    config = load_desk_config()
    uvicorn.run(create_app(config), host=args.host or config.host, port=args.port or config.port,
                log_level="info", access_log=False, proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
