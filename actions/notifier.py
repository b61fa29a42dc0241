"""Which notifier tells the shop about orders: the managers' WhatsApp group when configured, else the log."""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

from actions.common import storage
from salesbot.greenapi.client import GreenApiClient, GreenApiConfig
from salesbot.notifications import GroupOrderNotifier, GroupPoster
from salesbot.orders import LogOrderNotifier, OrderNotifier
from salesbot.settings import get_settings


@lru_cache(maxsize=1)
def _client() -> Optional[GreenApiClient]:
    settings = get_settings()
    if not settings.green_api_configured:
        return None
    return GreenApiClient(GreenApiConfig(settings.green_api_url, settings.green_api_media_url,
                                         settings.green_api_instance_id, settings.green_api_token))


def group_poster() -> Optional[GroupPoster]:
    settings = get_settings()
    client = _client()
    if client is None or not settings.order_notification_group_id:
        return None
    return GroupPoster(client, storage(), settings.order_notification_group_id, settings.max_group_post_chars)


def order_notifier() -> OrderNotifier:
    poster = group_poster()
    return GroupOrderNotifier(poster) if poster else LogOrderNotifier()
