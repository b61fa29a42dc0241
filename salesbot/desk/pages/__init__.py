"""The managers' page: server-rendered Jinja2 pages with htmx for the live parts (salesbot/desk/templates,
vendored scripts in salesbot/desk/static). One module per page; `page_routes()` is what create_app mounts."""
from __future__ import annotations

from pathlib import Path
from typing import List, Union

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def page_routes() -> List[Union[Route, Mount]]:
    from salesbot.desk.pages import account, chats, logs, orders

    return [
        Route("/", logs.home, methods=["GET"]),
        Route("/login", account.login_form, methods=["GET"]),
        Route("/login", account.login, methods=["POST"]),
        Route("/logout", account.logout, methods=["POST"]),
        Route("/password", account.password_form, methods=["GET"]),
        Route("/password", account.change_password, methods=["POST"]),
        Route("/users", account.users_page, methods=["GET"]),
        Route("/users", account.add_user_page, methods=["POST"]),
        Route("/users/{id:int}/active", account.set_user_active, methods=["POST"]),
        Route("/chats", chats.chats_page, methods=["GET"]),
        Route("/chats/list", chats.chats_list, methods=["GET"]),
        Route("/chats/{chat_id}", chats.chat_page, methods=["GET"]),
        Route("/chats/{chat_id}/messages", chats.chat_messages, methods=["GET"]),
        Route("/chats/{chat_id}/state", chats.chat_state, methods=["GET"]),
        Route("/chats/{chat_id}/take", chats.take_chat, methods=["POST"]),
        Route("/chats/{chat_id}/release", chats.release_chat, methods=["POST"]),
        Route("/chats/{chat_id}/answer", chats.answer_chat, methods=["POST"]),
        Route("/chats/{chat_id}/photo/{inbox_id:int}", chats.chat_photo, methods=["GET"]),
        Route("/orders", orders.orders_page, methods=["GET"]),
        Route("/orders/{id:int}/status", orders.set_status, methods=["POST"]),
        Route("/orders/{id:int}/notify", orders.notify_delivery, methods=["POST"]),
        Route("/notifications", logs.notifications_page, methods=["GET"]),
        Route("/notifications/{id:int}", logs.notification_detail, methods=["GET"]),
        Route("/notifications/{id:int}/retry", logs.retry_notification, methods=["POST"]),
        Route("/handovers", logs.handovers_page, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
