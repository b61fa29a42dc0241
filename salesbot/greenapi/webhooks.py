"""Turning a GREEN-API webhook body into what the bot should do with it. Pure functions, no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

INCOMING = "incomingMessageReceived"
MANAGER_TYPED = "outgoingMessageReceived"
API_ECHO = "outgoingAPIMessageReceived"
IGNORED_TYPES = {API_ECHO, "outgoingMessageStatus", "stateInstanceChanged", "incomingCall", "quotaExceeded",
                 "deviceInfo", "statusInstanceChanged", "incomingBlock"}
ERROR_MARKER = re.compile(r"^\{\{SWE\d+\}\}$")
CHAT_ID = re.compile(r"^[0-9A-Za-z_.-]{1,100}@(c\.us|g\.us|lid)$")   # the forms GREEN-API uses

# What the bot answers when a message carries no text it can read.
NON_TEXT_REPLY = ("Я пока понимаю только текст 🙏 Напишите, пожалуйста, ваш вопрос сообщением, "
                  "и я сразу отвечу.")
RESEND_REPLY = "Кажется, ваше сообщение не дошло полностью 🙈 Отправьте его, пожалуйста, ещё раз."
# Sent by the channel beside the answer when a message was cut to MAX_TEXT_CHARS (InboundMessage.truncated).
TRUNCATED_NOTICE = ("Ваше сообщение очень длинное, я прочитала только его начало 🙏 Если главное было в конце, "
                    "напишите это, пожалуйста, отдельным коротким сообщением.")
DEFAULT_MAX_TEXT_CHARS = 2000
MAX_DEPTH = 32            # GREEN-API bodies are a few levels deep; deeper ones are not webhooks
MAX_ID_CHARS = 200        # chatId, idMessage
MAX_NAME_CHARS = 200
# Characters no later stage may see: NUL and other C0 controls except tab/newline (PostgreSQL refuses NUL in text)
# and lone surrogates (a JSON "\ud800" decodes to one, and it cannot be encoded to UTF-8 later).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class WebhookError(ValueError):
    """A payload that is not a usable webhook: answered with 400. The message names the field."""


@dataclass
class InboundMessage:
    kind: str                      # "text", "non_text", "error_marker", "manager", "ignore"
    type_webhook: str
    chat_id: str = ""
    id_message: str = ""
    sender: str = ""
    sender_name: str = ""
    text: str = ""
    type_message: str = ""
    attachment: Optional[Dict[str, Any]] = None
    reason: str = ""
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)
    truncated: bool = False        # the text was cut to the limit: the customer should be told (TRUNCATED_NOTICE)

    @property
    def is_group(self) -> bool:
        return self.chat_id.endswith("@g.us")

    def metadata(self) -> Dict[str, Any]:
        """What the channel attaches to the Rasa message (actions read it from the tracker)."""
        data: Dict[str, Any] = {"chat_id": self.chat_id, "id_message": self.id_message, "sender_name": self.sender_name,
                "type_message": self.type_message, "channel": "greenapi"}
        if self.attachment:
            data["attachment"] = self.attachment
        if self.truncated:
            data["truncated"] = True
        return data


# -- typed access: a present field of the wrong type is a WebhookError naming it; an absent (or null) one is empty ---
def _kind_of(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def clean_text(value: str) -> str:
    """The string without NUL, other control characters and lone surrogates."""
    return _UNSAFE.sub(lambda m: "" if m.group() < "\ud800" else "\ufffd", value)


def _obj(parent: Dict[str, Any], key: str, where: str) -> Dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WebhookError(f"field {where}{key} must be an object, got {_kind_of(value)}")
    return value


def _str(parent: Dict[str, Any], key: str, where: str, limit: Optional[int] = None) -> str:
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise WebhookError(f"field {where}{key} must be a string, got {_kind_of(value)}")
    value = clean_text(value)
    return value[:limit] if limit is not None else value


def _number(parent: Dict[str, Any], key: str, where: str) -> Optional[float]:
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WebhookError(f"field {where}{key} must be a number, got {_kind_of(value)}")
    return value


def _identifier(parent: Dict[str, Any], key: str, where: str, what: str) -> str:
    value = _str(parent, key, where)
    if not value:
        raise WebhookError(what)
    if len(value) > MAX_ID_CHARS or value != parent[key]:
        raise WebhookError(f"field {where}{key} is not a valid identifier")
    return value


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _text_of(message_data: Dict[str, Any]) -> Tuple[str, Optional[Dict[str, Any]]]:
    """(text, attachment) of a messageData object; text is '' when the message has none."""
    type_message = _str(message_data, "typeMessage", "messageData.")
    where = "messageData."
    if type_message == "textMessage":
        return _str(_obj(message_data, "textMessageData", where), "textMessage", where + "textMessageData."), None
    if type_message in ("extendedTextMessage", "quotedMessage"):
        return _str(_obj(message_data, "extendedTextMessageData", where), "text",
                    where + "extendedTextMessageData."), None
    if type_message == "reactionMessage":
        data = _obj(message_data, "extendedTextMessageData", where)
        return "", {"type": "reaction", "emoji": _str(data, "text", where + "extendedTextMessageData.", 20)}
    if type_message == "interactiveButtonsResponse":
        data = _obj(message_data, "interactiveButtonsResponse", where)
        inner = where + "interactiveButtonsResponse."
        return _str(data, "selectedDisplayText", inner) or _str(data, "selectedButtonText", inner), None
    if type_message in ("buttonsResponseMessage", "templateButtonsReplyMessage"):
        key = "buttonsResponseMessage" if message_data.get("buttonsResponseMessage") else "templateButtonReplyMessage"
        data, inner = _obj(message_data, key, where), f"{where}{key}."
        return _str(data, "selectedButtonText", inner) or _str(data, "selectedDisplayText", inner), None
    if type_message == "listResponseMessage":
        data, inner = _obj(message_data, "listResponseMessage", where), where + "listResponseMessage."
        return _str(data, "title", inner) or _str(data, "selectedRowTitle", inner), None
    if type_message in ("imageMessage", "videoMessage", "documentMessage", "audioMessage", "stickerMessage"):
        data, inner = _obj(message_data, "fileMessageData", where), where + "fileMessageData."
        attachment = {"type": type_message, "url": _str(data, "downloadUrl", inner, 2000) or None,
                      "mime_type": _str(data, "mimeType", inner, 200) or None,
                      "file_name": _str(data, "fileName", inner, MAX_NAME_CHARS) or None}
        captioned = type_message in ("imageMessage", "videoMessage", "documentMessage")
        caption = _str(data, "caption", inner) if captioned else ""
        return caption, attachment
    if type_message == "locationMessage":
        data, inner = _obj(message_data, "locationMessageData", where), where + "locationMessageData."
        location: Dict[str, Any] = {"type": "location"}
        for key in ("latitude", "longitude"):
            if data.get(key) is not None:
                location[key] = _number(data, key, inner)
        for key in ("nameLocation", "address"):
            if data.get(key) is not None:
                location[key] = _str(data, key, inner, MAX_NAME_CHARS)
        return "", location
    if type_message in ("contactMessage", "contactsArrayMessage"):
        data, inner = _obj(message_data, "contactMessageData", where), where + "contactMessageData."
        contact: Dict[str, Any] = {"type": "contact"}
        for key in ("displayName", "vcard"):
            if data.get(key) is not None:
                contact[key] = _str(data, key, inner, 2000)
        return "", contact
    return "", {"type": type_message[:100] or "unknown"}


def parse_webhook(body: Any, max_text_chars: Optional[int] = None) -> InboundMessage:
    """Classify a webhook. Raises WebhookError (naming the field) for payloads that are not usable webhooks.

    The text is cut to `max_text_chars` (default: the MAX_TEXT_CHARS setting) and the message marked `truncated`.
    """
    if not isinstance(body, dict):
        raise WebhookError("webhook body must be a JSON object")
    if _too_deep(body):
        raise WebhookError(f"webhook body is nested deeper than {MAX_DEPTH} levels")
    type_webhook = body.get("typeWebhook")
    if not isinstance(type_webhook, str) or not type_webhook:
        raise WebhookError("webhook has no typeWebhook" if type_webhook is None or type_webhook == ""
                           else f"field typeWebhook must be a string, got {_kind_of(type_webhook)}")
    type_webhook = clean_text(type_webhook)[:100]
    if type_webhook in IGNORED_TYPES:
        sender = body.get("senderData")
        chat_id = sender.get("chatId") if isinstance(sender, dict) else None
        id_message = body.get("idMessage")
        return InboundMessage("ignore", type_webhook,
                              chat_id=clean_text(chat_id)[:MAX_ID_CHARS] if isinstance(chat_id, str) else "",
                              id_message=clean_text(id_message)[:MAX_ID_CHARS] if isinstance(id_message, str) else "",
                              reason=type_webhook, raw=body)
    if type_webhook not in (INCOMING, MANAGER_TYPED):
        return InboundMessage("ignore", type_webhook, reason="unknown webhook type", raw=body)
    sender = body.get("senderData")
    if not isinstance(sender, dict):
        raise WebhookError(f"{type_webhook} webhook has no senderData.chatId" if sender is None
                           else f"field senderData must be an object, got {_kind_of(sender)}")
    chat_id = _identifier(sender, "chatId", "senderData.", f"{type_webhook} webhook has no senderData.chatId")
    if not CHAT_ID.match(chat_id):
        raise WebhookError("field senderData.chatId is not a WhatsApp chat id (…@c.us, …@g.us or …@lid)")
    id_message = _identifier(body, "idMessage", "", f"{type_webhook} webhook has no idMessage")
    message_data = body.get("messageData")
    if not isinstance(message_data, dict):
        raise WebhookError(f"{type_webhook} webhook has no messageData" if message_data is None
                           else f"field messageData must be an object, got {_kind_of(message_data)}")
    text, attachment = _text_of(message_data)
    text = text.strip()
    if max_text_chars is None:
        from salesbot.settings import get_settings

        max_text_chars = get_settings().max_text_chars
    truncated = len(text) > max_text_chars
    if truncated:
        text = text[:max_text_chars].rstrip()
    message = InboundMessage(
        kind="text", type_webhook=type_webhook, chat_id=chat_id, id_message=id_message,
        sender=_str(sender, "sender", "senderData.", MAX_ID_CHARS),
        sender_name=(_str(sender, "senderName", "senderData.") or _str(sender, "chatName", "senderData.")
                     ).strip()[:MAX_NAME_CHARS],
        text=text, type_message=_str(message_data, "typeMessage", "messageData.", 100), attachment=attachment,
        raw=body, truncated=truncated,
    )
    if type_webhook == MANAGER_TYPED:
        message.kind = "manager"
    elif ERROR_MARKER.match(text):
        message.kind, message.text = "error_marker", ""
    elif not text:
        message.kind = "non_text"
        if attachment and attachment.get("type") == "reaction":
            message.kind, message.reason = "ignore", "reaction"
    return message


def message_content(message_data: Dict[str, Any]) -> Tuple[str, Optional[Dict[str, Any]]]:
    """(text, attachment) of a messageData object, as the parser reads it (the amoCRM mirror uses it too)."""
    return _text_of(message_data)
