"""The amoCRM Chats API ("amojo") mirror: every message of every customer chat is imported into amoCRM, and an
operator's reply written in amoCRM is sent to the customer on WhatsApp (the bot pauses in that chat).

signing.py: the request signature and the hook signature (pure functions); client.py: a small async client;
mirror.py: GREEN-API notifications → outbox rows → imports; hooks.py: the desk's operator hooks.
"""

HOOK_KIND = "amocrm_hook"  # inbox rows of operator hooks: the desk processes them, the channel's replay skips them
