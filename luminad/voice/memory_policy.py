"""The simple memory policy of a voice turn, as pure functions.

:func:`decide` reads what the user said and answers what to store: a memory ("remember that
I like tea" -> "I like tea"), a preferred name ("my name is Ada", "call me Ada"), or nothing.
A do-not-store filter refuses obvious secrets (passwords, PINs, card and account numbers,
API keys, social security numbers): :func:`is_secret`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REMEMBER = re.compile(
    r"\b(?:please\s+)?(?:remember|don'?t\s+forget|note|keep\s+in\s+mind)\s+(?:that\s+)?(?P<what>.+)",
    re.IGNORECASE,
)
_NAME = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name's|call\s+me|i\s+go\s+by)\s+(?P<name>[A-Za-z][A-Za-z'\-]*(?:\s+(?-i:[A-Z][A-Za-z'\-]*))?)",
    re.IGNORECASE,
)
_NOT_NAMES = frozenset({"not", "a", "an", "the", "just", "never", "maybe", "please"})

_SECRET_WORDS = re.compile(
    r"\b(?:pass\s*words?|passcodes?|pass\s*phrases?|pins?|pin\s+codes?|cvv|cvc|security\s+codes?|"
    r"api\s*keys?|secret\s*keys?|private\s+keys?|access\s+tokens?|tokens?|secrets?|"
    r"social\s+security|ssn|credit\s+cards?|debit\s+cards?|card\s+numbers?|bank\s+account|"
    r"account\s+numbers?|routing\s+numbers?|iban|seed\s+phrases?|recovery\s+phrases?|login)\b",
    re.IGNORECASE,
)
_CARD_NUMBER = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_KEY_LIKE = re.compile(
    r"\b(?:sk|pk|ghp|xox[abp]|AKIA)[-_A-Za-z0-9]{12,}\b|\b[A-Za-z0-9+/_-]{32,}\b"
)


@dataclass(frozen=True, slots=True)
class MemoryDecision:
    """What to store for one utterance; ``refused`` when a secret was kept out."""

    memory: str | None = None
    preferred_name: str | None = None
    refused: bool = False


def is_secret(text: str) -> bool:
    """True for text that looks like a secret and must never be stored."""
    if _SECRET_WORDS.search(text) or _SSN.search(text) or _KEY_LIKE.search(text):
        return True
    for m in _CARD_NUMBER.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            return True
    return False


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


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
