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
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import msgspec
from pydantic_ai import RunContext
from pydantic_ai.toolsets import ToolsetTool, WrapperToolset

from luminad import protocol
from luminad.agent.agent import ReplyContext, Responder
from luminad.agent.intents import default_router
from luminad.agent.prompts import PromptTemplate
from luminad.agent.tools import TOOLSET, ToolContext
from luminad.domain import Conversation
from luminad.errors import AvatarNotFound, TurnNotFound
from luminad.keystore import SHREDDED
from luminad.projections import avatars, conversations, memories, profile
from luminad.projections.runner import ReadModels
from luminad.providers.base import ChatModel, SearchResult, close_engine
from luminad.settings import Settings
from luminad.voice.respond import recalled
from luminad.voice.tuning import MEMORY_LIMIT

if TYPE_CHECKING:
    from luminad.app import Lumina


@dataclass(frozen=True)
class RecordedTurn:
    """One turn as the log holds it."""

    conversation_id: UUID
    turn_id: UUID
    avatar_id: UUID | None
    #: Log position of the turn's utterance; the context is folded up to just before it.
    position: int
    user_text: str
    #: The reply as stored: the completed text, or what was heard of an interrupted one.
    reply: str
    interrupted: bool
    provider: str
    record: protocol.ReplyRecord | None
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    #: The tools the turn ran, in order, with what each answered.
    tool_calls: list[protocol.ToolCallRecord] = field(default_factory=list)


def find_turn(app: Lumina, turn_id: UUID) -> RecordedTurn:
    """The turn from the log; :class:`TurnNotFound` when unknown or forgotten."""
    with app.lock:
        found = conversations.find_turn(app.read.conn, str(turn_id))
    if found is None:
        raise TurnNotFound(f"no turn {turn_id}")
    conversation_id, position = found
    user_text = reply = provider = ""
    avatar_id: UUID | None = None
    interrupted = False
    record: protocol.ReplyRecord | None = None
    timings: dict[str, float] = {}
    calls: list[protocol.ToolCallRecord] = []
    mapper = app.private_mapper
    for stored in app.recorder.select_events(UUID(conversation_id)):
        event = mapper.to_domain_event(stored)
        if isinstance(event, Conversation.ConversationStarted):
            avatar_id = event.avatar_id
        if getattr(event, "turn_id", None) != turn_id:
            continue
        if isinstance(event, Conversation.UtteranceTranscribed):
            user_text = event.text
        elif isinstance(event, Conversation.ReplyCompleted):
            reply, provider = event.text, event.provider
        elif isinstance(event, Conversation.ReplyInterrupted):
            reply, interrupted = event.heard_text, True
        elif isinstance(event, Conversation.TurnTimed):
            timings = dict(event.timings_ms)
        elif isinstance(event, Conversation.ReplyRecorded):
            record = msgspec.convert(event.record, protocol.ReplyRecord)
        elif isinstance(event, Conversation.ToolCalled):
            calls.append(
                protocol.ToolCallRecord(
                    name=event.name, arguments=dict(event.arguments), result=event.result
                )
            )
    if user_text == SHREDDED or not user_text:
        raise TurnNotFound(f"turn {turn_id} can no longer be read")
    return RecordedTurn(
        conversation_id=UUID(conversation_id),
        turn_id=turn_id,
        avatar_id=avatar_id,
        position=position,
        user_text=user_text,
        reply="" if reply == SHREDDED else reply,
        interrupted=interrupted,
        provider=provider,
        record=record,
        timings_ms=timings,
        tool_calls=calls,
    )


@contextmanager
def folded(app: Lumina, stop: int) -> Iterator[ReadModels]:
    """Scratch read models (in memory) holding the log up to position ``stop``."""
    fold = ReadModels(Path(":memory:"), app.embedder, app.keys.read_models_key())
    try:
        fold.catch_up(app.recorder, app.private_mapper, stop=stop)
        yield fold
    finally:
        fold.close()


@dataclass(frozen=True)
class Rebuilt:
    """A turn's context rebuilt from the fold: what the agent gets, and what it is made of."""

    reply: ReplyContext
    described: protocol.ReplayContext
    differences: list[str]


def rebuild(
    app: Lumina,
    turn: RecordedTurn,
    fold: ReadModels,
    *,
    avatar_id: UUID | None = None,
    recall: Callable[[ReadModels, str, UUID], list[protocol.Memory]],
    history_limit: int,
) -> Rebuilt:
    """The context of ``turn`` as the read models stood just before it (``fold``)."""
    differences: list[str] = []
    record = turn.record
    conn = fold.conn
    wanted = avatar_id or (UUID(record.avatar_id) if record and record.avatar_id else None)
    wanted = wanted or turn.avatar_id or app.default_avatar_id
    avatar = avatars.get(conn, str(wanted))
    if avatar is None:  # created after the turn (an override): as it stands today
        avatar = app.get_avatar(wanted)
    if avatar_id is not None and turn.avatar_id != avatar_id:
        differences.append(f"avatar {avatar_id} instead of {turn.avatar_id} (override)")
    who = profile.get(conn)
    window = conversations.history_turns(conn, str(turn.conversation_id), history_limit)
    history_ids = list(dict.fromkeys(turn_id for turn_id, _ in window))
    if record is not None and record.history != history_ids:
        differences.append(
            f"history: recorded turns {record.history}, the log before the turn has {history_ids}"
        )
    if record is not None:
        picked = [(m.id, m.score) for m in record.memories]
    else:
        picked = [(m.id, m.score) for m in recall(fold, turn.user_text, UUID(avatar.id))]
    used: list[protocol.ReplayMemory] = []
    texts: list[str] = []
    with app.lock:
        alive = {mid for mid, _ in picked if memories.exists(app.read.conn, mid)}
    for memory_id, score in picked:
        text = memories.text_of(conn, memory_id)
        if memory_id not in alive or text in (None, SHREDDED):
            used.append(protocol.ReplayMemory(id=memory_id, score=score, gone=True))
            differences.append(f"memory {memory_id} was deleted since: left out")
            continue
        assert text is not None
        used.append(protocol.ReplayMemory(id=memory_id, score=score, text=text))
        texts.append(text)
    described = protocol.ReplayContext(
        position=turn.position - 1,
        avatar_id=avatar.id,
        preferred_name=who.preferred_name,
        history=history_ids,
        memories=used,
    )
    reply = ReplyContext(
        avatar=avatar,
        preferred_name=who.preferred_name,
        preferences=dict(who.preferences),
        history=[message for _, message in window],
        user_text=turn.user_text,
        memories=texts,
    )
    return Rebuilt(reply=reply, described=described, differences=differences)


def recorded_run(turn: RecordedTurn) -> protocol.ReplayRun:
    """The reply as recorded, with its timings."""
    record = turn.record
    model = record.model if record else turn.provider
    return protocol.ReplayRun(
        provider=model,
        max_reply_tokens=record.max_tokens if record else None,
        temperature=record.temperature if record else None,
        text=turn.reply,
        interrupted=turn.interrupted,
        tool_calls=list(turn.tool_calls),
        first_token_ms=turn.timings_ms.get("llm_first_token_ms"),
        total_ms=turn.timings_ms.get("total_ms"),
        timings_ms=dict(turn.timings_ms),
    )


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
        return [a.name for a in self.app.list_avatars()]

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
