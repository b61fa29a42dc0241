"""Several Rasa replicas: the same 50-chat load through nginx on 1 and on 2 replicas, in one run, then a kill -9 of
one replica in the middle of a third load. Each cluster is started with the README's command (scripts/cluster.sh,
i.e. `make cluster`) on free ports and its own PostgreSQL databases.

Prints, for each: throughput (turns/s), p50/p99 per turn (webhook delivery to the turn's last reply, sandbox
clock), CPU per turn (the Rasa replicas, the action servers, the whole machine), lost, duplicated and
out-of-order replies against a sequential reference; then the ratio of the two throughputs. Printed, never
asserted. Needs RASA_MODEL (`make bench-cluster` sets it).
"""
from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_e2e import SCRIPT, Client, cpu_ms, normalize, percentile  # noqa: E402

from devstack.cluster import Cluster  # noqa: E402

CHATS = int(os.environ.get("BENCH_CHATS", "50"))
PAUSE_SECONDS = 0.3   # between a chat's messages: the offered load is more than 2 cores process


def machine_busy_ms() -> float:
    """CPU time the whole machine spent busy so far (all cores, /proc/stat), in ms: other work included."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) * 1000 / os.sysconf("SC_CLK_TCK")


def service_cpu_ms() -> float:
    """CPU time of every PostgreSQL and Redis process so far (shared with whatever else uses them), in ms."""
    total = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            if name.startswith(("postgres", "redis-server")):
                fields = stat.rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
    return total * 1000 / os.sysconf("SC_CLK_TCK")


async def sequential(client: Client, chat: str) -> List[int]:
    """One chat through the script, one message at a time; how many bot messages each turn sent."""
    counts = []
    for text in SCRIPT:
        before = len(await client.bot_texts(chat))
        await client.say(chat, text)
        after = await client.wait_quiet(chat, before + 1, quiet=0.8)
        counts.append(after - before)
    return counts


async def load(cluster: Cluster, client: Client, prefix: str, reference: List[str], counts: List[int],
               kill_after: float = 0.0) -> Dict[str, float]:
    """CHATS chats talk at once; returns the figures of the phase."""
    pids = cluster.pids()
    cpu_before = {name: cpu_ms(pid) for name, pid in pids.items()}
    busy_before, services_before = machine_busy_ms(), service_cpu_ms()

    async def converse(index: int) -> str:
        chat_id = f"{prefix}{index:05d}@c.us"
        for text in SCRIPT:
            await client.say(chat_id, text)
            await asyncio.sleep(PAUSE_SECONDS)
        return chat_id

    killed_at = None
    cpu_at_death: Dict[str, float] = {}   # a killed process's CPU is gone from /proc: counted up to the kill
    talking = asyncio.gather(*(converse(i) for i in range(CHATS)))
    if kill_after:
        await asyncio.sleep(kill_after)
        cpu_at_death["rasa-2"] = cpu_ms(pids["rasa-2"])
        cluster.kill_9("rasa-2")
        killed_at = time.time()
    chats = await talking
    for chat_id in chats:
        await client.wait_quiet(chat_id, len(reference), quiet=1.0, timeout=240)
    cpu_used = {name: (cpu_at_death[name] if name in cpu_at_death else cpu_ms(pid)) - cpu_before[name]
                for name, pid in pids.items() if name in cpu_before}
    busy, services = machine_busy_ms() - busy_before, service_cpu_ms() - services_before
    turns = CHATS * len(SCRIPT)
    chat_set = set(chats)
    deliveries = [d for d in await client.get("/sandbox/deliveries")
                  if d.get("chatId") in chat_set and d["typeWebhook"] == "incomingMessageReceived"]
    first_delivery: Dict[str, float] = {}
    for d in deliveries:
        first_delivery.setdefault(d["idMessage"], d["time"])
    sends = [c for c in await client.get("/sandbox/calls")
             if c.get("chatId") in chat_set and c["method"].startswith("send")]
    elapsed = max(c["time"] for c in sends) - min(first_delivery.values())
    lost = duplicated = out_of_order = 0
    latencies: List[float] = []
    for chat_id in chats:
        got = [normalize(m.get("text") or m.get("fileName")) for m in await client.bot_texts(chat_id)]
        lost += sum(max(0, reference.count(t) - got.count(t)) for t in set(reference))
        duplicated += sum(max(0, got.count(t) - reference.count(t)) for t in set(got))
        if sorted(got) == sorted(reference) and got != reference:
            out_of_order += 1
        if got == reference:   # the k-th message's turn is the k-th group of replies: its last send ends it
            incoming = [m for m in await client.get(f"/sandbox/chats/{chat_id}/messages") if m.get("by") != "bot"]
            times = sorted(c["time"] for c in sends if c["chatId"] == chat_id)
            position = 0
            for message, count in zip(incoming, counts):
                position += count
                start = first_delivery.get(message.get("idMessage"))
                if start is not None and count:
                    latencies.append((times[position - 1] - start) * 1000)
    rasa_cpu = sum(v for k, v in cpu_used.items() if k.startswith("rasa-"))
    actions_cpu = sum(v for k, v in cpu_used.items() if k.startswith("actions-"))
    rest_cpu = sum(v for k, v in cpu_used.items() if not k.startswith(("rasa-", "actions-")))
    return {"turns": turns, "elapsed": elapsed, "throughput": turns / elapsed, "lost": lost,
            "duplicated": duplicated, "out_of_order": out_of_order,
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p99": percentile(latencies, 99) if latencies else float("nan"),
            "rasa_cpu": rasa_cpu / turns, "actions_cpu": actions_cpu / turns, "machine_cpu": busy / turns,
            "rest_cpu": rest_cpu / turns, "services_cpu": services / turns,
            "recovered_after": (max(c["time"] for c in sends) - killed_at) if killed_at else 0.0}


def report(label: str, figures: Dict[str, float]) -> None:
    print(f"{label}: {figures['turns']:.0f} turns in {figures['elapsed']:.1f} s = {figures['throughput']:.1f} turns/s; "
          f"per turn p50 {figures['p50']:.0f} ms, p99 {figures['p99']:.0f} ms; "
          f"CPU per turn: Rasa {figures['rasa_cpu']:.1f} ms, actions {figures['actions_cpu']:.1f} ms, "
          f"sandbox+desk+nginx {figures['rest_cpu']:.1f} ms, PostgreSQL+Redis {figures['services_cpu']:.1f} ms, "
          f"whole machine {figures['machine_cpu']:.1f} ms (other work included); lost {figures['lost']:.0f}, "
          f"duplicated {figures['duplicated']:.0f}, chats out of order {figures['out_of_order']:.0f}", flush=True)


async def measure(cluster: Cluster, kill: bool) -> List[Dict[str, float]]:
    async with aiohttp.ClientSession() as session:
        client = Client(cluster.sandbox, session)
        # warm-up: a few chats at once reach every replica (TensorFlow's first calls, the inventory's first read)
        await asyncio.gather(*(sequential(client, f"7703{cluster.replicas}{n:06d}@c.us") for n in range(4)))
        reference_chat = f"7704{cluster.replicas}000000@c.us"
        counts = await sequential(client, reference_chat)
        reference = [normalize(m.get("text") or m.get("fileName")) for m in await client.bot_texts(reference_chat)]
        results = [await load(cluster, client, f"7705{cluster.replicas}", reference, counts)]
        if kill:
            # the kill comes a third into the phase (the load above took `elapsed` seconds)
            results.append(await load(cluster, client, f"7706{cluster.replicas}", reference, counts,
                                      kill_after=results[0]["elapsed"] / 3))
        return results


def main() -> None:
    model = os.environ["RASA_MODEL"]
    print(f"{os.cpu_count()} cores; {CHATS} chats x {len(SCRIPT)} messages, {PAUSE_SECONDS} s apart, through nginx; "
          "each cluster started with scripts/cluster.sh (make cluster)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        figures = {}
        for replicas in (1, 2):
            cluster = Cluster(replicas, Path(tmp), model).start()
            try:
                results = asyncio.run(measure(cluster, kill=replicas == 2))
            finally:
                cluster.stop()
            figures[replicas] = results[0]
            report(f"{replicas} replica{'s' if replicas > 1 else ''}", results[0])
            if len(results) > 1:
                killed = results[1]
                report("2 replicas, kill -9 of one a third into the load", killed)
                print(f"  the last reply came {killed['recovered_after']:.1f} s after the kill (the dead replica's "
                      "chats wait for its leases and Redis locks to run out)", flush=True)
        print(f"throughput ratio, 2 replicas / 1 replica: {figures[2]['throughput'] / figures[1]['throughput']:.2f}")


if __name__ == "__main__":
    main()
