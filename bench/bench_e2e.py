"""End-to-end benchmark through the real servers: webhook in -> last reply received by the GREEN-API sandbox.

Prints per-turn latency p50/p99 (sandbox clock: webhook delivery to the last send of the turn), throughput with
50 chats talking at once, and lost, duplicated and out-of-order replies against a sequential reference run.
Figures are printed, never asserted. Needs RASA_MODEL (scripts/bench.sh sets it).
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from devstack.knowledge import build_shop_knowledge  # noqa: E402
from devstack.stack import Stack  # noqa: E402

SCRIPT = ["здравствуйте", "рассрочка без переплаты есть?", "хочу заказать балетки шанель 37 черные", "алматы",
          "ул абая 10 кв 5", "да", "спасибо"]
CHATS = int(os.environ.get("BENCH_CHATS", "50"))


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its live descendants (Sanic may run its server
    in a child process), in milliseconds, from /proc/<pid>/stat."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, (0, 0))[1]
        todo += [child for child, (parent, _) in stats.items() if parent == current]
    return total * 1000 / os.sysconf("SC_CLK_TCK")


def start_perf(pid: int):
    """BENCH_PERF=1: count the Rasa server's retired instructions with `perf stat` (steadier than CPU time when
    other work shares the cores); None when perf is unavailable."""
    if os.environ.get("BENCH_PERF") != "1" or not shutil.which("perf"):
        return None
    out = tempfile.NamedTemporaryFile("w+", suffix=".perf")
    proc = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "instructions", "-o", out.name, "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, out


def stop_perf(perf) -> Optional[float]:
    if perf is None:
        return None
    proc, out = perf
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    for line in Path(out.name).read_text().splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
            return float(fields[0])
    return None


def normalize(text: str) -> str:
    return re.sub(r"\d+", "#", text or "")


class Client:
    def __init__(self, base: str, session: aiohttp.ClientSession):
        self.base, self.session = base, session

    async def get(self, path: str, **params):
        async with self.session.get(self.base + path, params=params) as response:
            return await response.json()

    async def say(self, chat: str, text: str) -> str:
        async with self.session.post(self.base + "/sandbox/customer",
                                     json={"chatId": chat, "text": text, "senderName": "Бенч"}) as response:
            return (await response.json())["idMessage"]

    async def bot_texts(self, chat: str):
        return [m for m in await self.get(f"/sandbox/chats/{chat}/messages") if m.get("by") == "bot"]

    async def wait_quiet(self, chat: str, at_least: int, quiet: float = 0.4, timeout: float = 60.0):
        """Wait until the chat has `at_least` bot messages and no new one came for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        count, changed = -1, time.monotonic()
        while time.monotonic() < deadline:
            current = len(await self.bot_texts(chat))
            if current != count:
                count, changed = current, time.monotonic()
            elif current >= at_least and time.monotonic() - changed >= quiet:
                return current
            await asyncio.sleep(0.05)
        return count


async def turn_latencies(client: Client, chat: str, ids, texts=None, slow=None):
    deliveries = await client.get("/sandbox/deliveries", chatId=chat)
    calls = [c for c in await client.get("/sandbox/calls", chatId=chat) if c["method"].startswith("send")]
    started = {}
    for delivery in deliveries:
        if delivery["typeWebhook"] == "incomingMessageReceived" and delivery["idMessage"] not in started:
            started[delivery["idMessage"]] = delivery["time"]
    latencies = []
    for i, id_message in enumerate(ids):
        begin = started[id_message]
        end = started[ids[i + 1]] if i + 1 < len(ids) else float("inf")
        sends = [c["time"] for c in calls if begin <= c["time"] < end]
        if sends:
            latencies.append((max(sends) - begin) * 1000)
            if slow is not None and texts:
                slow.append((latencies[-1], texts[i]))
    return latencies


