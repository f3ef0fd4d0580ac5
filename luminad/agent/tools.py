"""The assistant's tools: one registry, :data:`TOOLSET`, of small typed functions.

Each tool is an async function taking PydanticAI's ``RunContext[ToolContext]`` and answering a
short sentence; its docstring is what a model that can call tools sees. The local intent
router (:mod:`luminad.agent.intents`) runs the same functions without a model.

Every call goes through :func:`~luminad.agent.tool_calls.perform` (it waits for the turn's commit,
records the call and tells the client). A tool that cannot do what was asked (unknown avatar,
bad timer length, web down) raises :class:`~luminad.agent.tool_calls.ToolError` with the sentence
to say; it never touches a stored fact it was not asked to change.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic_ai import FunctionToolset, RunContext
from pydantic_ai.tools import ToolDefinition

from luminad import protocol
from luminad.agent.tool_calls import ToolContext, ToolError, perform
from luminad.agent.words import content_words, told_to_them
from luminad.errors import LuminaError, SecretNotStored

if TYPE_CHECKING:
    from luminad.timers import TimerClock

log = logging.getLogger(__name__)

#: A memory this similar (cosine) to the words of ``forget`` is the one forgotten.
FORGET_MIN_SCORE = 0.5
#: Memories at least this similar to the query are what ``recall`` answers, and those that
#: contain every word of the query that carries meaning: "my sister" is only 0.28 similar to
#: "My sister Ana likes sunflowers." (all-MiniLM-L6-v2). Of the nearest ``RECALL_READ``, the
#: first ``RECALL_LIMIT``.
RECALL_MIN_SCORE = 0.3
RECALL_READ = 10
RECALL_LIMIT = 3
SEARCH_TIMEOUT_S = 6.0

TOOLSET: FunctionToolset[ToolContext] = FunctionToolset()


# ---------------------------------------------------------------------------- memory
@TOOLSET.tool
async def remember(ctx: RunContext[ToolContext], fact: str) -> str:
    """Remember a fact about the user for later conversations.

    Args:
        fact: The fact as a short sentence, e.g. "My sister's birthday is on May 3".
    """

    async def act(tools: ToolContext) -> str:
        text = fact.strip().rstrip(".")
        if not text:
            raise ToolError("I didn't catch what to remember.")
        text = text[:1].upper() + text[1:] + "."
        memory_id = await asyncio.to_thread(
            tools.app.remember,
            text,
            avatar_id=tools.avatar_id,
            conversation_id=tools.conversation_id,
            turn_id=tools.turn_id,
        )
        await tools.notify(protocol.MemoryWritten(memory_id=str(memory_id), text=text))
        return "Okay, I'll remember that."

    return await perform(ctx, {"fact": fact}, act)


@TOOLSET.tool
async def forget(ctx: RunContext[ToolContext], what: str) -> str:
    """Forget (delete) the stored memory that best matches what the user describes.

    Args:
        what: What the memory is about, e.g. "my sister's birthday".
    """

    async def act(tools: ToolContext) -> str:
        hits = await asyncio.to_thread(
            tools.app.queries.search_memories, what, avatar_id=tools.avatar_id, limit=1
        )
        if not hits or (hits[0].score or 0.0) < FORGET_MIN_SCORE:
            return "I don't have anything stored about that."
        await asyncio.to_thread(tools.app.forget_memory, UUID(hits[0].id))
        return f"Done, I forgot that: {hits[0].text}"

    return await perform(ctx, {"what": what}, act)


@TOOLSET.tool
async def recall(ctx: RunContext[ToolContext], query: str) -> str:
    """Look up what the user told you earlier about something.

    Args:
        query: What to look for, e.g. "sister's birthday".
    """

    async def act(tools: ToolContext) -> str:
        hits = await asyncio.to_thread(
            tools.app.queries.search_memories, query, avatar_id=tools.avatar_id, limit=RECALL_READ
        )
        asked = content_words(query)
        found = [
            m.text
            for m in hits
            if (m.score or 0.0) >= RECALL_MIN_SCORE or (asked and asked <= content_words(m.text))
        ][:RECALL_LIMIT]
        if not found:
            return "I don't remember anything about that."
        return "You told me: " + " ".join(told_to_them(text) for text in found)

    return await perform(ctx, {"query": query}, act)


@TOOLSET.tool
async def set_preferred_name(ctx: RunContext[ToolContext], name: str) -> str:
    """Set the name the user wants to be called.

    Args:
        name: The name, e.g. "Sam".
    """

    async def act(tools: ToolContext) -> str:
        words = name.strip().strip(".!?,").split()
        if not words or len(words) > 3:
            raise ToolError("I didn't catch the name.")
        clean = " ".join(w[:1].upper() + w[1:] for w in words)
        await asyncio.to_thread(tools.app.set_preferred_name, clean)
        return f"Nice to meet you, {clean}. I'll call you {clean}."

    return await perform(ctx, {"name": name}, act)


async def preferred_name(ctx: RunContext[ToolContext]) -> str:
    """Say the name the user asked to be called (a local intent; the model has it in its
    prompt)."""

    async def act(tools: ToolContext) -> str:
        profile = await asyncio.to_thread(tools.app.queries.get_profile)
        if not profile.preferred_name:
            return "You haven't told me your name yet."
        return f"Your name is {profile.preferred_name}."

    return await perform(ctx, {}, act)


# ---------------------------------------------------------------------------- time and timers
@TOOLSET.tool
async def current_time(ctx: RunContext[ToolContext]) -> str:
    """The current local time and day of the week."""

    async def act(tools: ToolContext) -> str:
        now = datetime.now().astimezone()
        clock = now.strftime("%I:%M %p").lstrip("0")
        return f"It's {clock} on {now.strftime('%A')}."

    return await perform(ctx, {}, act)


def say_duration(seconds: float) -> str:
    """``3725`` -> ``"1 hour 2 minutes 5 seconds"``."""
    left = max(0, round(seconds))
    parts = []
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts) or "0 seconds"


def _clock(tools: ToolContext) -> TimerClock:
    if tools.timers is None:
        raise ToolError("Timers are not available here.")
    return tools.timers


@TOOLSET.tool
async def set_timer(ctx: RunContext[ToolContext], seconds: int, label: str = "") -> str:
    """Start a countdown timer; you will announce it when it runs out.

    Args:
        seconds: Length of the timer in seconds (5 minutes is 300).
        label: What the timer is for, e.g. "tea"; empty when not said.
    """

    async def act(tools: ToolContext) -> str:
        from luminad.timers import timer_message

        timer = await _clock(tools).set(seconds, label, tools.conversation_id)
        await tools.notify(timer_message(timer))
        what = f"{timer.label} timer" if timer.label else "timer"
        return f"Okay, {what} set for {say_duration(seconds)}."

    return await perform(ctx, {"seconds": seconds, "label": label}, act)


def _pick(running: list[protocol.Timer], label: str) -> protocol.Timer | None:
    wanted = label.strip().casefold()
    if wanted:
        for timer in running:
            label_of = timer.label.casefold()
            if label_of and (wanted in label_of or label_of in wanted):
                return timer
        return None
    return running[0] if running else None


@TOOLSET.tool
async def cancel_timer(ctx: RunContext[ToolContext], label: str = "") -> str:
    """Cancel a running timer (the one with this label, else the one due soonest).

    Args:
        label: What the timer is for, e.g. "tea"; empty when not said.
    """

    async def act(tools: ToolContext) -> str:
        from luminad.timers import timer_message

        clock = _clock(tools)
        running = await asyncio.to_thread(tools.app.queries.list_timers, running=True)
        timer = _pick(running, label)
        if timer is None:
            return "There is no timer like that running." if label else "No timer is running."
        cancelled = await clock.cancel(UUID(timer.id))
        await tools.notify(timer_message(cancelled))
        what = f"{cancelled.label} timer" if cancelled.label else "timer"
        return f"Okay, I cancelled the {what}."

    return await perform(ctx, {"label": label}, act)


@TOOLSET.tool
async def list_timers(ctx: RunContext[ToolContext]) -> str:
    """The timers that are running and how long each has left."""

    async def act(tools: ToolContext) -> str:
        from luminad.timers import seconds_left

        running = await asyncio.to_thread(tools.app.queries.list_timers, running=True)
        if not running:
            return "You have no timers running."
        parts = [
            f"{t.label or 'a timer'} with {say_duration(seconds_left(t))} left" for t in running
        ]
        count = "one timer" if len(running) == 1 else f"{len(running)} timers"
        return f"You have {count}: " + ", ".join(parts) + "."

    return await perform(ctx, {}, act)


# ---------------------------------------------------------------------------- web
async def _only_online(
    ctx: RunContext[ToolContext], tool_def: ToolDefinition
) -> ToolDefinition | None:
    """Offer ``web_search`` only while internet mode is on."""
    return tool_def if ctx.deps.internet and ctx.deps.search is not None else None


@TOOLSET.tool(prepare=_only_online)
async def web_search(ctx: RunContext[ToolContext], query: str) -> str:
    """Search the web for current information.

    Args:
        query: What to search for.
    """

    async def act(tools: ToolContext) -> str:
        if not tools.internet or tools.search is None:
            raise ToolError(
                "Internet mode is off, so I can't search the web.",
                action="Switch internet mode on to allow web search.",
            )
        try:
            async with asyncio.timeout(SEARCH_TIMEOUT_S):
                results = await tools.search.search(query, limit=3)
        except SecretNotStored as exc:  # the query was nothing but a secret: not sent
            raise ToolError(exc.message, action=exc.action) from None
        except (TimeoutError, LuminaError, OSError) as exc:
            log.warning("web search failed: %s", type(exc).__name__)
            raise ToolError(
                "The web search didn't answer, so I can't look that up right now.",
                action="Check the search endpoint (LUMINA_SEARCH_URL) and the network.",
            ) from None
        if not results:
            return "The web search found nothing."
        tools.web.extend(results)
        return "\n".join(f"{r.title}: {r.snippet}" for r in results)

    return await perform(ctx, {"query": query}, act)


async def set_internet(ctx: RunContext[ToolContext], on: bool) -> str:
    """Internet mode on or off for this session (a local intent only: a model never switches
    it on by itself)."""

    async def act(tools: ToolContext) -> str:
        if tools.session is None:
            raise ToolError("I can't change internet mode here.")
        await tools.session.set_internet(on)
        tools.internet = on
        return "Internet mode is on." if on else "Internet mode is off."

    return await perform(ctx, {"on": on}, act)


# ---------------------------------------------------------------------------- avatars
@TOOLSET.tool
async def switch_avatar(ctx: RunContext[ToolContext], name: str) -> str:
    """Switch to another avatar (persona and voice) by its name.

    Args:
        name: The avatar's name, e.g. "Lumina".
    """

    async def act(tools: ToolContext) -> str:
        avatars = await asyncio.to_thread(tools.app.queries.list_avatars)
        wanted = name.strip().strip(".!?").casefold()
        found = next((a for a in avatars if a.name.casefold() == wanted), None)
        if found is None:
            names = ", ".join(a.name for a in avatars)
            raise ToolError(
                f"I don't know an avatar called {name.strip()}. I can be {names}.",
                action="Create the avatar first, or say one of the names listed.",
            )
        if tools.session is None:
            raise ToolError("I can't switch avatars here.")
        await tools.session.switch_avatar(found)
        tools.avatar_id = UUID(found.id)
        return f"Okay, this is {found.name} now."

    return await perform(ctx, {"name": name}, act)
