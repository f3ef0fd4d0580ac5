"""The words of a sentence that carry its meaning, to tell whether two sentences speak of the
same things (a memory and what the user asks about it, a fact and what the user said), and
whether a sentence is in the first person."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9][a-z0-9'-]*")
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|me|my|mine|myself)\b", re.IGNORECASE)
#: Words too common to tell two sentences apart ("user": facts say "The user ...").
_COMMON = frozenset(
    {
     "the", "and", "but", "for", "nor", "yet", "with", "from", "into", "onto", "about", "that",
     "this", "these", "those", "what", "which", "who", "whom", "whose", "when", "where", "why",
     "how", "was", "were", "are", "been", "being", "have", "has", "had", "does", "did", "can",
     "could", "would", "should", "will", "shall", "may", "might", "must", "not", "you", "your",
     "yours", "our", "ours", "their", "theirs", "his", "her", "hers", "its", "they", "them",
     "she", "him", "i'm", "i've", "i'd", "i'll", "user",
    }
)  # fmt: skip


def _stem(word: str) -> str:
    word = word.removesuffix("'s")
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def content_words(text: str) -> set[str]:
    """The words of ``text`` of three letters or more that are not among the most common,
    lower-cased, without a possessive or plural ``s`` ("sister's", "sisters": "sister")."""
    stems = {_stem(w) for w in _WORD.findall(text.lower()) if len(w) >= 3}
    return stems - _COMMON


def first_person(text: str) -> bool:
    """Whether ``text`` speaks in the first person ("I", "me", "my", ...)."""
    return _FIRST_PERSON.search(text) is not None
