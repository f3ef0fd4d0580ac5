"""The page's second-wave features in real headless Chromium against the real daemon: where each
memory came from, and avatars created and edited in the page.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.web_harness import Daemon, PageProbe, dump, open_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_memory_inspector_shows_the_utterance_each_memory_came_from(
    lumina_page: PageProbe,
) -> None:
    p = lumina_page
    said = "Remember that my bike is the blue one."
    p.page.fill("#text-input", said)
    p.page.click("#send")
    p.wait_js("lumina.log.done.length > 0", timeout=120)
    with p.daemon.api() as api:
        by_hand = api.post("/v1/memories", json={"text": "My dentist is Dr Lee"}).json()
        memories = api.get("/v1/memories").json()
    spoken = [m for m in memories if m["source"]["turn_id"]]
    assert len(spoken) == 1 and "bike" in spoken[0]["text"], (memories, dump(p))
    p.page.fill("#memory-search", "bike")  # refresh the panel
    p.page.fill("#memory-search", "")
    source = p.page.locator(f'li[data-memory-id="{spoken[0]["id"]}"] .memory-source')
    source.filter(has_text="bike").wait_for(timeout=15_000)
    assert source.inner_text() == f"from “{said}”"
    manual = p.page.locator(f'li[data-memory-id="{by_hand["id"]}"] .memory-source')
    manual.filter(has_text="by hand").wait_for(timeout=15_000)
    p.shot("20-memory-sources.png")
    # the conversation is deleted (shredded): the memory stays, its source is said to be gone
    with p.daemon.api() as api:
        cid = spoken[0]["source"]["conversation_id"]
        assert api.delete(f"/v1/conversations/{cid}").is_success
    p.page.fill("#memory-search", "bike")
    p.page.fill("#memory-search", "")
    source.filter(has_text="deleted").wait_for(timeout=15_000)
    assert source.inner_text() == "from a conversation that was deleted"
    # the only console errors: the page's lookups of the deleted conversation (404)
    assert [pr for pr in p.problems if "404" not in pr] == [], p.problems
    with p.daemon.api() as api:  # leave no memory of a deleted conversation to the next test
        assert api.delete(f"/v1/memories/{spoken[0]['id']}").is_success


def test_avatars_are_created_and_edited_in_the_page(browser: Any, daemon: Daemon) -> None:
    p = open_page(browser, daemon)
    try:
        before = p.js("lumina.conversationId")
        p.page.click("#avatar-new")
        p.page.fill("#avatar-name", "Orla")
        p.page.fill("#avatar-persona", "A cheerful gardener from Cork.")
        p.page.fill("#avatar-style", "Short answers.")
        p.shot("21-avatar-new.png")
        p.page.click("#avatar-save")
        # the page switches to the new avatar in a new conversation
        p.wait_js(f"lumina.ready && lumina.conversationId !== '{before}'", timeout=30)
        assert p.page.locator("#empty-avatar-name").inner_text() == "Orla"
        with daemon.api() as api:
            (orla,) = [a for a in api.get("/v1/avatars").json() if a["name"] == "Orla"]
            conversation = api.get(f"/v1/conversations/{p.js('lumina.conversationId')}").json()
        assert orla["persona"] == "A cheerful gardener from Cork."
        assert orla["style"] == "Short answers." and orla["voice"] == "joe"
        assert conversation["avatar_id"] == orla["id"]
        assert p.page.locator("#avatar-select").input_value() == orla["id"]

        # edit it: the form shows what is stored, the change is saved and shown
        p.page.click("#avatar-edit")
        assert p.page.locator("#avatar-persona").input_value() == orla["persona"]
        p.page.fill("#avatar-name", "Orla Byrne")
        p.page.fill("#avatar-style", "Answers in one sentence.")
        p.page.click("#avatar-save")
        p.wait_js("document.querySelector('#empty-avatar-name').textContent === 'Orla Byrne'")
        p.wait_js("lumina.ready", timeout=30)
        with daemon.api() as api:
            edited = api.get(f"/v1/avatars/{orla['id']}").json()
        assert (edited["name"], edited["style"]) == ("Orla Byrne", "Answers in one sentence.")
        assert edited["persona"] == orla["persona"]
        options = p.page.locator("#avatar-select option").all_inner_texts()
        assert "Orla Byrne · joe" in options, options

        # a nameless avatar is refused in the form, nothing is sent
        p.page.click("#avatar-new")
        p.page.fill("#avatar-name", "   ")
        p.page.click("#avatar-save")
        assert p.page.locator("#avatar-error").inner_text() == "An avatar needs a name."
        p.page.click("#avatar-cancel")
        with daemon.api() as api:
            assert len(api.get("/v1/avatars").json()) == 2
        assert p.problems == [], p.problems
    finally:
        p.page.context.close()


def test_tool_calls_and_timers_are_shown_and_a_timer_can_be_cancelled(
    lumina_page: PageProbe,
) -> None:
    p = lumina_page
    p.page.fill("#text-input", "Set a tea timer for 10 minutes.")
    p.page.click("#send")
    chip = p.page.locator(".msg.assistant .tool-call[data-tool='set_timer']")
    chip.wait_for(timeout=60_000)
    assert "→" in chip.inner_text(), chip.inner_text()
    timer = p.page.locator("#timer-list .timer")
    timer.wait_for(timeout=15_000)
    assert timer.locator(".timer-label").inner_text() == "tea"
    left = timer.locator(".timer-left").inner_text()
    assert left.startswith(("10:0", "9:5")), left  # counting down from ten minutes
    p.shot("22-tool-and-timer.png")
    timer.locator("button").click()
    timer.wait_for(state="detached", timeout=15_000)
    assert p.page.locator("#timer-count").inner_text() == "0"
    with p.daemon.api() as api:
        (tea,) = [t for t in api.get("/v1/timers").json() if t["label"] == "tea"]
    assert tea["state"] == "cancelled"
    # the session was told as well, and the page heard it
    p.wait_js("lumina.log.timers.some(t => t.state === 'cancelled')", timeout=15)
    assert p.problems == [], (p.problems, dump(p))


def test_a_timer_that_fires_is_announced_in_the_page(lumina_page: PageProbe) -> None:
    p = lumina_page
    p.page.fill("#text-input", "Set a timer for 3 seconds.")
    p.page.click("#send")
    p.wait_js("lumina.log.timers.some(t => t.state === 'fired')", timeout=60)
    p.page.locator(".toast", has_text="time is up").wait_for(timeout=10_000)
    assert p.page.locator("#timer-list .timer").count() == 0
    # the daemon also says it: the announcement's audio (its turn id is the timer's) is played
    p.wait_js("lumina.log.announcedChunks > 0", timeout=30)
    assert p.problems == [], (p.problems, dump(p))


def test_the_conversation_is_deleted_from_the_page_and_the_receipt_shown(
    lumina_page: PageProbe,
) -> None:
    p = lumina_page
    p.page.fill("#text-input", "What is the capital of Japan?")
    p.page.click("#send")
    p.wait_js("lumina.log.done.length > 0", timeout=120)
    old = p.js("lumina.conversationId")
    with p.daemon.api() as api:
        assert old in [c["id"] for c in api.get("/v1/conversations").json()]
    p.page.click("#delete-conversation")
    p.page.click("#delete-submit")
    receipt = p.page.locator("#delete-receipt")
    receipt.filter(has_text="deleted").wait_for(timeout=30_000)
    shredded = int(receipt.locator("[data-field='events_shredded']").inner_text())
    assert shredded > 0, receipt.inner_text()
    assert receipt.locator("[data-field='key_destroyed']").inner_text() == "destroyed"
    p.shot("23-conversation-deleted.png")
    # the page goes on in a fresh conversation, its transcript empty
    p.wait_js(f"lumina.ready && lumina.conversationId && lumina.conversationId !== '{old}'")
    assert p.page.locator("#transcript .msg").count() == 0
    with p.daemon.api() as api:
        assert old not in [c["id"] for c in api.get("/v1/conversations").json()]
        assert api.get(f"/v1/conversations/{old}").status_code == 404
    assert p.problems == [], (p.problems, dump(p))


def test_the_internet_indicator_lists_each_request_that_left_the_machine(
    lumina_page: PageProbe,
) -> None:
    p = lumina_page
    with p.daemon.api() as api:
        before = len(api.get("/v1/egress").json())
    p.page.click("#internet-switch")
    p.page.locator("#internet-banner").wait_for(timeout=15_000)
    p.page.fill("#text-input", "What is the weather like in Lisbon today?")
    p.page.click("#send")
    p.wait_js("lumina.log.done.length > 0", timeout=120)
    with p.daemon.api() as api:
        ledger = api.get("/v1/egress").json()
    assert len(ledger) == before + 1, ledger  # the search went through the loopback stub
    newest = ledger[0]
    assert newest["kind"] == "web_search" and "lisbon" in newest["query"].lower(), newest
    p.page.click("#egress-open")  # the banner's link to the ledger
    rows = p.page.locator("#egress-list .egress-entry")
    rows.first.wait_for(timeout=15_000)
    assert rows.count() == len(ledger)
    first = rows.first
    assert first.get_attribute("data-egress-id") == newest["id"]
    assert first.locator(".egress-host").inner_text() == newest["host"]
    assert newest["host"].startswith("127.0.0.1"), newest
    assert first.locator(".egress-query").inner_text() == newest["query"]
    p.shot("24-egress-ledger.png")
    p.page.keyboard.press("Escape")
    p.page.click("#internet-off")
    assert p.problems == [], (p.problems, dump(p))
