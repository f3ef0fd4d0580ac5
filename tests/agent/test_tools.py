"""Each tool of the registry, run as the intent router runs it, against a real store and the
real MiniLM embedder: what it answers, what it stores, and what the client is told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from luminad import protocol
from luminad.agent import tools
from luminad.agent.agent import ReplyContext, Responder
from luminad.agent.intents import IntentMatch, IntentRouter, Tool
from luminad.agent.tool_calls import ToolContext
from luminad.agent.tools import TOOLSET
from luminad.app import Lumina, open_lumina
from luminad.egress import LedgeredSearch
from luminad.errors import InternetDisabled
from luminad.providers.base import SearchResult
from luminad.providers.embeddings import MiniLmEmbedder
from luminad.settings import load_settings
from luminad.timers import TimerClock
from tests.support.fakes import FakeLLM


@pytest.fixture(scope="module")
def embedder() -> MiniLmEmbedder:
    return MiniLmEmbedder()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def app(home: Path, embedder: MiniLmEmbedder) -> Iterator[Lumina]:
    lumina = open_lumina(load_settings({"LUMINA_HOME": str(home)}), embedder)
    yield lumina
    lumina.close()


@dataclass
class Session:
    """Stands in for the voice session's controls and its client."""

    sent: list[protocol.ServerMessage] = field(default_factory=list)
    avatar: protocol.Avatar | None = None
    internet: bool = False
    internet_allowed: bool = True

    async def notify(self, message: protocol.ServerMessage) -> None:
        self.sent.append(message)

    async def switch_avatar(self, avatar: protocol.Avatar) -> None:
        self.avatar = avatar

    async def set_internet(self, on: bool) -> None:
        if on and not self.internet_allowed:
            raise InternetDisabled("web search is switched off in the daemon's settings")
        self.internet = on

    def of(self, kind: type[protocol.ServerMessage]) -> list[protocol.ServerMessage]:
        return [m for m in self.sent if isinstance(m, kind)]


@pytest.fixture
def session() -> Session:
    return Session()


@pytest.fixture
async def clock(app: Lumina) -> AsyncIterator[TimerClock]:
    c = TimerClock(app)
    yield c
    await c.close()


def context(
    app: Lumina, session: Session, clock: TimerClock | None = None, **kw: object
) -> ToolContext:
    conversation = app.start_conversation()
    turn = app.record_utterance(conversation, "(the user's words)", source="text")
    return ToolContext(
        app=app,
        conversation_id=conversation,
        turn_id=turn,
        avatar_id=app.default_avatar_id,
        notify=session.notify,
        timers=clock,
        session=session,
        **kw,  # type: ignore[arg-type]
    )


ROUTER = IntentRouter()


async def call(tool: Tool, ctx: ToolContext, **arguments: object) -> str:
    return await ROUTER.run(IntentMatch(intent="test", tool=tool, arguments=arguments), ctx)


def test_the_registry_offers_the_agreed_tools_with_their_docstrings() -> None:
    assert set(TOOLSET.tools) == {
        "remember",
        "forget",
        "recall",
        "set_preferred_name",
        "current_time",
        "set_timer",
        "cancel_timer",
        "list_timers",
        "web_search",
        "switch_avatar",
    }
    for tool in TOOLSET.tools.values():
        assert tool.description, tool.name
    # internet on/off is a local intent only: a model never switches egress on by itself
    assert "set_internet" not in TOOLSET.tools


async def test_remember_stores_the_fact_sealed_and_tells_the_client(
    app: Lumina, session: Session
) -> None:
    ctx = context(app, session)
    said = await call(tools.remember, ctx, fact="my sister's birthday is on May 3")
    assert said == "Okay, I'll remember that."
    (memory,) = app.queries.list_memories()
    assert memory.text == "My sister's birthday is on May 3."
    assert memory.source.turn_id == str(ctx.turn_id)
    (written,) = session.of(protocol.MemoryWritten)
    assert written.text == memory.text  # type: ignore[attr-defined]
    (called,) = session.of(protocol.ToolCall)
    assert called == protocol.ToolCall(
        turn_id=str(ctx.turn_id),
        name="remember",
        arguments={"fact": "my sister's birthday is on May 3"},
        result=said,
    )
    (event,) = app.queries.events(types=["ToolCalled"])
    assert isinstance(event.data, dict)
    assert event.data["arguments"] == {"fact": "my sister's birthday is on May 3"}
    assert event.data["result"] == said
    raw = app.recorder.select_notifications(event.position, 1)[0].state
    assert b"sister" not in raw and b"remember that" not in raw


async def test_a_secret_is_not_remembered_and_the_user_is_told(
    app: Lumina, session: Session
) -> None:
    ctx = context(app, session)
    said = await call(tools.remember, ctx, fact="my password is hunter2")
    assert "secret" in said and app.queries.list_memories() == []
    assert session.of(protocol.MemoryWritten) == []
    (called,) = session.of(protocol.ToolCall)
    assert called.ok is False  # type: ignore[attr-defined]
    raw = b"".join(n.state for n in app.recorder.select_notifications(0, 1000))
    assert b"hunter2" not in raw


