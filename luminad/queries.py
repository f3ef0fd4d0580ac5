"""The read side: what the read models and the log answer.

:class:`Queries` reads the projections (conversations, memories, timers, avatars, the profile,
stage timings) and the event log (its events, its hash chain, the privacy audit). It writes
nothing: :class:`luminad.app.Lumina` is the only writer, and shares its lock with it, so a query
right after a command sees that command's events (read-your-writes).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from uuid import UUID

from eventsourcing.utils import get_topic

from luminad import protocol
from luminad.audit import Auditor
from luminad.domain import Egress
from luminad.errors import AvatarNotFound, ConversationNotFound, TimerNotFound
from luminad.mapper import PrivateMapper, iter_notifications
from luminad.projections import avatars, conversations, memories, profile, timers, timings
from luminad.projections.log import EVENT_TOPICS, logged_event
from luminad.projections.runner import ReadModels
from luminad.providers.base import ChatMessage, Embedder
from luminad.settings import Settings
from luminad.store import EventLog


class Queries:
    """Lumina's queries: the read models and the log, under the application's lock."""

    def __init__(
        self,
        settings: Settings,
        log: EventLog,
        mapper: PrivateMapper,
        read: ReadModels,
        embedder: Embedder,
        auditor: Auditor,
        lock: threading.RLock,
    ) -> None:
        self.settings = settings
        self.log = log
        self.mapper = mapper
        self.read = read
        self.embedder = embedder
        self.auditor = auditor
        self.lock = lock

    def get_conversation(self, conversation_id: UUID) -> protocol.Conversation:
        with self.lock:
            found = conversations.get(self.read.conn, str(conversation_id))
        if found is None:
            raise ConversationNotFound(f"no conversation {conversation_id}")
        return found

    def list_conversations(self, limit: int = 50) -> list[protocol.Conversation]:
        with self.lock:
            return conversations.list_recent(self.read.conn, limit)

    def history_messages(
        self, conversation_id: UUID, limit: int = conversations.HISTORY_MESSAGES
    ) -> list[ChatMessage]:
        return [message for _, message in self.history_turns(conversation_id, limit)]

    def turn_ids(self) -> list[str]:
        """Every turn with an utterance (for id prefixes)."""
        with self.lock:
            return conversations.user_turn_ids(self.read.conn)

    def history_turns(
        self, conversation_id: UUID, limit: int = conversations.HISTORY_MESSAGES
    ) -> list[tuple[str, ChatMessage]]:
        """The last ``limit`` messages of the conversation, each with its turn id."""
        with self.lock:
            if not conversations.exists(self.read.conn, str(conversation_id)):
                raise ConversationNotFound(f"no conversation {conversation_id}")
            return conversations.history_turns(self.read.conn, str(conversation_id), limit)

    def list_memories(self, avatar_id: UUID | None = None) -> list[protocol.Memory]:
        with self.lock:
            return memories.list_for(self.read.conn, _str(avatar_id))

    def search_memories(
        self,
        query: str,
        *,
        avatar_id: UUID | None = None,
        limit: int = 10,
        min_score: float | None = None,
    ) -> list[protocol.Memory]:
        """The memories nearest ``query``, those scoring at least ``min_score`` only."""
        if not query.strip() or limit < 1:
            return []
        vector = self.embedder.embed([query])[0].astype("float32").tobytes()
        with self.lock:
            found = memories.search(self.read.conn, vector, _str(avatar_id), limit)
        if min_score is None:
            return found
        return [m for m in found if m.score is not None and m.score >= min_score]

    def get_timer(self, timer_id: UUID) -> protocol.Timer:
        with self.lock:
            found = timers.get(self.read.conn, str(timer_id))
        if found is None:
            raise TimerNotFound(f"no timer {timer_id}")
        return found

    def list_timers(self, *, running: bool = False) -> list[protocol.Timer]:
        """Every timer, newest first; ``running``: only those still set, soonest first."""
        with self.lock:
            return timers.list_all(self.read.conn, running=running)

    def get_avatar(self, avatar_id: UUID) -> protocol.Avatar:
        with self.lock:
            found = avatars.get(self.read.conn, str(avatar_id))
        if found is None:
            raise AvatarNotFound(f"no avatar {avatar_id}")
        return found

    def list_avatars(self) -> list[protocol.Avatar]:
        with self.lock:
            return avatars.list_all(self.read.conn)

    def get_profile(self) -> protocol.Profile:
        with self.lock:
            return profile.get(self.read.conn)

    def events(
        self, *, after: int = 0, limit: int = 100, types: Sequence[str] = ()
    ) -> list[protocol.LoggedEvent]:
        """The log in order, content decrypted while the key exists, ``[shredded]`` after."""
        topics = [EVENT_TOPICS[t] for t in types if t in EVENT_TOPICS]
        if types and not topics:
            return []
        with self.lock:
            notes = self.log.recorder.select_notifications(
                after, limit, topics=topics, inclusive_of_start=False
            )
            return [logged_event(self.mapper, n) for n in notes]

    def egress(self, limit: int = 100) -> list[protocol.EgressEntry]:
        """Every request that left the machine, newest first (read from the log)."""
        topic = get_topic(Egress.EgressRequested)
        with self.lock:
            notes = list(iter_notifications(self.log.recorder, topics=[topic]))
            entries = []
            for note in reversed(notes[-limit:]):
                state, _ = self.mapper.decode_state(note)
                entries.append(
                    protocol.EgressEntry(
                        id=str(note.originator_id),
                        at=state["timestamp"].isoformat(),
                        kind=str(state["kind"]),
                        host=str(state["host"]),
                        query=str(state["query"]),
                    )
                )
            return entries

    def verify_events(self) -> protocol.ChainVerification:
        """Recompute the log's hash chain (see :mod:`luminad.store`)."""
        return self.log.verify()

    def audit(self, canaries: Sequence[str] = ()) -> protocol.Audit:
        with self.lock:
            return self.auditor.run(canaries)

    def latency(self, window: int = 200) -> protocol.LatencyMetrics:
        with self.lock:
            return timings.latency(self.read.conn, window)

    def store_health(self) -> protocol.EngineHealth:
        backend = "postgresql" if self.settings.uses_postgres else "sqlite"
        try:
            with self.lock:
                last = self.log.recorder.max_notification_id() or 0
                position, bad = self.read.position(), self.read.bad_events()
        except Exception as e:
            return protocol.EngineHealth(
                ok=False,
                configured=True,
                reachable=False,
                model=backend,
                detail=type(e).__name__,
                action="Check the event store setting (LUMINA_STORE).",
            )
        return protocol.EngineHealth(
            ok=True,
            configured=True,
            reachable=True,
            model=backend,
            detail=f"{last} events; read models at {position}; {bad} undecodable events",
        )


def _str(value: UUID | None) -> str | None:
    return None if value is None else str(value)
