"""The webhook parser under hostile input: a wrong type is a WebhookError naming the field, nothing else escapes,
and whatever it returns is safe for the later stages (UTF-8 encodable, no NUL, bounded)."""
import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesbot.greenapi.webhooks import InboundMessage, WebhookError, parse_webhook

LIMIT = 2000


def good(text="привет", type_webhook="incomingMessageReceived"):
    return {"typeWebhook": type_webhook, "idMessage": "BAE5F4886F8A1", "timestamp": 1700000000,
            "instanceData": {"idInstance": 1101000001, "wid": "77010000000@c.us", "typeInstance": "whatsapp"},
            "senderData": {"chatId": "77011234567@c.us", "sender": "77011234567@c.us", "senderName": "Айгуль",
                           "chatName": "Айгуль"},
            "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}}}


MESSAGE_DATA_SHAPES = [
    {"typeMessage": "extendedTextMessage", "extendedTextMessageData": {"text": "ссылка", "description": "d"}},
    {"typeMessage": "imageMessage", "fileMessageData": {"downloadUrl": "https://x/y.jpg", "caption": "такие?",
                                                        "mimeType": "image/jpeg", "fileName": "y.jpg"}},
    {"typeMessage": "locationMessage", "locationMessageData": {"latitude": 43.2, "longitude": 76.9,
                                                               "nameLocation": "ТРЦ", "address": "ул Абая 1"}},
    {"typeMessage": "contactMessage", "contactMessageData": {"displayName": "Мама", "vcard": "BEGIN:VCARD"}},
    {"typeMessage": "reactionMessage", "extendedTextMessageData": {"text": "👍"}},
    {"typeMessage": "buttonsResponseMessage", "buttonsResponseMessage": {"selectedButtonText": "Да"}},
    {"typeMessage": "listResponseMessage", "listResponseMessage": {"title": "Балетки"}},
    {"typeMessage": "interactiveButtonsResponse", "interactiveButtonsResponse": {"selectedDisplayText": "Ок"}},
]


def check_outcome(body):
    """Parse; only WebhookError may escape, and a parsed message must be usable downstream."""
    try:
        message = parse_webhook(body, max_text_chars=LIMIT)
    except WebhookError as error:
        assert str(error)
        return None
    assert isinstance(message, InboundMessage)
    for value in (message.chat_id, message.id_message, message.sender, message.sender_name, message.text):
        assert isinstance(value, str) and "\x00" not in value
        value.encode("utf-8")
    assert len(message.text) <= LIMIT
    json.dumps(message.metadata(), ensure_ascii=False).encode("utf-8")
    return message


@pytest.mark.parametrize("path, value, field", [
    (("messageData", "textMessageData", "textMessage"), 123, "messageData.textMessageData.textMessage"),
    (("messageData", "textMessageData"), "text", "messageData.textMessageData"),
    (("messageData",), "текст", "messageData"),
    (("senderData",), ["77011234567@c.us"], "senderData"),
    (("senderData", "chatId"), 77011234567, "senderData.chatId"),
    (("senderData", "senderName"), {"first": "А"}, "senderData.senderName"),
    (("idMessage",), 5, "idMessage"),
    (("senderData", "chatId"), "строка", "senderData.chatId"),
    (("typeWebhook",), ["incomingMessageReceived"], "typeWebhook"),
    (("messageData", "typeMessage"), 1, "messageData.typeMessage"),
])
def test_a_wrong_type_is_an_error_naming_the_field(path, value, field):
    body = good()
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(WebhookError, match=field.replace(".", r"\.")):
        parse_webhook(body, max_text_chars=LIMIT)


def test_wrong_types_inside_attachments_name_the_field():
    body = good()
    body["messageData"] = {"typeMessage": "locationMessage", "locationMessageData": {"latitude": "43.2"}}
    with pytest.raises(WebhookError, match=r"locationMessageData\.latitude"):
        parse_webhook(body, max_text_chars=LIMIT)
    body["messageData"] = {"typeMessage": "imageMessage", "fileMessageData": ["x"]}
    with pytest.raises(WebhookError, match=r"messageData\.fileMessageData must be an object"):
        parse_webhook(body, max_text_chars=LIMIT)


def test_deep_nesting_is_refused():
    body = good()
    deep = {}
    for _ in range(200):
        deep = {"a": deep}
    body["extra"] = deep
    with pytest.raises(WebhookError, match="nested deeper"):
        parse_webhook(body, max_text_chars=LIMIT)


def test_nul_bytes_and_lone_surrogates_never_reach_the_text():
    message = parse_webhook(good("при\x00вет \ud800 как дела\x07"), max_text_chars=LIMIT)
    assert message.text == "привет \ufffd как дела"
    with pytest.raises(WebhookError, match="senderData.chatId"):
        body = good()
        body["senderData"]["chatId"] = "7701\x001234567@c.us"
        parse_webhook(body, max_text_chars=LIMIT)


def test_long_text_is_cut_and_flagged():
    message = parse_webhook(good("а" * 65000), max_text_chars=LIMIT)
    assert len(message.text) == LIMIT and message.truncated and message.metadata()["truncated"] is True
    short = parse_webhook(good("коротко"), max_text_chars=LIMIT)
    assert not short.truncated and "truncated" not in short.metadata()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_json_never_escapes(body):
    check_outcome(body)


def paths_of(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths_of(child, prefix + (key,))


@st.composite
def mutated_webhooks(draw):
    """A real-looking GREEN-API body with one field replaced, removed, or one new key added."""
    body = draw(st.sampled_from([good(), good(type_webhook="outgoingMessageReceived"),
                                 good(type_webhook="outgoingMessageStatus")]))
    body = copy.deepcopy(body)
    body["messageData"] = copy.deepcopy(draw(st.sampled_from([body["messageData"], *MESSAGE_DATA_SHAPES])))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in paths_of(body) if p]))
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add", "text"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "text":
            parent[path[-1]] = draw(st.text(alphabet=st.characters(exclude_categories=[]), max_size=300))
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.text(max_size=10))] = draw(json_values)
    return body


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_webhooks())
def test_mutated_webhooks_never_escape(body):
    check_outcome(body)
