"""The simple memory policy of a voice turn, as pure functions.

:func:`decide` reads what the user said and answers what to store: a memory ("remember that
I like tea" -> "I like tea"), a preferred name ("my name is Ada", "call me Ada"), or nothing.
A request that holds a secret is refused (:func:`luminad.redact.is_secret`, the do-not-store
filter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from luminad.redact import is_secret

_REMEMBER = re.compile(
    r"\b(?:please\s+)?(?:remember|don'?t\s+forget|note|keep\s+in\s+mind)\s+(?:that\s+)?(?P<what>.+)",
    re.IGNORECASE,
)
_NAME = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name's|call\s+me|i\s+go\s+by)\s+(?P<name>[A-Za-z][A-Za-z'\-]*(?:\s+(?-i:[A-Z][A-Za-z'\-]*))?)",
    re.IGNORECASE,
)
_NOT_NAMES = frozenset({"not", "a", "an", "the", "just", "never", "maybe", "please"})


@dataclass(frozen=True, slots=True)
class MemoryDecision:
    """What to store for one utterance; ``refused`` when a secret was kept out."""

    memory: str | None = None
    preferred_name: str | None = None
    refused: bool = False


def _clean(text: str) -> str:
    return text.strip().strip(" .!?,;:\"'").strip()


def _first_person_to_second(text: str) -> str:
    """Keep the user's own words; only capitalise the first letter."""
    return text[:1].upper() + text[1:]


def decide(utterance: str) -> MemoryDecision:
    """The memory policy for one user utterance (see the module docstring)."""
    text = utterance.strip()
    name: str | None = None
    memory: str | None = None
    m = _NAME.search(text)
    if m:
        candidate = _clean(m.group("name"))
        first = candidate.split()[0].lower() if candidate else ""
        if candidate and first not in _NOT_NAMES:
            name = " ".join(w[:1].upper() + w[1:] for w in candidate.split())
    r = _REMEMBER.search(text)
    if r:
        what = _clean(r.group("what"))
        if len(what.split()) >= 2:
            memory = _first_person_to_second(what)
    if memory is None and name is None:
        return MemoryDecision()
    if is_secret(text):
        return MemoryDecision(refused=True)
    return MemoryDecision(memory=memory, preferred_name=name)
