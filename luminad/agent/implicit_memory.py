"""Implicit facts for models that cannot call tools: a short extraction prompt after the reply.

A model with tools stores "my sister's birthday is May 3rd" by calling ``remember``; one
without (SmolLM2, a server model without tool support) gets a second, small request once its
reply is complete, off the latency path: "which facts about the user does this message hold?".
Each fact found is written through the app's ``remember`` command (whose do-not-store filter
refuses secrets) and announced to the client as ``memory_written``. Only statements that talk
about the user are looked at; questions never are. A fact that names the user ("The user's name
is Dana.") also becomes the name Lumina calls them, when none is set yet and the user's own words
said that name (:func:`stated_name`): "Hi, I'm Dana, nice to meet you" is answered by "Your name is
Dana." later, as "My name is Dana." is by the local intent.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

from luminad import protocol
from luminad.agent.intents import name_of
from luminad.agent.words import content_words, first_person
from luminad.errors import LuminaError
from luminad.providers.base import ChatModel, stream_text

if TYPE_CHECKING:
    from luminad.agent.tool_calls import ToolContext

log = logging.getLogger(__name__)

EXTRACT_PROMPT = (
    "List the facts about the user in the user's message that are worth remembering "
    "(names, dates, family, pets, places, likes, plans). Write each as one short sentence "
    "starting with 'The user'. If there is no such fact, write NONE."
)
MAX_FACTS = 3
_ABOUT_USER = re.compile(r"\b(?:my|i|i'm|i've|i am|we|our)\b", re.IGNORECASE)
_FACT = re.compile(r"^(?:[-*•\d.)\s]*)(the user\b.{3,200})$", re.IGNORECASE)
#: A "fact" that only says there is none (small models write "The user's message is not
#: worth remembering.").
_NO_FACT = re.compile(r"\b(?:not worth|no (?:such )?facts?|nothing (?:to|worth))\b", re.IGNORECASE)
#: A fact that may name the user ("The user's name is Dana.", "The user is called Sam.", "The
#: user is Leo and he is nine."): what follows, up to "and", a comma or the end of the sentence.
_NAMES_USER = re.compile(
    r"^the user(?:'s name is| is called| is named| is) (.+?)(?=\s+and\b|[,.!?;]|$)",
    re.IGNORECASE,
)
#: Where the user's words give their name, and the (up to three) words after it.
_SAYS_NAME = re.compile(
    r"\b(my name is|my name's|call me|i'm|i am)\s+([^\W\d_][\w'-]*(?:\s+[^\W\d_][\w'-]*){0,2})",
    re.IGNORECASE,
)


def worth_extracting(text: str) -> bool:
    """A statement about the user (not a question)."""
    text = text.strip()
    return bool(text) and not text.endswith("?") and bool(_ABOUT_USER.search(text))


def parse_facts(answer: str) -> list[str]:
    """The ``The user …`` sentences of the model's answer (at most :data:`MAX_FACTS`), but not
    one that says there is none or is still in the user's first person (it copies their words
    without reading them: "I was wondering whether you could help me find." came back as "The
    user could help me find.")."""
    facts: list[str] = []
    for line in answer.splitlines():
        match = _FACT.match(line.strip())
        fact = match.group(1).strip() if match else ""
        if fact and not _NO_FACT.search(fact) and not first_person(fact) and fact not in facts:
            facts.append(fact)
    return facts[:MAX_FACTS]


def stated_name(facts: list[str], user_text: str) -> str | None:
    """The user's name, when one of ``facts`` names them and ``user_text`` says that name after
    "my name is", "call me" or, capitalised, "I'm" / "I am" (the model's reading and the user's
    words agree: "I'm tired" names nobody); as the user wrote it, each word capitalised."""
    for fact in facts:
        named = _NAMES_USER.match(fact)
        name = name_of(named.group(1)) if named else None
        if name is None:
            continue
        want = name.casefold().split()
        for said in _SAYS_NAME.finditer(user_text):
            words = said.group(2).split()[: len(want)]
            if [w.casefold() for w in words] != want:
                continue
            if said.group(1).lower() in ("i'm", "i am") and not all(w[0].isupper() for w in words):
                continue
            return " ".join(w[:1].upper() + w[1:] for w in words)
    return None


#: Where a fact's clauses join: a comma, or "because" (the joint is kept with its clause).
_CLAUSE = re.compile(r"(, | because )")


def said_only(fact: str, user_text: str) -> str:
    """``fact`` without the clauses after a comma or a "because" that the user did not say (no
    word of the clause in ``user_text``): "Hi, I'm Dana, nice to meet you." came back as "The
    user is Dana, a friendly and welcoming person.", and "I think my phone is broken." as "The
    user thinks their phone is broken because they have no family or pets.", memories of words
    nobody said."""
    heard = content_words(user_text)
    head, *rest = _CLAUSE.split(fact.rstrip(".!"))
    kept = [head]
    for joint, clause in zip(rest[::2], rest[1::2], strict=True):
        if heard & content_words(clause):
            kept += [joint, clause]
    return "".join(kept) + "."


async def extract_facts(llm: ChatModel, user_text: str) -> list[str]:
    """Facts about the user in ``user_text``, asked of ``llm`` with the extraction prompt."""
    parts = [d async for d in stream_text(llm, user_text, max_tokens=60, system=EXTRACT_PROMPT)]
    return [said_only(fact, user_text) for fact in parse_facts("".join(parts))]


async def remember_implicit_facts(llm: ChatModel, user_text: str, tools: ToolContext) -> list[str]:
    """Extract the facts of a turn and store each through the app; best effort, never raises.

    ``tools`` is the turn's tool context (the app, conversation, turn, avatar, ``notify``).
    """
    try:
        facts = await extract_facts(llm, user_text)
        if facts and tools.committed is not None:
            await tools.committed()  # a speculative turn that was dropped stores nothing
    except (LuminaError, TimeoutError) as exc:
        log.info("implicit fact extraction failed: %s", type(exc).__name__)
        return []
    stored: list[str] = []
    for fact in facts:
        try:
            memory_id = await asyncio.to_thread(
                tools.app.remember,
                fact,
                avatar_id=tools.avatar_id,
                conversation_id=tools.conversation_id,
                turn_id=tools.turn_id,
            )
        except LuminaError as exc:  # refused by the do-not-store filter, or the store is full
            log.info("implicit fact not stored: %s", exc.code)
            continue
        stored.append(fact)
        await tools.notify(protocol.MemoryWritten(memory_id=str(memory_id), text=fact))
    log.info("implicit facts: %d found, %d stored", len(facts), len(stored))
    name = stated_name(stored, user_text)
    if name is not None:
        await _name_the_user(tools, name)
    return stored


async def _name_the_user(tools: ToolContext, name: str) -> None:
    """Call the user ``name`` from now on, unless they already chose a name."""
    try:
        profile = await asyncio.to_thread(tools.app.queries.get_profile)
        if not profile.preferred_name:
            await asyncio.to_thread(tools.app.set_preferred_name, name)
            log.info("implicit facts: the user's name set")
    except LuminaError as exc:
        log.info("implicit name not set: %s", exc.code)