async def test_forget_deletes_the_memory_that_means_the_same(app: Lumina, session: Session) -> None:
    ctx = context(app, session)
    await call(tools.remember, ctx, fact="My sister's birthday is on May 3")
    await call(tools.remember, ctx, fact="I like green tea in the morning")
    said = await call(tools.forget, ctx, what="when my sister was born")
    assert said.startswith("Done, I forgot that")
    assert [m.text for m in app.queries.list_memories()] == ["I like green tea in the morning."]


async def test_forget_with_nothing_close_keeps_every_memory(app: Lumina, session: Session) -> None:
    ctx = context(app, session)
    await call(tools.remember, ctx, fact="I like green tea in the morning")
    said = await call(tools.forget, ctx, what="the car's licence plate")
    assert said == "I don't have anything stored about that."
    assert len(app.queries.list_memories()) == 1


async def test_recall_answers_what_was_stored(app: Lumina, session: Session) -> None:
    ctx = context(app, session)
    await call(tools.remember, ctx, fact="My sister's birthday is on May 3")
    assert "May 3" in await call(tools.recall, ctx, query="sister's birthday")


async def test_recall_finds_a_memory_naming_what_was_asked(app: Lumina, session: Session) -> None:
    """ "What do you remember about my sister?" right after "Remember that my sister Ana likes
    sunflowers." said it remembered nothing: the two are only 0.28 similar."""
    ctx = context(app, session)
    await call(tools.remember, ctx, fact="my sister Ana likes sunflowers")
    await call(tools.remember, ctx, fact="the plumber comes on Friday")
    said = await call(tools.recall, ctx, query="my sister")
    assert said == "You told me: Your sister Ana likes sunflowers."  # said to the user
    assert await call(tools.recall, ctx, query="my brother") == (
        "I don't remember anything about that."
    )


async def test_set_and_say_the_preferred_name(app: Lumina, session: Session) -> None:
    ctx = context(app, session)
    assert await call(tools.preferred_name, ctx) == "You haven't told me your name yet."
    assert "Sam" in await call(tools.set_preferred_name, ctx, name="sam")
    assert app.queries.get_profile().preferred_name == "Sam"
    assert await call(tools.preferred_name, ctx) == "Your name is Sam."


async def test_a_name_said_in_passing_is_set_and_the_model_answers_the_message(
    app: Lumina, session: Session
) -> None:
    """ "Hi, my name is Dana and I live in Lyon." is no intent as a whole, so it went to the
    model alone, which greeted Dana and never set the name: "What is my name?" was then
    answered "You haven't told me your name yet."."""
    llm = FakeLLM(["Hello Dana! Lyon is lovely."], delay_s=0)
    responder = Responder(llm)
    avatar = protocol.Avatar(id="a1", name="Lumina", persona="", style="", voice="joe")
    turn = ReplyContext(
        avatar=avatar, preferred_name=None, preferences={}, history=[],
        user_text="Hi, my name is Dana and I live in Lyon.", tools=context(app, session),
    )  # fmt: skip
    said = "".join([d async for d in responder.stream_reply(turn)])
    assert said == "Hello Dana! Lyon is lovely."  # the model answered the whole message
    assert app.queries.get_profile().preferred_name == "Dana"
    assert await call(tools.preferred_name, context(app, session)) == "Your name is Dana."


async def test_current_time_says_the_clock(app: Lumina, session: Session) -> None:
    said = await call(tools.current_time, context(app, session))
    assert said.startswith("It's ") and (" AM on " in said or " PM on " in said)


async def test_a_bad_timer_length_is_said_and_reported_as_tool_failed(
    app: Lumina, session: Session, clock: TimerClock
) -> None:
    ctx = context(app, session, clock)
    said = await call(tools.set_timer, ctx, seconds=0, label="")
    assert "between 1 second and 24 hours" in said
    assert app.queries.list_timers() == []
    (called,) = session.of(protocol.ToolCall)
    assert called.ok is False  # type: ignore[attr-defined]
    (error,) = session.of(protocol.Error)
    assert error.code == "tool_failed" and error.turn_id is None  # type: ignore[attr-defined]


async def test_timer_set_listed_cancelled(app: Lumina, session: Session, clock: TimerClock) -> None:
    ctx = context(app, session, clock)
    assert await call(tools.set_timer, ctx, seconds=300, label="tea") == (
        "Okay, tea timer set for 5 minutes."
    )
    await call(tools.set_timer, ctx, seconds=3600, label="")
    listed = await call(tools.list_timers, ctx)
    assert listed == "You have 2 timers: tea with 5 minutes left, a timer with 1 hour left."
    assert await call(tools.cancel_timer, ctx, label="tea") == "Okay, I cancelled the tea timer."
    states = {t.label: t.state for t in app.queries.list_timers()}
    assert states == {"tea": "cancelled", "": "set"}
    changes = [(m.label, m.state) for m in session.of(protocol.TimerChanged)]  # type: ignore[attr-defined]
    assert changes == [("tea", "set"), ("", "set"), ("tea", "cancelled")]
    assert await call(tools.cancel_timer, ctx, label="pasta") == (
        "There is no timer like that running."
    )


