"""Memory: something the assistant remembers about the user, with where it came from."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from luminad.domain.content import Encrypted
from luminad.domain.errors import AlreadyGone, require_text

MAX_MEMORY = 2_000


class Memory(Aggregate):
    """One remembered fact, scoped to an avatar (or shared when ``avatar_id`` is None)."""

    #: Its text is sealed under its own data key: deleting the memory shreds it in the log.
    own_data_key: ClassVar[bool] = True

    class MemoryRemembered(Aggregate.Created):
        text: Encrypted[str]
        avatar_id: UUID | None
        conversation_id: UUID | None
        turn_id: UUID | None

    class MemoryForgotten(Aggregate.Event):
        pass

    @event(MemoryRemembered)
    def __init__(
        self, text: str, avatar_id: UUID | None, conversation_id: UUID | None, turn_id: UUID | None
    ) -> None:
        self.avatar_id = avatar_id
        self.conversation_id = conversation_id
        self.turn_id = turn_id
        self.forgotten = False

    @classmethod
    def remember(
        cls,
        text: str,
        avatar_id: UUID | None = None,
        conversation_id: UUID | None = None,
        turn_id: UUID | None = None,
    ) -> Memory:
        """A new memory; the text must not be empty."""
        return cls(
            require_text(text, "memory", limit=MAX_MEMORY), avatar_id, conversation_id, turn_id
        )

    def forget(self) -> None:
        """Delete the memory (its text stays encrypted in the log)."""
        if self.forgotten:
            raise AlreadyGone(f"memory {self.id} is already forgotten")
        self._forgotten()

    @event(MemoryForgotten)
    def _forgotten(self) -> None:
        self.forgotten = True
