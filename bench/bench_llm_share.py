"""Share of customer turns that needed the LLM, on the repository's own test conversations.

Replays the customer messages of every story in tests/test_stories.yml, one WhatsApp chat per story, through
the real servers (sandbox, Rasa, action server) with a local OpenAI-compatible server standing in for the LLM,
and counts the chat-completions requests it received. Figures are printed, never asserted. Target: <= 10%.
Needs RASA_MODEL (scripts/bench.sh sets it).
"""
from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from devstack.knowledge import build_shop_knowledge  # noqa: E402
from devstack.llm_stub import API_KEY, LLMStub  # noqa: E402
from devstack.stack import Stack  # noqa: E402


def conversations(path: Path):
    stories = yaml.safe_load(path.read_text(encoding="utf-8"))["stories"]
    for story in stories:
        texts = [step["user"].strip() for step in story["steps"] if "user" in step]
        if texts:
            yield story["story"], texts


def replay(stack: Stack, chat: str, texts):
    """(texts that got no reply, the transcript)."""
    unanswered, transcript = [], []
    for text in texts:
        transcript.append(f"    клиент: {text}")
        try:
            transcript.extend(f"    бот: {reply}" for reply in stack.turn(chat, text, timeout=30))
        except AssertionError:
            unanswered.append(text)
    return unanswered, transcript


def main() -> int:
    model = os.environ.get("RASA_MODEL") or str(ROOT / "models" / "current.tar.gz")
    stories = list(conversations(ROOT / "tests" / "test_stories.yml"))
    with tempfile.TemporaryDirectory() as tmp, LLMStub() as stub:
        knowledge = build_shop_knowledge(Path(tmp) / "knowledge")
        env = {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": stub.base_url, "KNOWLEDGE_DIR": str(knowledge),
               "NUDGES": "0"}
        stack = Stack(Path(tmp), model, env=env).start()
        try:
            chats = {f"7702{index:07d}@c.us": (name, texts) for index, (name, texts) in enumerate(stories)}
            with ThreadPoolExecutor(max_workers=6) as pool:
                replays = dict(zip(chats, pool.map(lambda c: replay(stack, c, chats[c][1]), chats)))
            with sqlite3.connect(Path(tmp) / "app.db") as db:
                rows = db.execute("SELECT chat_id, outcome, latency_ms, prompt_tokens, completion_tokens "
                                  "FROM llm_calls").fetchall()
        finally:
            stack.stop()
        prompts = stub.user_prompts()
    turns = sum(len(texts) for _, texts in stories)
    share = 100.0 * len(prompts) / turns if turns else 0.0
    print(f"test conversations: {len(stories)} (tests/test_stories.yml), customer turns: {turns}")
    print(f"turns that needed the LLM: {len(prompts)} ({share:.1f}%; target <= 10%); "
          f"llm_calls rows: {len(rows)}, outcomes: "
          + ", ".join(f"{o}={sum(1 for r in rows if r[1] == o)}" for o in sorted({r[1] for r in rows})))
    if rows:
        print(f"tokens per call (stub's count): prompt {sum(r[3] or 0 for r in rows) / len(rows):.0f}, "
              f"completion {sum(r[4] or 0 for r in rows) / len(rows):.0f}")
    llm_chats = {r[0] for r in rows}
    for chat, (name, _) in chats.items():
        if chat in llm_chats:
            print(f"  story «{name}»: {sum(1 for r in rows if r[0] == chat)} LLM turn(s)")
            if "-v" in sys.argv:
                print("\n".join(replays[chat][1]))
    lost = sum(len(unanswered) for unanswered, _ in replays.values())
    print(f"turns without a reply: {lost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
