"""Writing to a Rasa conversation from the channel without running the dialogue (in-process, via the agent)."""
from __future__ import annotations

from typing import Iterable, Optional

from rasa.core.agent import Agent
from rasa.shared.core.events import ConversationPaused, ConversationResumed, Event
from rasa.shared.core.trackers import DialogueStateTracker


async def append_events(agent: Agent, sender_id: str, events: Iterable[Event],
                        ensure_paused: bool = False) -> DialogueStateTracker:
    """Append events under the conversation's lock (the same lock Rasa takes for a turn) and save.
    With `ensure_paused`, a ConversationPaused goes first unless the tracker is paused already."""
    async with agent.lock_store.lock(sender_id):
        tracker = await agent.tracker_store.get_or_create_tracker(sender_id)
        if ensure_paused and not tracker.is_paused():
            tracker.update(ConversationPaused())
        for event in events:
            tracker.update(event)
        await agent.tracker_store.save(tracker)
        return tracker


async def fetch_tracker(agent: Agent, sender_id: str) -> Optional[DialogueStateTracker]:
    return await agent.tracker_store.retrieve(sender_id)


async def resume_events(agent: Agent, sender_id: str) -> None:
    """ConversationResumed under the conversation's lock, only when the tracker is paused (so the call is
    idempotent: the channel also calls it for a chat another process, the desk, resumed)."""
    async with agent.lock_store.lock(sender_id):
        tracker = await agent.tracker_store.retrieve(sender_id)
        if tracker is None or not tracker.is_paused():
            return
        tracker.update(ConversationResumed())
        await agent.tracker_store.save(tracker)
