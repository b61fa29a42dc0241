import pytest

from salesbot.greenapi.client import split_text
from salesbot.greenapi.webhooks import WebhookError, parse_webhook
from salesbot.orders import phone_from_chat_id


def webhook(message_data, type_webhook="incomingMessageReceived", chat="77011234567@c.us"):
    return {"typeWebhook": type_webhook, "idMessage": "ID1", "timestamp": 1,
            "instanceData": {"idInstance": 1, "wid": "77010000000@c.us", "typeInstance": "whatsapp"},
            "senderData": {"chatId": chat, "sender": chat, "senderName": "Айгуль", "chatName": "Айгуль"},
            "messageData": message_data}


@pytest.mark.parametrize("data, text", [
    ({"typeMessage": "textMessage", "textMessageData": {"textMessage": " привет "}}, "привет"),
    ({"typeMessage": "extendedTextMessage", "extendedTextMessageData": {"text": "ссылка"}}, "ссылка"),
    ({"typeMessage": "quotedMessage", "extendedTextMessageData": {"text": "да"}, "quotedMessage": {}}, "да"),
    ({"typeMessage": "interactiveButtonsResponse",
      "interactiveButtonsResponse": {"selectedDisplayText": "Оформить"}}, "Оформить"),
    ({"typeMessage": "buttonsResponseMessage", "buttonsResponseMessage": {"selectedButtonText": "Да"}}, "Да"),
    ({"typeMessage": "listResponseMessage", "listResponseMessage": {"title": "Балетки"}}, "Балетки"),
    ({"typeMessage": "imageMessage", "fileMessageData": {"downloadUrl": "u", "caption": "такие есть?"}},
     "такие есть?"),
])
def test_text_is_taken_from_every_text_carrying_type(data, text):
    message = parse_webhook(webhook(data))
    assert (message.kind, message.text, message.chat_id, message.sender_name) == ("text", text, "77011234567@c.us",
                                                                                  "Айгуль")


def test_image_caption_keeps_the_image_in_metadata():
    message = parse_webhook(webhook({"typeMessage": "imageMessage", "fileMessageData": {
        "downloadUrl": "https://x/y.jpg", "caption": "а такие?", "mimeType": "image/jpeg"}}))
    assert message.metadata()["attachment"]["url"] == "https://x/y.jpg"


@pytest.mark.parametrize("data", [
    {"typeMessage": "audioMessage", "fileMessageData": {"downloadUrl": "u"}},
    {"typeMessage": "stickerMessage", "fileMessageData": {"downloadUrl": "u"}},
    {"typeMessage": "locationMessage", "locationMessageData": {"latitude": 43.2, "longitude": 76.9}},
    {"typeMessage": "contactMessage", "contactMessageData": {"displayName": "Мама"}},
    {"typeMessage": "documentMessage", "fileMessageData": {"downloadUrl": "u", "fileName": "a.pdf"}},
])
def test_messages_without_text_are_non_text(data):
    message = parse_webhook(webhook(data))
    assert message.kind == "non_text" and message.attachment


def test_error_marker_asks_to_resend():
    message = parse_webhook(webhook({"typeMessage": "textMessage", "textMessageData": {"textMessage": "{{SWE001}}"}}))
    assert message.kind == "error_marker" and message.text == ""


def test_outgoing_types():
    assert parse_webhook(webhook({"typeMessage": "textMessage", "textMessageData": {"textMessage": "x"}},
                                 "outgoingMessageReceived")).kind == "manager"
    assert parse_webhook(webhook({}, "outgoingAPIMessageReceived")).kind == "ignore"
    assert parse_webhook({"typeWebhook": "stateInstanceChanged", "stateInstance": "authorized"}).kind == "ignore"
    assert parse_webhook({"typeWebhook": "brandNewType"}).reason == "unknown webhook type"


@pytest.mark.parametrize("body, error", [
    ([], "JSON object"), ({}, "no typeWebhook"),
    ({"typeWebhook": "incomingMessageReceived", "idMessage": "1"}, "no senderData.chatId"),
    ({"typeWebhook": "incomingMessageReceived", "senderData": {"chatId": "1@c.us"}}, "no idMessage"),
    ({"typeWebhook": "incomingMessageReceived", "idMessage": "1", "senderData": {"chatId": "1@c.us"}},
     "no messageData"),
])
def test_malformed_payloads_raise_a_clear_error(body, error):
    with pytest.raises(WebhookError, match=error):
        parse_webhook(body)


def test_long_texts_are_split_at_boundaries():
    paragraph = "Слово " * 150
    text = "\n\n".join([paragraph.strip()] * 8)
    pieces = split_text(text, limit=2000)
    assert all(len(p) <= 2000 for p in pieces)
    assert "".join(p.replace("\n", "").replace(" ", "") for p in pieces) == text.replace("\n", "").replace(" ", "")
    assert all(p.endswith("Слово") for p in pieces)
    assert split_text("коротко") == ["коротко"]


@pytest.mark.parametrize("chat_id, phone", [("77011234567@c.us", "77011234567"), ("120650379300963@lid", None),
                                            ("120363043968066561@g.us", None), ("", None)])
def test_phone_from_chat_id(chat_id, phone):
    assert phone_from_chat_id(chat_id) == phone
