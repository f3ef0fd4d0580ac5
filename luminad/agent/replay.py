"""Replay: re-run a recorded turn as it was made, from the event log alone.

A replay finds the turn in the log, folds the log into scratch read models up to the position
just before the turn's utterance (the same projections the daemon runs, so the context is
rebuilt by the same queries, as the read models stood then, not as they stand now), rebuilds
the reply's context from that fold and the reply's own record (``protocol.ReplyRecord``,
written with the reply: memories recalled, history window, avatar version, model and settings,
tools offered, web results; its tool calls and stage timings are the turn's own events), and
runs it again through the agent, text only. Nothing is written and nothing is sent: a tool call
(or a local intent) is answered with what the same tool answered in the recorded turn.

What the user deleted stays deleted: a memory recalled then and deleted since is reported as
gone and left out of the context; a turn of a forgotten user is not found.

:mod:`luminad.agent.recorded` reads the turn and rebuilds its context; :class:`Replayer` runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic_ai import RunContext
from pydantic_ai.toolsets import ToolsetTool, WrapperToolset

from luminad import protocol
from luminad.agent.agent import ReplyContext, Responder
from luminad.agent.intents import default_router
from luminad.agent.prompts import PromptTemplate
from luminad.agent.recorded import Rebuilt, RecordedTurn, find_turn, folded, rebuild, recorded_run
from luminad.agent.tool_calls import ToolContext
from luminad.agent.tools import TOOLSET
from luminad.errors import AvatarNotFound
from luminad.projections import conversations, memories
from luminad.projections.runner import ReadModels
from luminad.providers.base import ChatModel, SearchResult, close_engine
from luminad.settings import Settings
from luminad.voice.respond import recalled
from luminad.voice.tuning import MEMORY_LIMIT

if TYPE_CHECKING:
    from luminad.app import Lumina


class Stopwatch:
    """First-token and total time of one streamed reply."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: float | None = None

    def tick(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def ms(self, at: float | None) -> float | None:
        return None if at is None else round((at - self.started) * 1000, 1)


@dataclass
class RecordedSearch:
    """A :class:`~luminad.providers.base.WebSearch` answering the web results a reply used
    (a replay never goes online)."""

    results: list[SearchResult]
    name: str = "recorded"

    async def search(self, query: str, *, limit: int = 5) -> list[SearchResult]:
        return self.results[:limit]

    async def health(self) -> protocol.EngineHealth:
        return protocol.EngineHealth(
            ok=True, configured=True, reachable=True, model="recorded", detail="replay"
        )


#: What a tool call answers in a replay when the recorded turn made no such call.
NOT_RUN = "(This tool does not run during a replay.)"


@dataclass
class RecordedTools(WrapperToolset[ToolContext]):
    """The agent's tools as offered in the recorded turn, answered from its record: a call
    gets what the same tool answered then (in order), and no tool runs (a replay writes
    nothing, sends nothing, searches nothing)."""

    recorded: list[protocol.ToolCallRecord] = field(default_factory=list)
    answered: list[protocol.ToolCallRecord] = field(default_factory=list)

    async def call_tool(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[ToolContext],
        tool: ToolsetTool[ToolContext],
    ) -> Any:
        return self.answer(name, tool_args)

    def answer(self, name: str, arguments: Mapping[str, Any]) -> str:
        """What the recorded turn's next call of ``name`` answered (``NOT_RUN`` if none)."""
        used = sum(1 for call in self.answered if call.name == name)
        same = [call for call in self.recorded if call.name == name]
        result = same[used].result if used < len(same) else NOT_RUN
        self.answered.append(
            protocol.ToolCallRecord(name=name, arguments=dict(arguments), result=result)
        )
        return result


@dataclass
class Replayer:
    """Re-runs recorded turns (see the module docstring); owns the models it loads."""

    app: Lumina
    settings: Settings
    #: The daemon's chat model (used when no override names another).
    llm: ChatModel
    #: Loads another chat model for ``llm``/``model`` overrides (blocking).
    load: Callable[[Settings], ChatModel]
    history_limit: int = conversations.HISTORY_MESSAGES

    async def replay(self, turn_id: UUID, request: protocol.ReplayRequest) -> protocol.TurnReplay:
        turn = await asyncio.to_thread(find_turn, self.app, turn_id)
        avatar_id = _avatar_override(request.avatar_id)
        rebuilt = await asyncio.to_thread(self._rebuild, turn, avatar_id)
        llm, owned = await self._model(request)
        try:
            run = await self._run(turn, rebuilt, llm, request)
        finally:
            if owned:
                close_engine(llm)
        return protocol.TurnReplay(
            turn_id=str(turn.turn_id),
            conversation_id=str(turn.conversation_id),
            user_text=turn.user_text,
            recorded=recorded_run(turn),
            replayed=run,
            record=turn.record,
            context=rebuilt.described,
            differences=rebuilt.differences + _setting_changes(turn.record, run),
        )

    def _rebuild(self, turn: RecordedTurn, avatar_id: UUID | None) -> Rebuilt:
        with folded(self.app, turn.position - 1) as fold:
            return rebuild(
                self.app,
                turn,
                fold,
                avatar_id=avatar_id,
                recall=self._recall,
                history_limit=self.history_limit,
            )

    def _recall(self, fold: ReadModels, text: str, avatar_id: UUID) -> list[protocol.Memory]:
        """The memories the live turn's search finds, run on the fold (replies recorded
        before records existed)."""
        vector = self.app.embedder.embed([text])[0].astype("float32").tobytes()
        return recalled(memories.search(fold.conn, vector, str(avatar_id), MEMORY_LIMIT))

    async def _model(self, request: protocol.ReplayRequest) -> tuple[ChatModel, bool]:
        if request.llm is None and request.model is None:
            return self.llm, False
        provider = (request.llm or self.llm.name).strip().lower()
        changes: dict[str, Any] = {"llm": provider}
        if request.model is not None:
            key = "embedded_model" if provider == "embedded" else "llm_model"
            changes[key] = request.model
        llm = await asyncio.to_thread(self.load, self.settings.replace(**changes))
        return llm, True

    async def _run(
        self,
        turn: RecordedTurn,
        rebuilt: Rebuilt,
        llm: ChatModel,
        request: protocol.ReplayRequest,
    ) -> protocol.ReplayRun:
        record = turn.record
        web = [
            SearchResult(title=w.title, url=w.url, snippet=w.snippet)
            for w in (record.web_results if record else [])
        ]
        max_tokens = request.max_reply_tokens or (record.max_tokens if record else None)
        max_tokens = max_tokens or self.settings.max_reply_tokens
        temperature = request.temperature
        if temperature is None and record is not None:
            temperature = record.temperature
        tools = RecordedTools(TOOLSET, turn.tool_calls)
        # local intents are matched here, not by the Responder: its router would run the tool
        responder = Responder(
            llm,
            RecordedSearch(web),
            max_tokens=max_tokens,
            temperature=temperature,
            toolset=tools,
            intents=None,
        )
        ctx = dataclasses.replace(rebuilt.reply, internet=bool(web))
        if llm.tool_calling and (record is None or record.tools_offered):
            # tools are offered as they were; a call is answered from the record (nothing
            # runs). Only a model that calls tools gets them: without, the Responder would
            # pull facts out of the turn into memories.
            ctx = dataclasses.replace(ctx, tools=self._tool_context(turn, ctx, web))
        watch = Stopwatch()
        text = ""
        intent = await asyncio.to_thread(default_router().match, turn.user_text, self._avatars)
        if intent is not None:  # the live turn said the intent's tool answer, no model ran
            text = tools.answer(intent.tool_name, intent.arguments)
            watch.tick()
        else:
            stream: Any = responder.stream_reply(ctx)
            async with contextlib.aclosing(stream) as deltas:
                async for delta in deltas:
                    watch.tick()
                    text += delta
        done = time.perf_counter()
        return protocol.ReplayRun(
            provider=responder.provider,
            max_reply_tokens=max_tokens,
            temperature=temperature,
            text=text.strip(),
            tool_calls=tools.answered,
            first_token_ms=watch.ms(watch.first),
            total_ms=watch.ms(done),
        )

    def _avatars(self) -> list[str]:
        return [a.name for a in self.app.queries.list_avatars()]

    def _tool_context(
        self, turn: RecordedTurn, ctx: ReplyContext, web: list[SearchResult]
    ) -> ToolContext:
        async def nobody(message: protocol.ServerMessage) -> None:
            """A replay has no client to notify."""

        return ToolContext(
            app=self.app,
            conversation_id=turn.conversation_id,
            turn_id=turn.turn_id,
            avatar_id=UUID(ctx.avatar.id),
            notify=nobody,
            internet=ctx.internet,
            search=RecordedSearch(web),
        )


def _setting_changes(record: protocol.ReplyRecord | None, run: protocol.ReplayRun) -> list[str]:
    """How the replay's model, settings and prompt differ from the recorded ones."""
    if record is None:
        return ["no record: the reply was made before replies recorded what made them"]
    out = []
    if record.model != run.provider:
        out.append(f"model: recorded {record.model}, replayed {run.provider}")
    if record.max_tokens != run.max_reply_tokens:
        out.append(f"max tokens: recorded {record.max_tokens}, replayed {run.max_reply_tokens}")
    if record.temperature != run.temperature:
        out.append(f"temperature: recorded {record.temperature}, replayed {run.temperature}")
    if record.prompt_version != PromptTemplate().version:
        out.append(
            f"prompt template: recorded version {record.prompt_version}, "
            f"now {PromptTemplate().version}"
        )
    return out


def _avatar_override(raw: str | None) -> UUID | None:
    if raw is None:
        return None
    try:
        return UUID(raw)
    except ValueError:
        raise AvatarNotFound(f"no avatar {raw[:64]!r}") from None
