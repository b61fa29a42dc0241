"""Per-message latency of the loaded model (NLU + next-action prediction), p50/p99. Run in the Rasa venv.

Usage: python bench/bench_model.py MODEL.tar.gz [N]
"""
import asyncio
import statistics
import sys
import time
import uuid

MESSAGES = [
    "здравствуйте", "есть балетки шанель 37?", "хочу заказать лоферы гуччи 38 черные", "алматы",
    "сколько стоит доставка в астану", "ул абая 10 кв 5", "да", "можно каспи рассрочку", "скиньте фото",
    "нет лучше 38", "спасибо", "позовите менеджера", "кросы найк белые 39 есть", "какая погода",
]


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def main(model_path: str, count: int) -> None:
    from rasa.core.agent import load_agent

    started = time.perf_counter()
    agent = await load_agent(model_path=model_path)
    print(f"model load: {time.perf_counter() - started:.1f} s")
    for text in MESSAGES[:3]:
        await agent.parse_message(text)
    nlu, full = [], []
    for i in range(count):
        text = MESSAGES[i % len(MESSAGES)]
        t0 = time.perf_counter()
        await agent.parse_message(text)
        nlu.append((time.perf_counter() - t0) * 1000)
        sender = f"bench-{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        tracker = await agent.processor.fetch_tracker_and_update_session(sender)
        from rasa.core.channels.channel import UserMessage
        await agent.processor._handle_message_with_tracker(UserMessage(text, sender_id=sender), tracker)
        agent.processor.predict_next_with_tracker_if_should(tracker)
        full.append((time.perf_counter() - t0) * 1000)
    print(f"NLU parse, {count} messages: p50 {statistics.median(nlu):.1f} ms, p99 {percentile(nlu, 99):.1f} ms")
    print(f"NLU + next-action prediction: p50 {statistics.median(full):.1f} ms, p99 {percentile(full, 99):.1f} ms")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200))
