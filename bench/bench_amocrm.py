"""amoCRM mirror benchmark: notifications → outbox rows → the amoCRM relay → the local amojo-compatible server.

Prints import throughput and the latency from a notification being stored to amojo accepting its import (p50/p99),
for many chats at once, first with amoCRM up, then after an outage (the backlog drained once it is back), and
lost / doubled / out-of-order imports. Figures are printed, never asserted. No Rasa needed:
`python bench/bench_amocrm.py` (BENCH_AMOCRM_CHATS, BENCH_AMOCRM_MESSAGES, BENCH_AMOCRM_OUTAGE_SECONDS).
"""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from devstack.amojo_server import AmojoServer  # noqa: E402
from salesbot.amocrm.mirror import AmocrmMirror  # noqa: E402
from salesbot.amocrm.relay import amojo_relay  # noqa: E402
from salesbot.db import Repositories, open_database  # noqa: E402
from salesbot.settings import load_settings  # noqa: E402

CHATS = int(os.environ.get("BENCH_AMOCRM_CHATS", "50"))
MESSAGES = int(os.environ.get("BENCH_AMOCRM_MESSAGES", "6"))
OUTAGE = float(os.environ.get("BENCH_AMOCRM_OUTAGE_SECONDS", "5"))
CHANNEL, SECRET, ACCOUNT = "bench-channel", "bench-secret", "bench-account"


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def notification(chat: str, step: int, tag: str) -> Dict:
    kind = "incomingMessageReceived" if step % 2 == 0 else "outgoingAPIMessageReceived"
    return {"typeWebhook": kind, "timestamp": int(time.time()), "idMessage": f"{tag}-{chat[:12]}-{step}",
            "senderData": {"chatId": chat, "chatName": "Клиент", "sender": chat, "senderName": "Клиент"},
            "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": f"сообщение {step}"}}}


async def round_(server: AmojoServer, mirror: AmocrmMirror, tag: str, outage: float) -> None:
    chats = [f"770{n:08d}@c.us" for n in range(CHATS)]
    server.reset()
    if outage:
        server.fail(503, seconds=outage)
    stored: Dict[str, float] = {}
    expected: Dict[str, List[str]] = {chat: [] for chat in chats}
    started = time.monotonic()
    for step in range(MESSAGES):
        for chat in chats:
            body = notification(chat, step, tag)
            await asyncio.to_thread(mirror.enqueue, body, time.time() - 10)  # echoes due at once here
            stored[body["idMessage"]] = time.time()
            expected[chat].append(body["idMessage"])
    total = CHATS * MESSAGES
    deadline = time.monotonic() + 120 + outage
    while len(server.imported()) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    elapsed = time.monotonic() - started
    imported = server.imported()
    latencies = [(i["at"] - stored[i["payload"]["msgid"]]) * 1000 for i in imported if i["payload"]["msgid"] in stored]
    ids = [i["payload"]["msgid"] for i in imported]
    lost = total - len(set(ids))
    doubled = len(ids) - len(set(ids))
    out_of_order = sum(1 for chat in chats if [i for i in ids if i in set(expected[chat])] != expected[chat])
    label = f"amoCRM down {outage:.0f}s" if outage else "amoCRM up"
    print(f"{label:>16}: {total} imports from {CHATS} chats in {elapsed:.1f}s = {total / elapsed:.0f}/s; "
          f"store→import p50 {percentile(latencies, 50):.0f} ms, p99 {percentile(latencies, 99):.0f} ms; "
          f"lost {lost}, doubled {doubled}, chats out of order {out_of_order}; refused calls {server.failed_requests}")


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder, AmojoServer(CHANNEL, SECRET, ACCOUNT) as server:
        repos = Repositories(open_database(f"sqlite:///{Path(folder) / 'bench.db'}"))
        settings = load_settings({"AMOCRM_AMOJO_URL": server.url, "AMOCRM_CHANNEL_ID": CHANNEL,
                                  "AMOCRM_CHANNEL_SECRET": SECRET, "AMOCRM_ACCOUNT_ID": ACCOUNT,
                                  "AMOCRM_RETRY_CAP_SECONDS": "1", "DATABASE_URL": "sqlite://"})
        amojo = amojo_relay(settings, repos)
        stop = asyncio.Event()
        running = asyncio.create_task(amojo.run(stop))
        mirror = AmocrmMirror(repos)
        await round_(server, mirror, "up", 0)
        await round_(server, mirror, "down", OUTAGE)
        stop.set()
        await running
        await amojo.close()


if __name__ == "__main__":
    asyncio.run(main())
