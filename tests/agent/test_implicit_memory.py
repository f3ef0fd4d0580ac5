"""Models without tools: the user's facts are extracted after the reply and stored."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from luminad import protocol
from luminad.agent.agent import ReplyContext, Responder
from luminad.agent.implicit_memory import parse_facts, said_only, stated_name, worth_extracting
from luminad.agent.tool_calls import ToolContext
from luminad.errors import SecretNotStored
from tests.support.fakes import FakeLLM


@dataclass
class FakeApp:
    refuse: str = "\0"
    stored: list[tuple[str, Any, Any, Any]] = field(default_factory=list)
    preferred_name: str | None = None

    @property
    def queries(self) -> FakeApp:
        return self

    def get_profile(self) -> protocol.Profile:
        return protocol.Profile(preferred_name=self.preferred_name)

    def set_preferred_name(self, name: str) -> None:
        self.preferred_name = name

    def remember(self, text: str, *, avatar_id: Any, conversation_id: Any, turn_id: Any) -> Any:
        if self.refuse in text:
            raise SecretNotStored("looks like a secret")
        self.stored.append((text, avatar_id, conversation_id, turn_id))
        return uuid.uuid4()


def tool_context(app: FakeApp, sent: list[protocol.ServerMessage]) -> ToolContext:
    async def notify(message: protocol.ServerMessage) -> None:
        sent.append(message)

    return ToolContext(
        app=app,  # type: ignore[arg-type]
        conversation_id=uuid.uuid4(), turn_id=uuid.uuid4(), avatar_id=uuid.uuid4(),
        notify=notify,
    )  # fmt: skip


def turn(avatar: protocol.Avatar, text: str, tools: ToolContext) -> ReplyContext:
    return ReplyContext(avatar=avatar, preferred_name=None, preferences={}, history=[],
                        user_text=text, tools=tools)  # fmt: skip


async def reply_and_extract(responder: Responder, ctx: ReplyContext) -> str:
    text = "".join([d async for d in responder.stream_reply(ctx)])
    await asyncio.gather(*responder.background)
    return text


async def test_a_stated_fact_is_stored_after_the_reply(lumina_avatar: protocol.Avatar) -> None:
    llm = FakeLLM(["How lovely!", "The user's sister's birthday is on May 3."], delay_s=0)
    app, sent = FakeApp(), []
    tools = tool_context(app, sent)
    spoken = await reply_and_extract(
        Responder(llm), turn(lumina_avatar, "My sister's birthday is on May third.", tools)
    )
    assert spoken == "How lovely!"  # the extraction is never spoken
    fact = "The user's sister's birthday is on May 3."
    assert app.stored == [(fact, tools.avatar_id, tools.conversation_id, tools.turn_id)]
    assert [(type(m), getattr(m, "text", "")) for m in sent] == [(protocol.MemoryWritten, fact)]
    assert "worth remembering" in llm.requests[1][0].content


async def test_questions_and_refused_facts_are_not_stored(lumina_avatar: protocol.Avatar) -> None:
    llm = FakeLLM(["Sure.", "The user's password is hunter2."], delay_s=0)
    app, sent = FakeApp(refuse="password"), []
    tools = tool_context(app, sent)
    responder = Responder(llm, intents=None)  # "What is my name?" is also a local intent
    await reply_and_extract(responder, turn(lumina_avatar, "What is my name?", tools))
    assert len(llm.requests) == 1  # a question: no extraction request at all
    await reply_and_extract(responder, turn(lumina_avatar, "My password is hunter2.", tools))
    assert app.stored == [] and sent == []


def test_parsing_and_the_statement_filter() -> None:
    assert parse_facts("NONE") == []
    assert parse_facts("The user's message is not worth remembering.") == []
    # the user's words copied, not read ("I was wondering whether you could help me find.")
    assert parse_facts("The user could help me find.\nThe user likes my idea.") == []
    assert parse_facts("The user's mother is from Maine.") == ["The user's mother is from Maine."]
    assert parse_facts("- The user has a dog called Rex.\n2. The user lives in Oslo.") == [
        "The user has a dog called Rex.",
        "The user lives in Oslo.",
    ]
    assert worth_extracting("I live in Oslo.") and not worth_extracting("Where do I live?")
    assert not worth_extracting("The sky is blue.")


@pytest.mark.parametrize(
    ("fact", "said", "name"),
    [
        ("The user is Dana, a friendly person.", "Hi, I'm Dana, nice to meet you.", "Dana"),
        ("The user's name is Dana.", "hi, my name is dana and I like cats", "Dana"),
        ("The user is Leo and he is nine years old.", "My name is Leo and I am nine.", "Leo"),
        ("The user is called Ada Lovelace.", "Call me Ada Lovelace, please.", "Ada Lovelace"),
        # the model's reading alone is not enough: the user's words must say the name
        ("The user's name is Pixel.", "My cat's name is Pixel.", None),
        ("The user's name is Dana.", "I like the name Dana.", None),
        # "I'm" names only a capitalised word: "i'm tired" is no name
        ("The user's name is tired.", "I'm tired.", None),
        ("The user is a teacher.", "I'm a teacher.", None),
        ("The user has two cats.", "My name is Dana and I have two cats.", None),
    ],
)  # fmt: skip
def test_a_name_needs_the_fact_and_the_user_s_words(fact: str, said: str, name: str | None) -> None:
    assert stated_name([fact], said) == name


async def test_a_name_said_in_passing_names_the_user_once(lumina_avatar: protocol.Avatar) -> None:
    llm = FakeLLM(["Hello Dana!", "The user is Dana.", "Hi!", "The user is Sam."], delay_s=0)
    app, sent = FakeApp(), []
    tools = tool_context(app, sent)
    responder = Responder(llm, intents=None)
    hello = turn(lumina_avatar, "Hi, I'm Dana, nice to meet you.", tools)
    await reply_and_extract(responder, hello)
    assert app.preferred_name == "Dana"
    # a name chosen already is kept (the user changes it by saying "call me ...")
    await reply_and_extract(responder, turn(lumina_avatar, "I'm Sam's friend, I'm Sam.", tools))
    assert app.preferred_name == "Dana"


@pytest.mark.parametrize(
    ("fact", "said", "kept"),
    [
        # the default model's reading of a greeting: an appositive nobody said
        ("The user is Dana, a friendly and welcoming person.", "Hi, I'm Dana, nice to meet you.",
         "The user is Dana."),
        ("The user lives in Lisbon, Portugal.", "I live in Lisbon.", "The user lives in Lisbon."),
        ("The user loves Italian food, especially pasta.", "I love Italian food, especially pasta.",
         "The user loves Italian food, especially pasta."),
        ("The user has two cats, Pixel and Mango.", "I have two cats called Pixel and Mango.",
         "The user has two cats, Pixel and Mango."),
        ("The user's sister's birthday is on May 3.", "My sister's birthday is on May third.",
         "The user's sister's birthday is on May 3."),
        # the default model's reason nobody gave
        ("The user thinks their phone is broken because they have no family or pets.",
         "I think my phone is broken.", "The user thinks their phone is broken."),
        ("The user is learning Spanish because they are moving to Madrid.",
         "I'm learning Spanish because I'm moving to Madrid.",
         "The user is learning Spanish because they are moving to Madrid."),
    ],
)  # fmt: skip
def test_a_fact_keeps_only_the_clauses_the_user_said(fact: str, said: str, kept: str) -> None:
    assert said_only(fact, said) == kept


async def test_what_the_user_did_not_say_is_not_stored(lumina_avatar: protocol.Avatar) -> None:
    llm = FakeLLM(["Hello Dana!", "The user is Dana, a friendly and welcoming person."], delay_s=0)
    app, sent = FakeApp(), []
    hello = turn(lumina_avatar, "Hi, I'm Dana, nice to meet you.", tool_context(app, sent))
    await reply_and_extract(Responder(llm, intents=None), hello)
    assert [text for text, *_ in app.stored] == ["The user is Dana."]
    assert app.preferred_name == "Dana"
