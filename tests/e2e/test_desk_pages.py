"""The managers' page in a real browser (Playwright driving Debian's chromium) against the running stack: the
sandbox plays the customers, Rasa and the action server answer, the desk serves the pages. One desk and one
browser for every flow; each test saves screenshots at desktop and phone widths under results/desk/."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Iterator, List
from urllib.parse import quote

import pytest

from tests.e2e.stack import ROOT, VENV, http, wait_until

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
RESULTS = ROOT / "results" / "desk"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
NOTIFY_TOKEN = "desk-pages-notify-token-0123456789"
NEW_PASSWORD = "new-admin-password-42"
LIVE_CHAT = "77015550001@c.us"
ORDER_CHAT = "77015550002@c.us"
HANDOVER_CHAT = "77015550003@c.us"
WAITING_CHAT = "77015550004@c.us"
ORDER_TURNS = [("здравствуйте", "Алина"), ("хочу заказать балетки шанель 37 черные", "В какой город"),
               ("алматы", "адрес"), ("ул абая 10 кв 5", "Проверьте, пожалуйста, заказ"), ("да", "Заказ №")]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (scripts/setup.sh installs it)")


def shot(page, name: str) -> None:
    """The page as it is now at desktop and phone widths (full height)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(150)
        page.screenshot(path=str(RESULTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def inbox_done(stack, id_message: str) -> bool:
    return stack.db("SELECT status FROM inbox WHERE id_message = ?", id_message) == [("DONE",)]


@pytest.fixture(scope="module")
def desk(stack) -> Iterator:
    stack.start_desk({"NOTIFY_API_TOKEN": NOTIFY_TOKEN, "NOTIFY_QUIET_HOURS": "off",
                      "DESK_RELAY_POLL_SECONDS": "0.3", "NOTIFY_SEND_INTERVAL_SECONDS": "0"})
    yield stack
    stack.stop_desk()


@pytest.fixture(scope="module")
def browser(desk) -> Iterator:
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, desk):
    """One logged-in admin tab for the flows (the login test logs it in)."""
    context = browser.new_context(viewport=DESKTOP, locale="ru-RU")
    context.set_default_timeout(20000)
    tab = context.new_page()
    yield tab
    context.close()


def test_login_with_the_first_admin_password(page, desk):
    password_file = desk.tmp / "runtime" / "desk-admin-password.txt"
    name, password = password_file.read_text(encoding="utf-8").split()
    assert name == "admin" and len(password) >= 12
    assert password not in (desk.tmp / "desk.log").read_text(encoding="utf-8")   # never logged

    page.goto(f"{desk.desk}/chats")
    assert "/login" in page.url   # not logged in: the login form
    page.fill("#name", "admin")
    page.fill("#password", "wrong-password")
    page.click("main button[type=submit]")
    assert "Неверное имя или пароль" in page.inner_text("main")
    shot(page, "01-login")

    page.fill("#name", "admin")
    page.fill("#password", password)
    page.click("main button[type=submit]")
    page.wait_for_url("**/password")   # the one-time password must be replaced first
    page.fill("#current", password)
    page.fill("#new", NEW_PASSWORD)
    page.fill("#again", NEW_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/chats")
    assert page.is_visible("text=Чаты")

    # a form without the session's CSRF token is refused
    status = page.evaluate("""async () => (await fetch('/chats/77000000000@c.us/take', {method: 'POST',
        headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'csrf=forged'})).status""")
    assert status == 403


def test_a_customer_message_appears_live(page, desk):
    page.goto(f"{desk.desk}/chats")
    desk.say(LIVE_CHAT, "Здравствуйте! Есть балетки 37 размера?", name="Динара")
    item = page.locator(f"[data-chat='{LIVE_CHAT}']")
    item.wait_for()   # no reload: htmx polls the list
    assert "Динара" in item.inner_text() and "+" + LIVE_CHAT.split("@")[0] in item.inner_text()
    desk.say(LIVE_CHAT, "", name="Динара", typeMessage="imageMessage", caption="вот такие")
    # two unread messages of the customer (the bot's replies are not counted), again without a reload
    page.wait_for_function(f"(document.querySelector(\"[data-chat='{LIVE_CHAT}'] .badge\") || {{}}).innerText === '2'")
    shot(page, "02-chats")


def test_take_a_chat_answer_it_and_hand_it_back(page, desk):
    replies = desk.turn(LIVE_CHAT, "а какие цвета есть?")
    assert replies
    page.goto(f"{desk.desk}/chats/{quote(LIVE_CHAT)}")
    page.wait_for_selector(".msg.customer img")   # the customer's photo, through the desk
    assert page.locator(".msg.bot").count() >= 1

    page.click("#take")
    page.wait_for_selector("text=Бот на паузе")
    row = desk.db("SELECT paused, reason, by FROM handoffs WHERE chat_id = ?", LIVE_CHAT)
    assert row == [(1, "desk", "desk:admin")]

    answer = "Динара, это Марина из магазина. Балетки 37 есть в чёрном и бежевом."
    page.fill("#answer", answer)
    page.click("#send")
    wait_until(lambda: any(m.get("text") == answer for m in desk.messages(LIVE_CHAT)), timeout=20,
               what="the answer at the customer")
    page.wait_for_selector(f".msg.desk:has-text('{answer[:20]}')")
    # its id is the bot's own send, with the author: its echo never counts as a manager typing
    assert desk.db("SELECT author FROM sent_messages WHERE chat_id = ? AND text = ?", LIVE_CHAT, answer) == [
        ("desk:admin",)]

    bot_before = len(desk.bot_messages(LIVE_CHAT))
    id_message = desk.say(LIVE_CHAT, "спасибо, а доставка сколько стоит?", name="Динара")
    wait_until(lambda: inbox_done(desk, id_message), timeout=30, what="the paused chat's message processed")
    time.sleep(1.0)
    assert len(desk.bot_messages(LIVE_CHAT)) == bot_before   # the bot stays silent
    page.wait_for_selector(".msg.customer:has-text('доставка сколько стоит')")   # live in the transcript
    shot(page, "03-chat-taken")

    page.click("#release")
    page.wait_for_selector("text=Бот отвечает")
    assert desk.db("SELECT paused, reason FROM handoffs WHERE chat_id = ?", LIVE_CHAT) == [(0, "desk")]
    replies = desk.turn(LIVE_CHAT, "здравствуйте")
    assert replies, "the bot answers again after «Вернуть боту»"
    page.wait_for_function("document.querySelectorAll('.msg.bot').length > 1")
    shot(page, "04-chat-released")


def test_change_an_order_to_shipped(page, desk):
    for text, expected in ORDER_TURNS:
        replies = desk.turn(ORDER_CHAT, text)
        assert any(expected in (r or "") for r in replies), (text, replies)
    [(order_id,)] = desk.db("SELECT id FROM orders WHERE chat_id = ?", ORDER_CHAT)
    page.goto(f"{desk.desk}/orders")
    row = page.locator(f"tr[data-order='{order_id}']")
    status_form = row.locator("form[action$='/status']")
    status_form.locator("select[name=status]").select_option("SHIPPED")
    status_form.locator("input[name=track]").fill("KZ0012345678")
    status_form.locator("button").click()
    page.wait_for_selector("text=клиенту отправляется уведомление")
    wait_until(lambda: any("KZ0012345678" in (m.get("text") or "") for m in desk.messages(ORDER_CHAT)),
               timeout=20, what="the order_shipped message at the customer")
    assert desk.db("SELECT status, track_number FROM orders WHERE id = ?", order_id) == [("SHIPPED", "KZ0012345678")]
    assert page.locator(f"tr[data-order='{order_id}'] .pill").inner_text() == "отправлен"
    shot(page, "05-orders")


def _notify(desk, reference: str, phone: str, name: str) -> int:
    status, answer = http("POST", f"{desk.desk}/api/v1/notifications",
                          {"event": "order_confirmed", "reference": reference, "phone": phone, "name": name},
                          headers={"Authorization": f"Bearer {NOTIFY_TOKEN}"})
    assert status == 202, answer
    return int(answer["id"])


def notification_status(desk, notification_id: int) -> str:
    return http("GET", f"{desk.desk}/api/v1/notifications/{notification_id}",
                headers={"Authorization": f"Bearer {NOTIFY_TOKEN}"})[1]["status"]


def test_filter_the_notification_log_and_retry_a_failed_one(page, desk, browser):
    ok_id = _notify(desk, "D-100", "+77015550011", "Жанна")
    wait_until(lambda: notification_status(desk, ok_id) == "SENT", timeout=20, what="a sent notification")
    with desk.faults({"method": "sendMessage", "status": 400, "count": 1}):
        failed_id = _notify(desk, "D-101", "+77015550012", "Асель")
        wait_until(lambda: notification_status(desk, failed_id) == "FAILED", timeout=20, what="a failed one")

    page.goto(f"{desk.desk}/notifications")
    page.select_option("#f-status", "FAILED")
    page.fill("#f-q", "асель")
    page.click("main form.card button[type=submit]")
    page.wait_for_url("**status=FAILED**")
    rows = page.locator("tr[data-notification]")
    assert rows.count() == 1 and rows.first.get_attribute("data-notification") == str(failed_id)
    shot(page, "06-notifications-failed")
    page.click(f"tr[data-notification='{failed_id}'] a:has-text('попытки')")
    page.wait_for_selector("text=Попытки отправки")
    assert "FAILED" in page.inner_text("table.list")
    page.click("button:has-text('Повторить')")
    page.wait_for_selector("text=поставлено на повторную отправку")
    wait_until(lambda: notification_status(desk, failed_id) == "SENT", timeout=20, what="the retried one sent")
    assert any(m.get("text", "").startswith("Здравствуйте, Асель") for m in desk.messages("77015550012@c.us"))
    page.goto(f"{desk.desk}/notifications?status=SENT&event=order_confirmed")
    assert page.locator(f"tr[data-notification='{failed_id}'] .pill").inner_text() == "отправлено"
    shot(page, "07-notifications")

    # a manager sees the log but not «Повторить», and cannot manage users
    added = subprocess.run([str(VENV / "actions/bin/python"), "-m", "salesbot.desk", "users", "add", "marina",
                            "--role", "manager", "--password-stdin"], input="marina-password-1\n", text=True,
                           capture_output=True, cwd=ROOT, env=desk.env, timeout=60)
    assert added.returncode == 0, added.stderr
    manager = browser.new_context(viewport=DESKTOP)
    tab = manager.new_page()
    tab.goto(f"{desk.desk}/login")
    tab.fill("#name", "marina")
    tab.fill("#password", "marina-password-1")
    tab.click("main button[type=submit]")
    tab.wait_for_url("**/chats")
    with desk.faults({"method": "sendMessage", "status": 400, "count": 1}):
        other_id = _notify(desk, "D-102", "+77015550013", "Гульнар")
        wait_until(lambda: notification_status(desk, other_id) == "FAILED", timeout=20, what="another failed one")
    tab.goto(f"{desk.desk}/notifications?status=FAILED")
    assert tab.locator(f"tr[data-notification='{other_id}']").count() == 1
    assert tab.locator("button:has-text('Повторить')").count() == 0
    assert tab.locator("nav a:has-text('Пользователи')").count() == 0
    assert tab.goto(f"{desk.desk}/users").status == 403
    manager.close()


def test_the_analytics_page_draws_its_charts(page, desk):
    desk.turn(HANDOVER_CHAT, "позовите менеджера пожалуйста")
    desk.turn(WAITING_CHAT, "позовите менеджера пожалуйста")
    wait_until(lambda: len(desk.db("SELECT id FROM handover_requests WHERE chat_id IN (?, ?)", HANDOVER_CHAT,
                                   WAITING_CHAT)) >= 2, timeout=20, what="two handovers")
    page.goto(f"{desk.desk}/chats/{quote(HANDOVER_CHAT)}")
    page.fill("#answer", "Здравствуйте! Я менеджер, помогу.")
    page.click("#send")
    page.wait_for_selector("text=Ответ отправлен клиенту")
    wait_until(lambda: desk.db("SELECT first_reply_at FROM handover_requests WHERE chat_id = ?",
                               HANDOVER_CHAT)[0][0] is not None, timeout=20, what="the first reply recorded")

    page.goto(f"{desk.desk}/chats?filter=waiting")
    waiting = page.locator("[data-chat]")
    assert waiting.count() >= 1 and page.locator(f"[data-chat='{WAITING_CHAT}']").count() == 1
    shot(page, "08-chats-waiting")

    page.goto(f"{desk.desk}/handovers?days=7")
    page.wait_for_function("window.deskCharts && window.deskCharts.length === 2")
    drawn = page.evaluate("""() => Array.from(document.querySelectorAll('canvas')).map(c => {
        const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let painted = 0; for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
        return painted; })""")
    assert len(drawn) == 2 and all(count > 1000 for count in drawn), drawn
    table = page.inner_text("#handover-table")
    assert "группа WhatsApp" in table
    shot(page, "09-handovers")


def test_pages_load_with_no_network_beyond_localhost(browser, desk):
    """Every asset is served by the desk: any request elsewhere is aborted and recorded."""
    context = browser.new_context(viewport=DESKTOP)
    outside: List[str] = []

    def guard(route):
        host = route.request.url.split("/")[2].split(":")[0] if "://" in route.request.url else ""
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    tab = context.new_page()
    tab.goto(f"{desk.desk}/login")
    tab.fill("#name", "admin")
    tab.fill("#password", NEW_PASSWORD)
    tab.click("main button[type=submit]")
    tab.wait_for_url("**/chats")
    for path in ("/users", "/chats", f"/chats/{quote(LIVE_CHAT)}", "/orders", "/notifications", "/handovers?days=7"):
        tab.goto(f"{desk.desk}{path}", wait_until="networkidle")
        assert tab.evaluate("window.htmx !== undefined"), path   # the vendored script ran
    tab.wait_for_function("window.deskCharts && window.deskCharts.length === 2")   # so did Chart.js
    shot(tab, "10-offline-handovers")
    context.close()
    assert outside == [], json.dumps(outside)
