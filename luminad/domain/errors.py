"""Errors the aggregates raise when a command breaks an invariant (mapped to luminad.errors)."""

from __future__ import annotations

from luminad.errors import BadMessage, Conflict


class EmptyText(BadMessage):
    """A command carried no text where text is required."""


class TextTooLong(BadMessage):
    """A command carried more text than the aggregate accepts."""


class TurnConflict(Conflict):
    """A turn command that does not fit the turn's state (unknown, duplicate or finished)."""


class BuiltinAvatarProtected(Conflict):
    """The built-in avatar cannot be deleted."""


class AlreadyGone(Conflict):
    """A command on something already deleted or forgotten."""


class BadTimerLength(BadMessage):
    """A timer shorter than a second or longer than a day."""


def require_text(value: str, what: str, *, limit: int) -> str:
    """``value`` stripped; raises :class:`EmptyText` or :class:`TextTooLong`."""
    text = value.strip()
    if not text:
        raise EmptyText(f"{what} must not be empty")
    if len(text) > limit:
        raise TextTooLong(f"{what} is longer than {limit} characters")
    return text
