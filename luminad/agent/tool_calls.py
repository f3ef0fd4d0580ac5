"""How a tool call happens: what a tool works on, and the one path every call takes.

:class:`ToolContext` is what a tool of :mod:`luminad.agent.tools` works on (the app, the turn,
the client). Every call goes through :func:`perform`: it waits until the turn is committed (a
speculative turn never acts), runs the tool, records ``ToolCalled`` on the conversation
(arguments and result are user content, sealed like every other), and sends a ``tool_call``
message to the client. A tool that cannot do what was asked raises :class:`ToolError` with the
sentence to say: the call answers that sentence and sends an ``error`` with code
``tool_failed`` (without ``turn_id``: the turn goes on); it never raises into the session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from pydantic_ai import RunContext

from luminad import protocol
from luminad.errors import LuminaError, ToolFailed

if TYPE_CHECKING:
    from luminad.app import Lumina
    from luminad.providers.base import SearchResult, WebSearch
    from luminad.timers import TimerClock

log = logging.getLogger(__name__)

Notify = Callable[[protocol.ServerMessage], Awaitable[None]]

#: Longest result text sent in a ``tool_call`` message (the model gets all of it).
MESSAGE_RESULT_CHARS = 300


class SessionControls(Protocol):
    """What tools may change in the voice session that runs them."""

    async def switch_avatar(self, avatar: protocol.Avatar) -> None:
        """From the next turn on, the session speaks as ``avatar``."""
        ...

    async def set_internet(self, on: bool) -> None:
        """Internet mode on or off; raises ``InternetDisabled`` when the daemon forbids it."""
        ...


@dataclass
class ToolContext:
    """What a tool works on: the app, the turn it runs in, and how to reach the client."""

    app: Lumina
    conversation_id: UUID
    turn_id: UUID
    avatar_id: UUID
    #: Sends a protocol message to the session's client.
    notify: Notify
    internet: bool = False
    timers: TimerClock | None = None
    search: WebSearch | None = None
    session: SessionControls | None = None
    #: Awaited before a tool acts: the turn is confirmed and its utterance stored.
    committed: Callable[[], Awaitable[None]] | None = None
    #: Web pages the tools of this turn read (the reply lists them as sources).
    web: list[SearchResult] = field(default_factory=list)
    #: What each tool of this turn answered, in order.
    calls: list[protocol.ToolCall] = field(default_factory=list)


class ToolError(Exception):
    """A tool could not do what was asked; the message is the sentence to say."""

    def __init__(self, sentence: str, *, action: str | None = None) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.action = action


async def perform(
    ctx: RunContext[ToolContext],
    arguments: dict[str, Any],
    action: Callable[[ToolContext], Awaitable[str]],
) -> str:
    """Run one tool call: wait for the commit, act, record, tell the client."""
    tools = ctx.deps
    name = ctx.tool_name or "tool"
    if tools.committed is not None:
        await tools.committed()
    failure: ToolError | None = None
    try:
        result = await action(tools)
    except ToolError as exc:
        failure = exc
    except LuminaError as exc:
        failure = ToolError(f"Sorry, I could not do that: {exc.message}.", action=exc.action)
    except Exception as exc:  # a tool never crashes the session
        log.error("tool %s failed: %s", name, type(exc).__name__)
        failure = ToolError("Sorry, something went wrong and I could not do that.")
    if failure is not None:
        result = failure.sentence
    await _record(tools, name, arguments, result, failure)
    return result


async def _record(
    tools: ToolContext,
    name: str,
    arguments: dict[str, Any],
    result: str,
    failure: ToolError | None,
) -> None:
    ok = failure is None
    try:
        await asyncio.to_thread(
            tools.app.call_tool,
            tools.conversation_id,
            tools.turn_id,
            name,
            arguments,
            result,
            ok=ok,
        )
    except LuminaError as exc:  # the call happened; only its record is missing
        log.warning("tool %s: call not recorded: %s", name, exc.code)
    message = protocol.ToolCall(
        turn_id=str(tools.turn_id),
        name=name,
        arguments=arguments,
        result=result[:MESSAGE_RESULT_CHARS],
        ok=ok,
    )
    tools.calls.append(message)
    await tools.notify(message)
    if failure is not None:
        error = ToolFailed(failure.sentence, action=failure.action)
        # no turn_id: an error with one ends the turn, and this turn goes on (it says why)
        await tools.notify(
            protocol.Error(code=error.code, message=error.message, action=error.action)
        )
