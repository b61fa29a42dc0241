"""The WhatsApp channel in its parts, with no Rasa import (the Rasa side is the thin `connectors/greenapi.py`).

* `worker.ChatWorker`: one ordered queue per chat, chats in parallel;
* `handoff.HandoffService`: the one authority for a chat's pause (the app database's `handoffs` table);
* `commands.ManagerCommands`: the `/handoff ...` commands of the managers;
* `nudges.NudgeScheduler`: reminders to silent customers; `scheduler.run_periodically` drives it and auto-resume;
* `poller.Poller`: receiveNotification / deleteNotification;
* `own_sends.OwnSends`: the ids of the bot's own sends (an echo never pauses a chat);
* `inbound.InboundRouter`: what happens to a parsed webhook (dedupe, manager typed, command, customer turn),
  over a `Conversation` (the dialogue engine: Rasa in production).
"""
