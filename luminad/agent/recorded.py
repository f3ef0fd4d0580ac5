"""A recorded turn read back from the event log, and its context as it stood then.

:func:`find_turn` collects a turn's events (its words, the reply as stored, its timings, its
tool calls and the reply's own record); :func:`folded` folds the log into scratch read models up
to a position; :func:`rebuild` rebuilds the turn's reply context from that fold and the record,
saying where it differs from what the record says (a memory deleted since is left out). The
replay (:mod:`luminad.agent.replay`) runs the agent on what these return.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import msgspec

from luminad import protocol
from luminad.agent.agent import ReplyContext
from luminad.domain import Conversation
from luminad.errors import TurnNotFound
from luminad.keystore import SHREDDED
from luminad.projections import avatars, conversations, memories, profile
from luminad.projections.runner import ReadModels

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
        avatar = app.queries.get_avatar(wanted)
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
