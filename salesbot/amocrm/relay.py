"""The relay of the amoCRM kinds (imports, delivery statuses), separate from the GREEN-API one: its own retry policy
(AMOCRM_RETRY_BASE_SECONDS / AMOCRM_RETRY_CAP_SECONDS), so amoCRM being down never slows the replies to customers,
and when amoCRM is back the waiting imports go out within one capped backoff, in order per chat."""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

from salesbot.amocrm.client import AmojoClient
from salesbot.amocrm.mirror import AmojoDelivery, ScopeStore
from salesbot.db import Repositories
from salesbot.outbox import OutboxRelay, RetryPolicy
from salesbot.settings import Settings

logger = logging.getLogger(__name__)
GIVE_UP_AFTER_SECONDS = 7 * 24 * 3600.0  # an import waits up to a week for amoCRM


def amojo_client(settings: Settings) -> AmojoClient:
    return AmojoClient(settings.amocrm_amojo_url, settings.amocrm_channel_id, settings.amocrm_channel_secret,
                       settings.amocrm_account_id, timeout=settings.amocrm_timeout_seconds)


def scope_store(settings: Settings, repos: Repositories, client: AmojoClient) -> ScopeStore:
    return ScopeStore(repos, client, settings.amocrm_channel_id, settings.amocrm_account_id,
                      settings.amocrm_scope_id, settings.amocrm_title)


@dataclass
class AmojoRelay:
    relay: OutboxRelay
    client: AmojoClient
    scopes: ScopeStore

    async def run(self, stop: asyncio.Event) -> None:
        """Connect the channel at start (unless the scope is configured or stored), then relay until `stop`.
        amoCRM unreachable at start is no error: the first import connects then."""
        try:
            await self.scopes.get()
        except Exception as exc:
            logger.warning("amoCRM: connect at start failed (%s); retried with the first import", exc)
        await self.relay.run(stop)

    async def close(self) -> None:
        await self.client.close()


def amojo_relay(settings: Settings, repos: Repositories) -> AmojoRelay:
    """The relay of the amoCRM kinds with its client and scope (run it with `.run(stop)`, then `.close()`)."""
    client = amojo_client(settings)
    scopes = scope_store(settings, repos, client)
    delivery = AmojoDelivery(repos, client, scopes)
    timeout = settings.amocrm_timeout_seconds + 5
    policy = RetryPolicy(base_seconds=settings.amocrm_retry_base_seconds,
                         cap_seconds=settings.amocrm_retry_cap_seconds, give_up_after_seconds=GIVE_UP_AFTER_SECONDS)
    relay = OutboxRelay(repos.outbox, delivery.senders(), policy=policy, worker_id=f"amojo-{os.getpid()}",
                        send_timeout=timeout, lease_seconds=max(120.0, 4 * timeout), batch_size=50,
                        poll_seconds=0.5)
    return AmojoRelay(relay, client, scopes)