async def main() -> None:
    model = os.environ["RASA_MODEL"]
    with tempfile.TemporaryDirectory() as tmp:
        # the shop's documents answer the script's shop question (no LLM): without them it goes to a manager
        knowledge = build_shop_knowledge(Path(tmp) / "knowledge-base")
        stack = Stack(Path(tmp), model, env={"KNOWLEDGE_DIR": str(knowledge)}).start()
        try:
            async with aiohttp.ClientSession() as session:
                client = Client(stack.sandbox, session)
                # a first conversation after start-up warms up TensorFlow and loads the inventory: reported apart
                warm_ids, warm_chat = [], "77019000009@c.us"
                for text in SCRIPT:
                    before = len(await client.bot_texts(warm_chat))
                    warm_ids.append(await client.say(warm_chat, text))
                    await client.wait_quiet(warm_chat, before + 1)
                cold = await turn_latencies(client, warm_chat, warm_ids)
                print(f"cold start, first conversation after start-up: slowest turn {max(cold):.0f} ms "
                      f"(not counted below)")
                # reference run, one chat, one turn at a time
                ids, chat = [], "77019000000@c.us"
                for text in SCRIPT * 2:
                    before = len(await client.bot_texts(chat))
                    ids.append(await client.say(chat, text))
                    await client.wait_quiet(chat, before + 1)
                slow = []
                latencies = await turn_latencies(client, chat, ids, SCRIPT * 2, slow)
                for extra in range(3):  # more sequential samples from other chats
                    chat_n = f"7701900000{extra + 1}@c.us"
                    ids_n = []
                    for text in SCRIPT:
                        before = len(await client.bot_texts(chat_n))
                        ids_n.append(await client.say(chat_n, text))
                        await client.wait_quiet(chat_n, before + 1)
                    latencies += await turn_latencies(client, chat_n, ids_n, SCRIPT, slow)
                print("slowest turns: " + ", ".join(f"{text!r} {ms:.0f} ms" for ms, text in sorted(slow)[-4:]))
                print(f"per-turn latency, {len(latencies)} turns (no LLM): p50 {statistics.median(latencies):.0f} ms, "
                      f"p99 {percentile(latencies, 99):.0f} ms, max {max(latencies):.0f} ms")

                one_pass = [normalize(m.get("text") or m.get("fileName"))
                            for m in (await client.bot_texts("77019000001@c.us"))]

                # 50 chats at once: every chat sends its script with a short pause between messages, so
                # the offered load exceeds what 2 cores process; throughput is read off the sandbox's clock.
                async def converse(index: int):
                    chat_id = f"7702{index:07d}@c.us"
                    for text in SCRIPT:
                        await client.say(chat_id, text)
                        await asyncio.sleep(0.3)
                    return chat_id

                mark = (await client.get("/sandbox/calls"))[-1]["seq"]
                perf = start_perf(stack.procs["rasa"].pid)
                cpu_before = {name: cpu_ms(proc.pid) for name, proc in stack.procs.items()}
                chats = await asyncio.gather(*(converse(i) for i in range(CHATS)))
                for chat_id in chats:
                    await client.wait_quiet(chat_id, len(one_pass), quiet=1.0, timeout=300)
                cpu_used = {name: cpu_ms(proc.pid) - cpu_before[name] for name, proc in stack.procs.items()}
                instructions = stop_perf(perf)
                chat_set = set(chats)
                deliveries = [d for d in await client.get("/sandbox/deliveries")
                              if d.get("chatId") in chat_set and d["typeWebhook"] == "incomingMessageReceived"]
                sends = [c for c in await client.get("/sandbox/calls", since=mark)
                         if c.get("chatId") in chat_set and c["method"].startswith("send")]
                elapsed = max(c["time"] for c in sends) - min(d["time"] for d in deliveries)
                turns = CHATS * len(SCRIPT)
                lost = duplicated = out_of_order = 0
                for chat_id in chats:
                    got = [normalize(m.get("text") or m.get("fileName")) for m in await client.bot_texts(chat_id)]
                    lost += sum(max(0, one_pass.count(t) - got.count(t)) for t in set(one_pass))
                    duplicated += sum(max(0, got.count(t) - one_pass.count(t)) for t in set(got))
                    if sorted(got) == sorted(one_pass) and got != one_pass:
                        out_of_order += 1
                print(f"{CHATS} concurrent chats: {turns} turns in {elapsed:.1f} s = {turns / elapsed:.1f} turns/s")
                print(f"CPU per turn in the {CHATS}-chat phase: " + ", ".join(
                    f"{name} {used / turns:.1f} ms" for name, used in cpu_used.items()))
                if instructions:
                    print(f"Rasa server instructions per turn (perf): {instructions / turns / 1e6:.1f} M")
                print(f"lost replies: {lost}, duplicated replies: {duplicated}, "
                      f"chats with replies out of order: {out_of_order}")
        finally:
            stack.stop()


if __name__ == "__main__":
    asyncio.run(main())
