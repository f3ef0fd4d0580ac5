"""Which event fields hold the user's own content, declared by the event classes themselves.

An event field annotated ``Encrypted[...]`` is sealed with the user's data key before it is
stored (:mod:`luminad.mapper`); every other field stays readable in the log (ids, kinds, sizes).
The annotation lives on the field, so renaming an event or a field cannot switch encryption off.
``tests/privacy/test_encrypted_fields.py`` walks :func:`event_classes` and fails on any string
field that is neither encrypted nor on its short, reviewed allowlist.
"""

from __future__ import annotations

import importlib
import pkgutil
import typing
from functools import cache
from typing import Annotated, Any, TypeVar

from eventsourcing.domain import Aggregate, DomainEvent

T = TypeVar("T")


class _UserContent:
    """The marker ``Encrypted`` puts on a field."""

    def __repr__(self) -> str:
        return "USER_CONTENT"


USER_CONTENT = _UserContent()

#: A field of an event that holds the user's own content (sealed with the user's data key).
Encrypted = Annotated[T, USER_CONTENT]


@cache
def encrypted_fields(event_class: type) -> tuple[str, ...]:
    """The names of ``event_class``'s fields annotated ``Encrypted[...]``."""
    hints = typing.get_type_hints(event_class, include_extras=True)
    return tuple(
        sorted(
            name
            for name, hint in hints.items()
            if typing.get_origin(hint) is Annotated and USER_CONTENT in hint.__metadata__
        )
    )


def field_hints(event_class: type) -> dict[str, Any]:
    """The event's own fields (not eventsourcing's ids and timestamp) and their types."""
    base = set(typing.get_type_hints(Aggregate.Created))  # ids, version, timestamp, topic
    hints = typing.get_type_hints(event_class, include_extras=True)
    return {name: hint for name, hint in hints.items() if name not in base}


def has_own_key(event_class: type) -> bool:
    """Whether the event belongs to an aggregate whose content has its own data key
    (``own_data_key = True``: deleting one of them shreds its content in the log)."""
    return event_class in _own_key_events()


@cache
def _own_key_events() -> frozenset[type]:
    return frozenset(
        value
        for aggregate in aggregate_classes()
        if getattr(aggregate, "own_data_key", False)
        for value in vars(aggregate).values()
        if isinstance(value, type) and issubclass(value, DomainEvent)
    )


def aggregate_classes() -> list[type[Aggregate]]:
    """Every aggregate defined in a module of :mod:`luminad.domain` (all modules imported)."""
    package = importlib.import_module("luminad.domain")
    for info in pkgutil.iter_modules(package.__path__, "luminad.domain."):
        importlib.import_module(info.name)
    found: list[type[Aggregate]] = []
    todo = list(Aggregate.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("luminad.domain.") and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda c: c.__qualname__)


def event_classes() -> list[type[DomainEvent]]:
    """Every event class of every domain aggregate."""
    return [
        value
        for aggregate in aggregate_classes()
        for value in vars(aggregate).values()
        if isinstance(value, type) and issubclass(value, DomainEvent)
    ]
