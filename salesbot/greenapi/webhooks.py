"""Turning a GREEN-API webhook body into what the bot should do with it. Pure functions, no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

INCOMING = "incomingMessageReceived"
MANAGER_TYPED = "outgoingMessageReceived"
API_ECHO = "outgoingAPIMessageReceived"
IGNORED_TYPES = {API_ECHO, "outgoingMessageStatus", "stateInstanceChanged", "incomingCall", "quotaExceeded",
                 "deviceInfo", "statusInstanceChanged", "incomingBlock"}
ERROR_MARKER = re.compile(r"^\{\{SWE\d+\}\}$")

# What the bot answers when a message carries no text it can read.
NON_TEXT_REPLY = ("Я пока понимаю только текст 🙏 Напишите, пожалуйста, ваш вопрос сообщением, "
                  "и я сразу отвечу.")
RESEND_REPLY = "Кажется, ваше сообщение не дошло полностью 🙈 Отправьте его, пожалуйста, ещё раз."


class WebhookError(ValueError):
    """A payload that is not a usable webhook: answered with 400."""


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

    @property
    def is_group(self) -> bool:
        return self.chat_id.endswith("@g.us")

    def metadata(self) -> Dict[str, Any]:
        """What the channel attaches to the Rasa message (actions read it from the tracker)."""
        data: Dict[str, Any] = {"chat_id": self.chat_id, "id_message": self.id_message, "sender_name": self.sender_name,
                "type_message": self.type_message, "channel": "greenapi"}
        if self.attachment:
            data["attachment"] = self.attachment
        return data


def _text_of(message_data: Dict[str, Any]) -> tuple:
    """(text, attachment) of a messageData object; text is '' when the message has none."""
    type_message = message_data.get("typeMessage", "")
    if type_message == "textMessage":
        return (message_data.get("textMessageData") or {}).get("textMessage", ""), None
    if type_message in ("extendedTextMessage", "quotedMessage"):
        data = message_data.get("extendedTextMessageData") or {}
        return data.get("text", ""), None
    if type_message == "reactionMessage":
        return "", {"type": "reaction", "emoji": (message_data.get("extendedTextMessageData") or {}).get("text")}
    if type_message == "interactiveButtonsResponse":
        data = message_data.get("interactiveButtonsResponse") or {}
        return data.get("selectedDisplayText") or data.get("selectedButtonText") or "", None
    if type_message in ("buttonsResponseMessage", "templateButtonsReplyMessage"):
        data = message_data.get("buttonsResponseMessage") or message_data.get("templateButtonReplyMessage") or {}
        return data.get("selectedButtonText") or data.get("selectedDisplayText") or "", None
    if type_message == "listResponseMessage":
        data = message_data.get("listResponseMessage") or {}
        return data.get("title") or data.get("selectedRowTitle") or "", None
    if type_message in ("imageMessage", "videoMessage", "documentMessage", "audioMessage", "stickerMessage"):
        data = message_data.get("fileMessageData") or {}
        attachment = {"type": type_message, "url": data.get("downloadUrl"), "mime_type": data.get("mimeType"),
                      "file_name": data.get("fileName")}
        captioned = type_message in ("imageMessage", "videoMessage", "documentMessage")
        caption = data.get("caption") or "" if captioned else ""
        return caption, attachment
    if type_message == "locationMessage":
        return "", {"type": "location", **(message_data.get("locationMessageData") or {})}
    if type_message in ("contactMessage", "contactsArrayMessage"):
        return "", {"type": "contact", **(message_data.get("contactMessageData") or {})}
    return "", {"type": type_message or "unknown"}


def parse_webhook(body: Any) -> InboundMessage:
    """Classify a webhook. Raises WebhookError for payloads that are not webhooks at all."""
    if not isinstance(body, dict):
        raise WebhookError("webhook body must be a JSON object")
    type_webhook = body.get("typeWebhook")
    if not isinstance(type_webhook, str) or not type_webhook:
        raise WebhookError("webhook has no typeWebhook")
    if type_webhook in IGNORED_TYPES:
        sender = body.get("senderData") or {}
        return InboundMessage("ignore", type_webhook, chat_id=str(sender.get("chatId") or ""),
                              id_message=str(body.get("idMessage") or ""), reason=type_webhook, raw=body)
    if type_webhook not in (INCOMING, MANAGER_TYPED):
        return InboundMessage("ignore", type_webhook, reason="unknown webhook type", raw=body)
    sender = body.get("senderData")
    if not isinstance(sender, dict) or not isinstance(sender.get("chatId"), str) or not sender["chatId"]:
        raise WebhookError(f"{type_webhook} webhook has no senderData.chatId")
    id_message = body.get("idMessage")
    if not isinstance(id_message, str) or not id_message:
        raise WebhookError(f"{type_webhook} webhook has no idMessage")
    message_data = body.get("messageData")
    if not isinstance(message_data, dict):
        raise WebhookError(f"{type_webhook} webhook has no messageData")
    text, attachment = _text_of(message_data)
    text = (text or "").strip()
    message = InboundMessage(
        kind="text", type_webhook=type_webhook, chat_id=sender["chatId"], id_message=id_message,
        sender=str(sender.get("sender") or ""),
        sender_name=str(sender.get("senderName") or sender.get("chatName") or "").strip(),
        text=text, type_message=str(message_data.get("typeMessage") or ""), attachment=attachment, raw=body,
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