async def test_a_timer_fires_and_is_announced(app: Lumina, session: Session) -> None:
    fired: list[protocol.Timer] = []
    done = asyncio.Event()

    async def announce(timer: protocol.Timer) -> None:
        fired.append(timer)
        done.set()

    clock = TimerClock(app, announce)
    try:
        await call(tools.set_timer, context(app, session, clock), seconds=1, label="eggs")
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await clock.close()
    assert [(t.label, t.state) for t in fired] == [("eggs", "fired")]
    assert [t.state for t in app.queries.list_timers()] == ["fired"]


async def test_timers_survive_a_restart(home: Path, embedder: MiniLmEmbedder) -> None:
    settings = load_settings({"LUMINA_HOME": str(home)})
    first = open_lumina(settings, embedder)
    clock = TimerClock(first)
    timer = await clock.set(1, "bread")
    await clock.close()  # the daemon stops before the timer is due
    first.close()
    await asyncio.sleep(1.2)

    again = open_lumina(settings, embedder)
    fired: list[protocol.Timer] = []
    done = asyncio.Event()

    async def announce(t: protocol.Timer) -> None:
        fired.append(t)
        done.set()

    clock = TimerClock(again, announce)
    try:
        assert await clock.start() == 1
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await clock.close()
        again.close()
    assert [(t.id, t.state) for t in fired] == [(timer.id, "fired")]


@dataclass
class DownSearch:
    name: str = "down"

    async def search(self, query: str, *, limit: int = 5) -> list[SearchResult]:
        raise OSError("network unreachable")


@dataclass
class OneResult:
    name: str = "one"

    async def search(self, query: str, *, limit: int = 5) -> list[SearchResult]:
        return [SearchResult(title="Moon", url="https://example.org/moon", snippet="It orbits.")]


async def test_web_search_only_in_internet_mode(app: Lumina, session: Session) -> None:
    offline = context(app, session, search=OneResult())
    assert "Internet mode is off" in await call(tools.web_search, offline, query="moon")
    down = context(app, session, search=DownSearch(), internet=True)
    assert "didn't answer" in await call(tools.web_search, down, query="moon")
    online = context(app, session, search=OneResult(), internet=True)
    assert await call(tools.web_search, online, query="moon") == "Moon: It orbits."
    assert [(r.title, r.url) for r in online.web] == [("Moon", "https://example.org/moon")]
    assert [e.code for e in session.of(protocol.Error)] == ["tool_failed", "tool_failed"]  # type: ignore[attr-defined]


async def test_switch_avatar(app: Lumina, session: Session) -> None:
    ctx = context(app, session)
    said = await call(tools.switch_avatar, ctx, name="Bob")
    assert said == "I don't know an avatar called Bob. I can be Lumina."
    assert session.avatar is None
    bob = app.create_avatar("Bob", voice="joe")
    assert await call(tools.switch_avatar, ctx, name="bob") == "Okay, this is Bob now."
    assert session.avatar is not None and session.avatar.id == str(bob)
    assert ctx.avatar_id == bob


async def test_internet_switch_refused_by_the_daemon_is_said(app: Lumina, session: Session) -> None:
    session.internet_allowed = False
    ctx = context(app, session)
    said = await call(tools.set_internet, ctx, on=True)
    assert "web search is switched off" in said
    assert session.internet is False and ctx.internet is False


async def test_a_tool_waits_for_the_turn_to_be_committed(app: Lumina, session: Session) -> None:
    committed = asyncio.Event()

    async def wait() -> None:
        await committed.wait()

    ctx = context(app, session, committed=wait)
    task = asyncio.create_task(call(tools.remember, ctx, fact="I parked on level 3"))
    await asyncio.sleep(0.2)
    assert app.queries.list_memories() == [] and session.sent == []
    committed.set()
    assert await task == "Okay, I'll remember that."
    assert len(app.queries.list_memories()) == 1


async def test_a_call_that_cannot_be_recorded_still_answers(app: Lumina, session: Session) -> None:
    ctx = context(app, session)
    ctx.turn_id = uuid4()  # not a turn of the conversation: ToolCalled is refused
    said = await call(tools.remember, ctx, fact="I parked on level 3")
    assert said == "Okay, I'll remember that."
    assert [m.text for m in app.queries.list_memories()] == ["I parked on level 3."]
    assert isinstance(ctx.turn_id, UUID)


async def test_a_search_for_nothing_but_a_secret_is_refused_with_a_sentence(
    app: Lumina, session: Session
) -> None:
    sent = OneResult()
    ledgered = LedgeredSearch(sent, app, "search.example.org")
    online = context(app, session, search=ledgered, internet=True)
    said = await call(tools.web_search, online, query="sk-proj-abc123def456ghi789jkl")
    assert said == "Not searched: the search would have sent a secret."
    assert app.queries.egress() == []  # nothing left the machine, nothing to record
    assert await call(tools.web_search, online, query="moon") == "Moon: It orbits."
    assert [e.query for e in app.queries.egress()] == ["moon"]
