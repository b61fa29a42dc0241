"""Settings never print secrets; a real instance in webhook mode needs the webhook token."""
from salesbot.settings import load_settings, webhook_token_problem

REAL = {"GREEN_API_INSTANCE_ID": "1101234567", "GREEN_API_TOKEN": "real-api-token-7f3a9c",
        "GREEN_API_URL": "https://1101.api.green-api.com"}


def test_repr_holds_no_secret():
    settings = load_settings({**REAL, "GREEN_API_WEBHOOK_TOKEN": "hook-secret-91bd", "OPENAI_API_KEY": "sk-test-5e1c"})
    text = repr(settings) + str(settings)
    for secret in ("real-api-token-7f3a9c", "hook-secret-91bd", "sk-test-5e1c"):
        assert secret not in text
    assert "1101234567" in text    # the rest is still shown


def test_real_instance_in_webhook_mode_needs_the_webhook_token():
    problem = webhook_token_problem(load_settings(REAL))
    assert problem and "GREEN_API_WEBHOOK_TOKEN" in problem and "webhookUrlToken" in problem


def test_token_polling_sandbox_and_no_credentials_may_start():
    assert webhook_token_problem(load_settings({**REAL, "GREEN_API_WEBHOOK_TOKEN": "x" * 20})) is None
    assert webhook_token_problem(load_settings({**REAL, "GREEN_API_POLLING": "1"})) is None
    assert webhook_token_problem(load_settings({**REAL, "GREEN_API_URL": "http://127.0.0.1:7700"})) is None
    assert webhook_token_problem(load_settings({})) is None
