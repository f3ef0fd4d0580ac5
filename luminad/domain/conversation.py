"""Conversation: the user's utterances and the assistant's replies, turn by turn."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from luminad.domain.content import Encrypted
from luminad.domain.errors import AlreadyGone, TurnConflict, require_text

OPEN, REPLIED, INTERRUPTED = "open", "replied", "interrupted"
#: How a timed turn ended (its reply complete, cut short, or failed).
OUTCOMES = ("completed", "interrupted", "failed")
MAX_UTTERANCE = 10_000
MAX_REPLY = 50_000
MAX_TOOL_RESULT = 2_000


class Conversation(Aggregate):
    """A conversation with one avatar; each turn is an utterance and at most one reply."""

    #: Its content is sealed under its own data key: deleting it shreds it in the log.
    own_data_key: ClassVar[bool] = True

    class ConversationStarted(Aggregate.Created):
        avatar_id: UUID | None

    class UtteranceTranscribed(Aggregate.Event):
        turn_id: UUID
        text: Encrypted[str]
        #: "voice" or "text".
        source: str

    class ReplyCompleted(Aggregate.Event):
        turn_id: UUID
        text: Encrypted[str]
        sources: Encrypted[list[dict[str, Any]]]
        provider: str

    class ReplyInterrupted(Aggregate.Event):
        turn_id: UUID
        heard_text: Encrypted[str]
        reason: str

    class ReplyRecorded(Aggregate.Event):
        """What made the reply: model and settings, memories, history, tools (replay)."""

        turn_id: UUID
        record: Encrypted[dict[str, Any]]

    class ToolCalled(Aggregate.Event):
        """A tool ran in the turn (a local intent or the model called it) and answered."""

        turn_id: UUID
        #: The tool's name (from the daemon's fixed tool set).
        name: str
        arguments: Encrypted[dict[str, Any]]
        result: Encrypted[str]
        ok: bool

    class ConversationDeleted(Aggregate.Event):
        pass

    class TurnTimed(Aggregate.Event):
        turn_id: UUID
        timings_ms: dict[str, float]
        #: completed, interrupted or failed (events before it existed: completed).
        outcome: str = "completed"

    @event(ConversationStarted)
    def __init__(self, avatar_id: UUID | None) -> None:
        self.avatar_id = avatar_id
        self.turns: dict[UUID, str] = {}
        self.deleted = False

    # ------------------------------------------------------------------ commands
    def transcribe(self, turn_id: UUID, text: str, source: str) -> None:
        """The user said (or typed) ``text`` as a new turn."""
        self.check_not_deleted()
        if turn_id in self.turns:
            raise TurnConflict(f"turn {turn_id} already exists")
        self._utterance_transcribed(
            turn_id, require_text(text, "utterance", limit=MAX_UTTERANCE), source
        )

    def complete_reply(
        self,
        turn_id: UUID,
        text: str,
        sources: Sequence[Mapping[str, str]],
        provider: str,
        record: Mapping[str, Any] | None = None,
    ) -> None:
        """The assistant finished its reply to the turn (``record``: what made it)."""
        self.check_turn_open(turn_id)
        if len(text) > MAX_REPLY:
            raise TurnConflict(f"reply is longer than {MAX_REPLY} characters")
        self._reply_completed(turn_id, text, [dict(s) for s in sources], provider)
        if record is not None:
            self._reply_recorded(turn_id, dict(record))

    def interrupt_reply(
        self, turn_id: UUID, heard_text: str, reason: str, record: Mapping[str, Any] | None = None
    ) -> None:
        """The reply stopped early; the user heard only ``heard_text``."""
        self.check_turn_open(turn_id)
        self._reply_interrupted(turn_id, heard_text[:MAX_REPLY], reason)
        if record is not None:
            self._reply_recorded(turn_id, dict(record))

    def time_turn(
        self, turn_id: UUID, timings_ms: Mapping[str, float], outcome: str = "completed"
    ) -> None:
        """Latency of the turn's stages, in milliseconds, and how the turn ended."""
        self.check_turn_exists(turn_id)
        if outcome not in OUTCOMES:
            raise TurnConflict(f"outcome must be one of {', '.join(OUTCOMES)}")
        clean: dict[str, float] = {}
        for key, value in timings_ms.items():
            ms = float(value)
            if not math.isfinite(ms) or ms < 0:
                raise TurnConflict(f"timing {key} must be a finite, non-negative number")
            clean[str(key)] = ms
        self._turn_timed(turn_id, clean, outcome)

    def call_tool(
        self, turn_id: UUID, name: str, arguments: Mapping[str, Any], result: str, ok: bool
    ) -> None:
        """A tool ran in the turn (a local intent or the model called it) and answered."""
        self.check_turn_exists(turn_id)
        self._tool_called(turn_id, name, dict(arguments), result[:MAX_TOOL_RESULT], ok)

    # ------------------------------------------------------------------ invariants
    def delete(self) -> None:
        """The user deleted the conversation (its data key is destroyed with it)."""
        self.check_not_deleted()
        self._deleted()

    def check_not_deleted(self) -> None:
        if self.deleted:
            raise AlreadyGone(f"conversation {self.id} is deleted")

    def check_turn_exists(self, turn_id: UUID) -> None:
        if turn_id not in self.turns:
            raise TurnConflict(f"turn {turn_id} is not part of this conversation")

    def check_turn_open(self, turn_id: UUID) -> None:
        self.check_turn_exists(turn_id)
        if self.turns[turn_id] != OPEN:
            raise TurnConflict(f"turn {turn_id} already has a reply ({self.turns[turn_id]})")

    # ------------------------------------------------------------------ events
    @event(UtteranceTranscribed)
    def _utterance_transcribed(self, turn_id: UUID, text: str, source: str) -> None:
        self.turns[turn_id] = OPEN

    @event(ReplyCompleted)
    def _reply_completed(
        self, turn_id: UUID, text: str, sources: list[dict[str, Any]], provider: str
    ) -> None:
        self.turns[turn_id] = REPLIED

    @event(ReplyInterrupted)
    def _reply_interrupted(self, turn_id: UUID, heard_text: str, reason: str) -> None:
        self.turns[turn_id] = INTERRUPTED

    @event(ReplyRecorded)
    def _reply_recorded(self, turn_id: UUID, record: dict[str, Any]) -> None:
        """What made the reply: model and settings, memories, history, tools (replay)."""

    @event(ToolCalled)
    def _tool_called(
        self, turn_id: UUID, name: str, arguments: dict[str, Any], result: str, ok: bool
    ) -> None:
        pass

    @event(ConversationDeleted)
    def _deleted(self) -> None:
        self.deleted = True

    @event(TurnTimed)
    def _turn_timed(
        self, turn_id: UUID, timings_ms: dict[str, float], outcome: str = "completed"
    ) -> None:
        pass
